/* The config client's cache directory (dataplane/cpclient/cpcache.h): the snapshot written
 * atomically and read back, torn temp files and corrupt files ignored, the node id kept. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "cpcache.h"
#include "cpkeys.h"
#include "pb.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fixture {
    char dir[512];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/cpcache-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void
write_raw(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static bool
exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static size_t
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static Edge__V1__ConfigUpdate *
sample(uint64_t revision)
{
    Edge__V1__ConfigUpdate *u = edge_pb_new(&edge__v1__config_update__descriptor);
    u->full = true;
    u->revision = revision;
    u->store_id = edge_pb_strdup("store-1");
    Edge__V1__Resource *r = edge_pb_new(&edge__v1__resource__descriptor);
    r->type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API;
    r->id = edge_pb_strdup("pets");
    r->body_case = EDGE__V1__RESOURCE__BODY_API;
    r->api = edge_pb_new(&edge__v1__api__descriptor);
    r->api->name = edge_pb_strdup("pets");
    edge_pb_append((void ***)&u->put, &u->n_put, r);
    return u;
}

static void
test_write_then_read(void **state)
{
    struct fixture *f = *state;
    Edge__V1__ConfigUpdate *u = sample(42), *got = NULL;

    assert_int_equal(dp_cpcache_read(f->dir, &got), -ENOENT);
    assert_null(got);
    assert_int_equal(dp_cpcache_write(f->dir, u), 0);
    assert_int_equal(count_entries(f->dir), 1); /* no temp file left behind */
    assert_int_equal(dp_cpcache_read(f->dir, &got), 0);
    assert_int_equal(got->revision, 42);
    assert_true(got->full);
    assert_string_equal(got->store_id, "store-1");
    assert_int_equal(got->n_put, 1);
    assert_string_equal(got->put[0]->api->name, "pets");
    edge_pb_free(got);

    /* A newer write replaces it whole. */
    edge_pb_free(u);
    u = sample(43);
    assert_int_equal(dp_cpcache_write(f->dir, u), 0);
    assert_int_equal(dp_cpcache_read(f->dir, &got), 0);
    assert_int_equal(got->revision, 43);
    edge_pb_free(got);
    edge_pb_free(u);
}

static void
test_torn_temp_file_is_ignored(void **state)
{
    struct fixture *f = *state;
    Edge__V1__ConfigUpdate *u = sample(7), *got = NULL;
    static const char torn[] = "\x08\x2a\x12\xff\xff"; /* a write cut short */

    assert_int_equal(dp_cpcache_write(f->dir, u), 0);
    write_raw(f->dir, DP_CPCACHE_SNAPSHOT ".tmp.Ab12Cd", torn, sizeof(torn) - 1);
    assert_int_equal(dp_cpcache_read(f->dir, &got), 0);
    assert_int_equal(got->revision, 7);
    edge_pb_free(got);
    /* ... and cleaned up. */
    assert_false(exists(f->dir, DP_CPCACHE_SNAPSHOT ".tmp.Ab12Cd"));

    /* A torn temp file with no snapshot beside it: still nothing cached. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", f->dir, DP_CPCACHE_SNAPSHOT);
    assert_int_equal(unlink(path), 0);
    write_raw(f->dir, DP_CPCACHE_SNAPSHOT ".tmp.Zz99Yy", torn, sizeof(torn) - 1);
    got = NULL;
    assert_int_equal(dp_cpcache_read(f->dir, &got), -ENOENT);
    assert_null(got);
    edge_pb_free(u);
}

static void
test_corrupt_file_is_rejected(void **state)
{
    struct fixture *f = *state;
    Edge__V1__ConfigUpdate *got = NULL;
    static const char garbage[] = "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";

    write_raw(f->dir, DP_CPCACHE_SNAPSHOT, garbage, sizeof(garbage) - 1);
    assert_int_equal(dp_cpcache_read(f->dir, &got), -EBADMSG);
    assert_null(got);

    /* Parses, but is not a configuration a node can serve: a delta, or revision 0. */
    Edge__V1__ConfigUpdate *u = sample(5);
    u->full = false;
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(&u->base, buf);
    write_raw(f->dir, DP_CPCACHE_SNAPSHOT, buf, n);
    assert_int_equal(dp_cpcache_read(f->dir, &got), -EBADMSG);
    u->full = true;
    u->revision = 0;
    n = protobuf_c_message_pack(&u->base, buf);
    write_raw(f->dir, DP_CPCACHE_SNAPSHOT, buf, n);
    assert_int_equal(dp_cpcache_read(f->dir, &got), -EBADMSG);
    /* An empty file. */
    write_raw(f->dir, DP_CPCACHE_SNAPSHOT, "", 0);
    assert_int_equal(dp_cpcache_read(f->dir, &got), -EBADMSG);
    assert_null(got);
    edge_pb_free(u);
}

