/* Merging Config/Watch updates into the complete configuration (dataplane/cpclient/cpmerge.h):
 * full replace, delta put/remove, base mismatch, empty update, commit and rollback. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "cpmerge.h"
#include "pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API      EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_API
#define UPSTREAM EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_UPSTREAM
#define KEY      EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY

static Edge__V1__ConfigUpdate *
update(bool full, uint64_t revision, uint64_t base, const char *store)
{
    Edge__V1__ConfigUpdate *u = edge_pb_new(&edge__v1__config_update__descriptor);
    u->full = full;
    u->revision = revision;
    u->base_revision = base;
    u->store_id = edge_pb_strdup(store);
    return u;
}

/* A resource whose API description tells versions apart. */
static void
put(Edge__V1__ConfigUpdate *u, Edge__V1__ResourceType type, const char *id, const char *tag)
{
    Edge__V1__Resource *r = edge_pb_new(&edge__v1__resource__descriptor);
    r->type = type;
    r->id = edge_pb_strdup(id);
    r->body_case = EDGE__V1__RESOURCE__BODY_API;
    r->api = edge_pb_new(&edge__v1__api__descriptor);
    r->api->name = edge_pb_strdup(id);
    r->api->description = edge_pb_strdup(tag);
    edge_pb_append((void ***)&u->put, &u->n_put, r);
}

/* An API key whose name tells versions apart. */
static void
put_key(Edge__V1__ConfigUpdate *u, const char *id, const char *tag)
{
    Edge__V1__Resource *r = edge_pb_new(&edge__v1__resource__descriptor);
    r->type = KEY;
    r->id = edge_pb_strdup(id);
    r->body_case = EDGE__V1__RESOURCE__BODY_KEY;
    r->key = edge_pb_new(&edge__v1__api_key__descriptor);
    r->key->id = edge_pb_strdup(id);
    r->key->name = edge_pb_strdup(tag);
    edge_pb_append((void ***)&u->put, &u->n_put, r);
}

/* The pending key changes as "id=tag" (put) or "id-" (removed), with "reset " first. */
static void
assert_keys(const struct dp_cpmerge *m, const char *expect)
{
    char got[4096] = "";
    size_t off = 0;
    const struct dp_key_changes *k = dp_cpmerge_pending_keys(m);
    if (k->reset)
        off += (size_t)snprintf(got + off, sizeof(got) - off, "reset ");
    for (size_t i = 0; i < k->n && off < sizeof(got); i++) {
        const struct dp_key_change *c = &k->changes[i];
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%s%s%s", i ? " " : "", c->id,
                                c->key ? "=" : "-", c->key ? c->key->name : "");
    }
    assert_string_equal(got, expect);
}

static void
removal(Edge__V1__ConfigUpdate *u, Edge__V1__ResourceType type, const char *id)
{
    Edge__V1__ResourceRef *r = edge_pb_new(&edge__v1__resource_ref__descriptor);
    r->type = type;
    r->id = edge_pb_strdup(id);
    edge_pb_append((void ***)&u->remove, &u->n_remove, r);
}

/* "1:a=x 2:u=y": type:id=tag of every resource, in order. */
static void
assert_config(const Edge__V1__ConfigUpdate *cfg, uint64_t revision, const char *store,
              const char *expect)
{
    char got[1024] = "";
    size_t off = 0;

    assert_non_null(cfg);
    assert_true(cfg->full);
    assert_int_equal(cfg->revision, revision);
    assert_string_equal(cfg->store_id, store);
    assert_int_equal(cfg->n_remove, 0);
    for (size_t i = 0; i < cfg->n_put; i++)
        off += (size_t)snprintf(got + off, sizeof(got) - off, "%s%d:%s=%s", i ? " " : "",
                                (int)cfg->put[i]->type, cfg->put[i]->id,
                                cfg->put[i]->api->description);
    assert_string_equal(got, expect);
}

/* dp_cpmerge_pack_pending() (made of per-resource encodings) parses back to exactly what
 * dp_cpmerge_pending() shows. */
