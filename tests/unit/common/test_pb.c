/* The message ownership helpers and the pack/unpack codecs of the gRPC layer. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "edge/v1/resources.pb-c.h"
#include "pb.h"
#include "rpc/rpc.h"

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <stdlib.h>
#include <string.h>

static Edge__V1__Upstream *
make_upstream(void)
{
    Edge__V1__Upstream *u = edge_pb_new(&edge__v1__upstream__descriptor);
    u->name = edge_pb_strdup("backend");
    for (int i = 0; i < 3; i++) {
        Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
        t->host = edge_pb_strdup("127.0.0.1");
        t->port = 8000 + (uint32_t)i;
        t->weight = 1;
        edge_pb_append((void ***)&u->targets, &u->n_targets, t);
    }
    return u;
}

static void
test_strdup_empty_is_static(void **state)
{
    (void)state;
    assert_ptr_equal(edge_pb_strdup(NULL), protobuf_c_empty_string);
    assert_ptr_equal(edge_pb_strdup(""), protobuf_c_empty_string);
    char *s = edge_pb_strndup("abcdef", 3);
    assert_string_equal(s, "abc");
    free(s);
}

static void
test_built_message_frees_cleanly(void **state)
{
    (void)state;
    Edge__V1__Upstream *u = make_upstream();
    assert_int_equal(u->n_targets, 3);
    assert_null(edge_pb_free(u));
    assert_null(edge_pb_free(NULL));
}

static void
test_dup_is_deep(void **state)
{
    (void)state;
    Edge__V1__Upstream *u = make_upstream();
    Edge__V1__Upstream *d = edge_pb_dup(&u->base);
    assert_non_null(d);
    assert_ptr_not_equal(d->targets[0], u->targets[0]);
    assert_string_equal(d->targets[2]->host, "127.0.0.1");
    assert_int_equal(d->targets[2]->port, 8002);
    edge_pb_free(u);
    edge_pb_free(d);
}

static void
test_pack_unpack_roundtrip(void **state)
{
    (void)state;
    Edge__V1__Upstream *u = make_upstream();
    grpc_slice s = edge_rpc_pack(&u->base);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    Edge__V1__Upstream *back =
        (Edge__V1__Upstream *)edge_rpc_unpack(&edge__v1__upstream__descriptor, bb);
    assert_non_null(back);
    assert_string_equal(back->name, "backend");
    assert_int_equal(back->n_targets, 3);
    edge_pb_free(back);
    grpc_byte_buffer_destroy(bb);
    grpc_slice_unref(s);
    edge_pb_free(u);
}

static void
test_unpack_multi_slice_and_garbage(void **state)
{
    (void)state;
    Edge__V1__Upstream *u = make_upstream();
    grpc_slice s = edge_rpc_pack(&u->base);
    size_t half = GRPC_SLICE_LENGTH(s) / 2;
    grpc_slice parts[2] = {grpc_slice_sub(s, 0, half),
                           grpc_slice_sub(s, half, GRPC_SLICE_LENGTH(s))};
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(parts, 2);
    Edge__V1__Upstream *back =
        (Edge__V1__Upstream *)edge_rpc_unpack(&edge__v1__upstream__descriptor, bb);
    assert_non_null(back);
    assert_int_equal(back->targets[1]->port, 8001);
    edge_pb_free(back);
    grpc_byte_buffer_destroy(bb);
    grpc_slice_unref(parts[0]);
    grpc_slice_unref(parts[1]);

    /* A truncated message and random bytes do not parse. */
    grpc_slice cut = grpc_slice_sub(s, 0, GRPC_SLICE_LENGTH(s) - 3);
    bb = grpc_raw_byte_buffer_create(&cut, 1);
    assert_null(edge_rpc_unpack(&edge__v1__upstream__descriptor, bb));
    grpc_byte_buffer_destroy(bb);
    grpc_slice_unref(cut);
    grpc_slice junk = grpc_slice_from_copied_buffer("\xff\xff\xff\xff\xff", 5);
    bb = grpc_raw_byte_buffer_create(&junk, 1);
    assert_null(edge_rpc_unpack(&edge__v1__upstream__descriptor, bb));
    grpc_byte_buffer_destroy(bb);
    grpc_slice_unref(junk);
    grpc_slice_unref(s);
    edge_pb_free(u);
}

static void
test_status_helpers(void **state)
{
    (void)state;
    struct edge_rpc_status st;
    assert_int_equal(edge_rpc_fail(&st, GRPC_STATUS_NOT_FOUND, "api \"%s\" not found", "x"), -1);
    assert_int_equal(st.code, GRPC_STATUS_NOT_FOUND);
    assert_string_equal(st.message, "api \"x\" not found");
    assert_int_equal(edge_rpc_fail(&st, GRPC_STATUS_OK, "%s", ""), 0);
    assert_string_equal(edge_rpc_code_name(GRPC_STATUS_UNAUTHENTICATED), "UNAUTHENTICATED");
    assert_string_equal(edge_rpc_code_name(GRPC_STATUS_FAILED_PRECONDITION), "FAILED_PRECONDITION");
    assert_string_equal(edge_rpc_code_name((grpc_status_code)99), "UNKNOWN");
    /* Over-long messages are truncated, never overflow. */
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    edge_rpc_fail(&st, GRPC_STATUS_INTERNAL, "%s", big);
    assert_int_equal(strlen(st.message), sizeof(st.message) - 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strdup_empty_is_static),
        cmocka_unit_test(test_built_message_frees_cleanly),
        cmocka_unit_test(test_dup_is_deep),
        cmocka_unit_test(test_pack_unpack_roundtrip),
        cmocka_unit_test(test_unpack_multi_slice_and_garbage),
        cmocka_unit_test(test_status_helpers),
    };
    grpc_init();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    grpc_shutdown();
    return rc;
}