static void
test_node_id_made_once(void **state)
{
    struct fixture *f = *state;
    char id[129], again[129];

    assert_int_equal(dp_cpcache_node_id(f->dir, id, sizeof(id)), DP_CPCACHE_CREATED);
    assert_int_equal(strlen(id), 15);
    assert_memory_equal(id, "dp-", 3);
    for (size_t i = 3; i < 15; i++)
        assert_non_null(strchr("0123456789abcdef", id[i]));
    assert_true(dp_cpcache_node_id_valid(id));
    assert_int_equal(dp_cpcache_node_id(f->dir, again, sizeof(again)), 0);
    assert_string_equal(id, again);
    assert_int_equal(count_entries(f->dir), 1);

    /* One written by hand, with the editor's newline. */
    write_raw(f->dir, DP_CPCACHE_NODE_ID, "  edge-7.eu:a\n", 14);
    assert_int_equal(dp_cpcache_node_id(f->dir, id, sizeof(id)), 0);
    assert_string_equal(id, "edge-7.eu:a");
    assert_int_equal(dp_cpcache_node_id(f->dir, id, 5), -ENOSPC);

    write_raw(f->dir, DP_CPCACHE_NODE_ID, "two words\n", 10);
    assert_int_equal(dp_cpcache_node_id(f->dir, id, sizeof(id)), -EBADMSG);
    write_raw(f->dir, DP_CPCACHE_NODE_ID, "\n", 1);
    assert_int_equal(dp_cpcache_node_id(f->dir, id, sizeof(id)), -EBADMSG);
}

static void
test_node_id_valid(void **state)
{
    char long_id[130];
    memset(long_id, 'a', 129);
    long_id[129] = '\0';

    assert_true(dp_cpcache_node_id_valid("dp-0123456789ab"));
    assert_true(dp_cpcache_node_id_valid("A.b_c:d-1"));
    assert_false(dp_cpcache_node_id_valid(""));
    assert_false(dp_cpcache_node_id_valid("a/b"));
    assert_false(dp_cpcache_node_id_valid("a b"));
    assert_false(dp_cpcache_node_id_valid(long_id));
    long_id[128] = '\0';
    assert_true(dp_cpcache_node_id_valid(long_id));
}

static void
test_mkdir_parents(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];
    struct stat st;

    snprintf(path, sizeof(path), "%s/a/b/c", f->dir);
    assert_int_equal(dp_cpcache_mkdir(path), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(dp_cpcache_mkdir(path), 0); /* already there */
    write_raw(f->dir, "file", "x", 1);
    snprintf(path, sizeof(path), "%s/file", f->dir);
    assert_int_equal(dp_cpcache_mkdir(path), -ENOTDIR);
    assert_int_equal(dp_cpcache_write_file("/nonexistent-dir-cpcache", "x", "y", 1), -ENOENT);
}

/* ---- cached API keys (cpkeys.h) ---- */

static Edge__V1__ApiKey *
mk_key(const char *id, const char *plan)
{
    static uint8_t sha[32];
    Edge__V1__ApiKey *k = edge_pb_new(&edge__v1__api_key__descriptor);
    k->id = edge_pb_strdup(id);
    k->name = edge_pb_strdup("a name the cache drops");
    k->enabled = true;
    k->secret_sha256.data = malloc(32);
    memcpy(k->secret_sha256.data, sha, 32);
    k->secret_sha256.len = 32;
    edge_pb_append((void ***)&k->plans, &k->n_plans, edge_pb_strdup(plan));
    return k;
}

static Edge__V1__ConfigUpdate *
main_cfg(uint64_t revision, const char *store)
{
    Edge__V1__ConfigUpdate *c = edge_pb_new(&edge__v1__config_update__descriptor);
    c->full = true;
    c->revision = revision;
    c->store_id = edge_pb_strdup(store);
    return c;
}