static void
assert_pack_matches(const struct dp_cpmerge *m)
{
    const Edge__V1__ConfigUpdate *view = dp_cpmerge_pending(m);
    uint8_t *buf = NULL;
    size_t len = 0;

    assert_int_equal(dp_cpmerge_pack_pending(m, &buf, &len), 0);
    Edge__V1__ConfigUpdate *back = edge__v1__config_update__unpack(NULL, len, buf);
    assert_non_null(back);
    size_t a = protobuf_c_message_get_packed_size(&view->base);
    size_t b = protobuf_c_message_get_packed_size(&back->base);
    assert_int_equal(a, b);
    uint8_t *pa = malloc(a + 1), *pb = malloc(b + 1);
    protobuf_c_message_pack(&view->base, pa);
    protobuf_c_message_pack(&back->base, pb);
    assert_memory_equal(pa, pb, a);
    free(pa);
    free(pb);
    free(buf);
    edge_pb_free(back);
}

static void
assert_update(struct dp_cpmerge *m, Edge__V1__ConfigUpdate *u, int expect)
{
    char err[256] = "";
    int rc = dp_cpmerge_update(m, u, err, sizeof(err));
    if (rc != expect)
        print_error("dp_cpmerge_update: %d (%s), expected %d\n", rc, err, expect);
    assert_int_equal(rc, expect);
    if (expect < 0)
        assert_true(err[0] != '\0');
}

/* Held: revision 1 of store s1 with a, b (APIs) and u (an upstream). */
static struct dp_cpmerge *
held_r1(void)
{
    struct dp_cpmerge *m = dp_cpmerge_new();
    Edge__V1__ConfigUpdate *u = update(true, 1, 0, "s1");
    put(u, UPSTREAM, "u", "x");
    put(u, API, "b", "x");
    put(u, API, "a", "x");
    assert_update(m, u, 0);
    dp_cpmerge_commit(m);
    return m;
}

static void
test_nothing_held(void **state)
{
    struct dp_cpmerge *m = dp_cpmerge_new();

    assert_null(dp_cpmerge_pending(m));
    assert_config(dp_cpmerge_held(m), 0, "", "");
    dp_cpmerge_commit(m); /* no-ops */
    dp_cpmerge_rollback(m);
    assert_null(dp_cpmerge_free(m));
    assert_null(dp_cpmerge_free(NULL));
}

static void
test_full_sorts_and_commits(void **state)
{
    struct dp_cpmerge *m = dp_cpmerge_new();
    Edge__V1__ConfigUpdate *u = update(true, 1, 0, "s1");

    put(u, UPSTREAM, "u", "x");
    put(u, API, "b", "x");
    put(u, API, "a", "x");
    assert_update(m, u, 0);
    assert_config(dp_cpmerge_pending(m), 1, "s1", "1:a=x 1:b=x 2:u=x");
    assert_config(dp_cpmerge_held(m), 0, "", "");
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_pack_matches(m);
    dp_cpmerge_commit(m);
    assert_null(dp_cpmerge_pending(m));
    assert_int_equal(dp_cpmerge_pack_pending(m, &buf, &len), -ENOENT);
    assert_config(dp_cpmerge_held(m), 1, "s1", "1:a=x 1:b=x 2:u=x");
    dp_cpmerge_free(m);
}

static void
test_full_replaces_everything(void **state)
{
    struct dp_cpmerge *m = held_r1();
    Edge__V1__ConfigUpdate *u = update(true, 7, 0, "s2");

    put_key(u, "k1", "y");
    put(u, API, "b", "y");
    assert_update(m, u, 0);
    assert_config(dp_cpmerge_pending(m), 7, "s2", "1:b=y"); /* keys go apart */
    assert_keys(m, "reset k1=y");
    dp_cpmerge_commit(m); /* frees a, b and u of revision 1 (LSan checks) */
    assert_config(dp_cpmerge_held(m), 7, "s2", "1:b=y");
    assert_keys(m, "");

    /* An empty full snapshot is a valid configuration: nothing configured. */
    assert_update(m, update(true, 8, 0, "s2"), 0);
    assert_pack_matches(m);
    dp_cpmerge_commit(m);
    assert_config(dp_cpmerge_held(m), 8, "s2", "");
    dp_cpmerge_free(m);
}

static void
test_delta_put_and_remove(void **state)
{
    struct dp_cpmerge *m = held_r1();
    Edge__V1__ConfigUpdate *u = update(false, 2, 1, "s1");

    put_key(u, "k1", "y"); /* a key: apart */
    put(u, API, "b", "y"); /* replaced */
    put(u, API, "0", "y"); /* new, first */
    removal(u, API, "a");
    removal(u, API, "zz"); /* not there: nothing to do */
    assert_update(m, u, 0);
    assert_config(dp_cpmerge_pending(m), 2, "s1", "1:0=y 1:b=y 2:u=x");
    assert_keys(m, "k1=y");
    assert_pack_matches(m);
    assert_config(dp_cpmerge_held(m), 1, "s1", "1:a=x 1:b=x 2:u=x");
    dp_cpmerge_commit(m);
    assert_config(dp_cpmerge_held(m), 2, "s1", "1:0=y 1:b=y 2:u=x");
    assert_keys(m, "");

    u = update(false, 3, 2, "s1");
    removal(u, UPSTREAM, "u");
    removal(u, API, "0");
    removal(u, KEY, "k1");
    removal(u, API, "b");
    assert_update(m, u, 0);
    assert_keys(m, "k1-");
    dp_cpmerge_commit(m);
    assert_config(dp_cpmerge_held(m), 3, "s1", "");
    dp_cpmerge_free(m);
}

static void
test_deltas_chain_before_commit(void **state)
{
    struct dp_cpmerge *m = held_r1();
    Edge__V1__ConfigUpdate *u = update(false, 2, 1, "s1");

    put(u, API, "c", "2");
    assert_update(m, u, 0);
    /* The next delta applies to the pending revision, not the held one. */
    u = update(false, 3, 2, "s1");
    put(u, API, "c", "3"); /* replaces a pending (fresh) resource */
    put(u, API, "a", "3"); /* replaces a held one */
    removal(u, UPSTREAM, "u");
    assert_update(m, u, 0);
    assert_config(dp_cpmerge_pending(m), 3, "s1", "1:a=3 1:b=x 1:c=3");
    u = update(false, 4, 3, "s1");
    removal(u, API, "c"); /* removes a fresh one */
    assert_update(m, u, 0);
    assert_config(dp_cpmerge_pending(m), 4, "s1", "1:a=3 1:b=x");
    assert_config(dp_cpmerge_held(m), 1, "s1", "1:a=x 1:b=x 2:u=x");
    assert_pack_matches(m);

    /* Rejected by the node: the held revision is the base again, untouched. */
    dp_cpmerge_rollback(m);
    assert_null(dp_cpmerge_pending(m));
    assert_config(dp_cpmerge_held(m), 1, "s1", "1:a=x 1:b=x 2:u=x");
    u = update(false, 5, 4, "s1");
    put(u, API, "d", "5");
    assert_update(m, u, -ESTALE);

    /* The same chain again, accepted this time. */
    u = update(false, 2, 1, "s1");
    put(u, API, "c", "2");
    assert_update(m, u, 0);
    u = update(false, 3, 2, "s1");
    put(u, API, "a", "3");
    removal(u, API, "c");
    assert_update(m, u, 0);
    dp_cpmerge_commit(m);
    assert_config(dp_cpmerge_held(m), 3, "s1", "1:a=3 1:b=x 2:u=x");
    dp_cpmerge_free(m);
}

static void
test_full_over_pending(void **state)
{
    struct dp_cpmerge *m = held_r1();
    Edge__V1__ConfigUpdate *u = update(false, 2, 1, "s1");

    put(u, API, "c", "2");
    assert_update(m, u, 0);
    u = update(true, 9, 0, "s1");
    put(u, API, "a", "9");
    assert_update(m, u, 0);
    assert_config(dp_cpmerge_pending(m), 9, "s1", "1:a=9");
    assert_pack_matches(m);
    dp_cpmerge_commit(m);
    assert_config(dp_cpmerge_held(m), 9, "s1", "1:a=9");
    dp_cpmerge_free(m);
}

static void
test_base_mismatch(void **state)
{
    struct dp_cpmerge *m = held_r1();
    Edge__V1__ConfigUpdate *u;

    u = update(false, 6, 5, "s1"); /* we hold 1, not 5 */
    put(u, API, "c", "6");
    assert_update(m, u, -ESTALE);
    u = update(false, 2, 1, "other"); /* right revision, another store */
    put(u, API, "c", "2");
    assert_update(m, u, -ESTALE);
    u = update(false, 1, 1, "other"); /* "current", but of another store */
    assert_update(m, u, -ESTALE);
    assert_null(dp_cpmerge_pending(m));
    assert_config(dp_cpmerge_held(m), 1, "s1", "1:a=x 1:b=x 2:u=x");

    /* A mismatch leaves what is pending alone. */
    u = update(false, 2, 1, "s1");
    put(u, API, "c", "2");
    assert_update(m, u, 0);
    u = update(false, 4, 3, "s1");
    removal(u, API, "a");
    assert_update(m, u, -ESTALE);
    assert_config(dp_cpmerge_pending(m), 2, "s1", "1:a=x 1:b=x 1:c=2 2:u=x");
    dp_cpmerge_free(m); /* frees the pending fresh resource too */

    /* Nothing held: a delta has nothing to apply to, unless it starts from 0. */
    m = dp_cpmerge_new();
    u = update(false, 3, 2, "s1");
    assert_update(m, u, -ESTALE);
    dp_cpmerge_free(m);
}