/* "id:plan" of cfg's key puts, sorted by how the loader leaves them (by id). */
static void
assert_cached(const char *dir, uint64_t revision, const char *store, int want_rc,
              const char *expect)
{
    Edge__V1__ConfigUpdate *c = main_cfg(revision, store);
    assert_int_equal(dp_cpkeys_load(dir, c), want_rc);
    char got[1024] = "";
    size_t off = 0;
    for (size_t i = 0; i < c->n_put; i++) {
        const Edge__V1__ApiKey *k = c->put[i]->key;
        assert_non_null(k);
        assert_string_equal(k->name, ""); /* only what a node uses is kept */
        assert_int_equal(k->secret_sha256.len, 32);
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s:%s", i ? " " : "",
                                c->put[i]->id, k->n_plans ? k->plans[0] : "");
    }
    assert_string_equal(got, expect);
    edge_pb_free(c);
}

static void
test_keys_base_and_log(void **state)
{
    struct fixture *f = *state;
    /* No base: nothing added, and a log cannot start without one. */
    assert_cached(f->dir, 5, "s", 0, "");
    Edge__V1__ApiKey *a = mk_key("k-00000000000a", "gold"), *b = mk_key("k-00000000000b", "gold");
    struct dp_key_change ch[2] = {{"k-00000000000a", a}, {"k-00000000000b", b}};
    struct dp_key_changes kc = {false, ch, 2};
    size_t log = 0, base = 0;
    assert_int_equal(dp_cpkeys_append(f->dir, 6, &kc, &log, &base), -ENOENT);

    struct dp_cpkeys_writer *w;
    assert_int_equal(dp_cpkeys_begin(f->dir, "s", 5, &w), 0);
    assert_int_equal(dp_cpkeys_add(w, a->id, a), 0);
    assert_int_equal(dp_cpkeys_commit(w), 0);
    assert_cached(f->dir, 5, "s", 0, "k-00000000000a:gold");
    /* A base of another store, or newer than the snapshot, is not these keys. */
    assert_cached(f->dir, 5, "other", -EBADMSG, "");
    assert_cached(f->dir, 4, "s", -EBADMSG, "");

    /* Revision 6 re-plans a and adds b; revision 7 removes a. */
    free(a->plans[0]);
    a->plans[0] = edge_pb_strdup("silver");
    assert_int_equal(dp_cpkeys_append(f->dir, 6, &kc, &log, &base), 0);
    assert_true(log > 0 && base > 0);
    struct dp_key_change rm = {"k-00000000000a", NULL};
    struct dp_key_changes kr = {false, &rm, 1};
    assert_int_equal(dp_cpkeys_append(f->dir, 7, &kr, &log, &base), 0);
    assert_cached(f->dir, 7, "s", 0, "k-00000000000b:gold");
    /* A snapshot at 6 (revision 7 was logged, then the node crashed): 7 is not applied, and
     * is cut off the log. */
    assert_cached(f->dir, 6, "s", 0, "k-00000000000a:silver k-00000000000b:gold");
    assert_cached(f->dir, 7, "s", 0, "k-00000000000a:silver k-00000000000b:gold");

    /* A torn record at the end is ignored. */
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", f->dir, DP_CPKEYS_LOG);
    FILE *fp = fopen(path, "a");
    assert_non_null(fp);
    fwrite("\x40\x00\x00\x00garbage", 1, 11, fp);
    fclose(fp);
    assert_cached(f->dir, 9, "s", 0, "k-00000000000a:silver k-00000000000b:gold");
    /* ... and cut off, so the next record is readable. */
    assert_int_equal(dp_cpkeys_append(f->dir, 8, &kr, &log, &base), 0);
    assert_cached(f->dir, 9, "s", 0, "k-00000000000b:gold");

    /* A new base empties the log. */
    assert_int_equal(dp_cpkeys_begin(f->dir, "s", 9, &w), 0);
    assert_int_equal(dp_cpkeys_add(w, b->id, b), 0);
    assert_int_equal(dp_cpkeys_commit(w), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_cached(f->dir, 9, "s", 0, "k-00000000000b:gold");
    /* An aborted base leaves the old one and no temp file. */
    assert_int_equal(dp_cpkeys_begin(f->dir, "s", 10, &w), 0);
    assert_int_equal(dp_cpkeys_add(w, a->id, a), 0);
    dp_cpkeys_abort(w);
    assert_cached(f->dir, 10, "s", 0, "k-00000000000b:gold");
    /* A corrupt base is refused. */
    write_raw(f->dir, DP_CPKEYS_BASE, "\xff\xff\xff", 3);
    assert_cached(f->dir, 10, "s", -EBADMSG, "");
    edge_pb_free(a);
    edge_pb_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_then_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_temp_file_is_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_file_is_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_id_made_once, setup, teardown),
        cmocka_unit_test(test_node_id_valid),
        cmocka_unit_test_setup_teardown(test_mkdir_parents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_base_and_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