static void
test_empty_update_is_current(void **state)
{
    struct dp_cpmerge *m = held_r1();

    assert_update(m, update(false, 1, 1, "s1"), DP_CPMERGE_CURRENT);
    assert_null(dp_cpmerge_pending(m));
    /* The control plane's "current" carries base_revision = revision; 0 means the same. */
    assert_update(m, update(false, 1, 0, "s1"), DP_CPMERGE_CURRENT);
    /* Current relative to what is pending. */
    Edge__V1__ConfigUpdate *u = update(false, 2, 1, "s1");
    put(u, API, "c", "2");
    assert_update(m, u, 0);
    assert_update(m, update(false, 2, 2, "s1"), DP_CPMERGE_CURRENT);
    assert_config(dp_cpmerge_pending(m), 2, "s1", "1:a=x 1:b=x 1:c=2 2:u=x");
    /* An empty delta to a new revision (a change that touched nothing) moves the revision. */
    assert_update(m, update(false, 3, 2, "s1"), 0);
    assert_config(dp_cpmerge_pending(m), 3, "s1", "1:a=x 1:b=x 1:c=2 2:u=x");
    dp_cpmerge_free(m);
}

static void
test_invalid_updates(void **state)
{
    struct dp_cpmerge *m = held_r1();
    Edge__V1__ConfigUpdate *u;

    u = update(true, 2, 0, "s1");
    put(u, API, "a", "1");
    put(u, API, "a", "2");
    assert_update(m, u, -EINVAL);
    u = update(false, 2, 1, "s1");
    put(u, API, "a", "2");
    removal(u, API, "a");
    assert_update(m, u, -EINVAL);
    u = update(false, 0, 1, "s1");
    assert_update(m, u, -EINVAL);
    u = update(true, 2, 0, "s1");
    removal(u, API, "a");
    assert_update(m, u, -EINVAL);
    assert_null(dp_cpmerge_pending(m));
    assert_config(dp_cpmerge_held(m), 1, "s1", "1:a=x 1:b=x 2:u=x");
    dp_cpmerge_free(m);
}

/* Many resources, many deltas: the result matches a model kept in an array. */
static void
test_many_deltas_against_model(void **state)
{
    enum { N = 200, ROUNDS = 300 };
    int model[N]; /* -1: absent; else the version */
    struct dp_cpmerge *m = dp_cpmerge_new();
    uint64_t rev = 1;
    unsigned seed = 12345;
    char id[16], tag[16];

    Edge__V1__ConfigUpdate *u = update(true, rev, 0, "s");
    for (int i = 0; i < N; i++) {
        model[i] = i % 3 ? 0 : -1;
        if (model[i] == 0) {
            snprintf(id, sizeof(id), "k%03d", i);
            put(u, UPSTREAM, id, "0");
        }
    }
    assert_update(m, u, 0);
    dp_cpmerge_commit(m);
    for (int round = 1; round <= ROUNDS; round++) {
        bool touched[N] = {false};
        u = update(false, rev + 1, rev, "s");
        for (int k = 0; k < 10; k++) {
            seed = seed * 1103515245 + 12345;
            int i = (int)((seed >> 8) % N);
            if (touched[i])
                continue;
            touched[i] = true;
            snprintf(id, sizeof(id), "k%03d", i);
            if ((seed >> 20) % 3 == 0) {
                removal(u, UPSTREAM, id);
                model[i] = -1;
            } else {
                snprintf(tag, sizeof(tag), "%d", round);
                put(u, UPSTREAM, id, tag);
                model[i] = round;
            }
        }
        assert_update(m, u, 0);
        assert_pack_matches(m);
        rev++;
        if (round % 7 == 0) /* commit now and then, chain the rest */
            dp_cpmerge_commit(m);
    }
    dp_cpmerge_commit(m);
    const Edge__V1__ConfigUpdate *cfg = dp_cpmerge_held(m);
    size_t j = 0;
    for (int i = 0; i < N; i++) {
        if (model[i] < 0)
            continue;
        assert_true(j < cfg->n_put);
        snprintf(id, sizeof(id), "k%03d", i);
        snprintf(tag, sizeof(tag), "%d", model[i]);
        assert_string_equal(cfg->put[j]->id, id);
        assert_string_equal(cfg->put[j]->api->description, tag);
        j++;
    }
    assert_int_equal(j, cfg->n_put);
    assert_int_equal(cfg->revision, rev);
    dp_cpmerge_free(m);
}

/* Key changes of uncommitted deltas fold into one change per key (the newest); a commit
 * hands them over and forgets them, a rollback drops them; a full update starts over. */
static void
test_keys_fold_against_model(void **state)
{
    enum { N = 100, ROUNDS = 200 };
    char since[N][16]; /* the change since the last commit: "" none, "-" removed, else a tag */
    struct dp_cpmerge *m = dp_cpmerge_new();
    uint64_t rev = 1;
    unsigned seed = 777;
    char id[16], tag[16], expect[4096];

    Edge__V1__ConfigUpdate *u = update(true, rev, 0, "s");
    put_key(u, "k000", "0");
    assert_update(m, u, 0);
    assert_keys(m, "reset k000=0");
    dp_cpmerge_commit(m);
    memset(since, 0, sizeof(since));
    for (int round = 1; round <= ROUNDS; round++) {
        bool touched[N] = {false};
        u = update(false, rev + 1, rev, "s");
        for (int k = 0; k < 5; k++) {
            seed = seed * 1103515245 + 12345;
            int i = (int)((seed >> 8) % N);
            if (touched[i])
                continue;
            touched[i] = true;
            snprintf(id, sizeof(id), "k%03d", i);
            if ((seed >> 20) % 3 == 0) {
                removal(u, KEY, id);
                snprintf(since[i], sizeof(since[i]), "-");
            } else {
                snprintf(tag, sizeof(tag), "%d", round);
                put_key(u, id, tag);
                snprintf(since[i], sizeof(since[i]), "%s", tag);
            }
        }
        assert_update(m, u, 0);
        rev++;
        size_t off = 0;
        expect[0] = '\0';
        for (int i = 0; i < N; i++) {
            if (!since[i][0])
                continue;
            off += (size_t)snprintf(expect + off, sizeof(expect) - off, "%sk%03d%s%s",
                                    off ? " " : "", i, since[i][0] == '-' ? "-" : "=",
                                    since[i][0] == '-' ? "" : since[i]);
        }
        assert_keys(m, expect);
        if (round % 5 == 0) {
            dp_cpmerge_commit(m);
            assert_keys(m, "");
            memset(since, 0, sizeof(since));
        }
    }
    /* A rollback drops what is pending, keys too. */
    u = update(false, rev + 1, rev, "s");
    put_key(u, "k001", "x");
    assert_update(m, u, 0);
    dp_cpmerge_rollback(m);
    assert_keys(m, "");
    /* A full update replaces the pending changes by the full set, and a later delta's remove
     * only takes the key out of that set. */
    u = update(false, rev + 1, rev, "s");
    put_key(u, "k002", "d");
    assert_update(m, u, 0);
    u = update(true, rev + 2, 0, "s");
    put_key(u, "k003", "f");
    put_key(u, "k004", "f");
    assert_update(m, u, 0);
    u = update(false, rev + 3, rev + 2, "s");
    removal(u, KEY, "k003");
    put_key(u, "k005", "g");
    assert_update(m, u, 0);
    assert_keys(m, "reset k004=f k005=g");
    dp_cpmerge_free(m); /* frees what is pending (LSan checks) */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_held),
        cmocka_unit_test(test_full_sorts_and_commits),
        cmocka_unit_test(test_full_replaces_everything),
        cmocka_unit_test(test_delta_put_and_remove),
        cmocka_unit_test(test_deltas_chain_before_commit),
        cmocka_unit_test(test_full_over_pending),
        cmocka_unit_test(test_base_mismatch),
        cmocka_unit_test(test_empty_update_is_current),
        cmocka_unit_test(test_invalid_updates),
        cmocka_unit_test(test_many_deltas_against_model),
        cmocka_unit_test(test_keys_fold_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
