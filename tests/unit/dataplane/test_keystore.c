/* The key store (dataplane/policy/keystore.h): puts, replaces, rotations, removes, resets and
 * plan sets against expectations, and readers on other threads that never see a torn or
 * foreign record while the writer rewrites, reuses records and grows the index. */
/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "policy/keystore.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static void
sha_of(unsigned key, unsigned secret_version, uint8_t sha[32])
{
    memset(sha, 0, 32);
    uint64_t h = (uint64_t)key * 0x9e3779b97f4a7c15ULL ^ (uint64_t)secret_version << 40;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    memcpy(sha, &h, 8);
    memcpy(sha + 8, &key, sizeof(key));
    memcpy(sha + 12, &secret_version, sizeof(secret_version));
}

static void
id_of(unsigned key, char id[DP_KEY_ID_LEN + 1])
{
    snprintf(id, DP_KEY_ID_LEN + 1, "k-%012x", key);
}

static void
test_put_find_remove(void **state)
{
    struct dp_keystore *ks;
    assert_int_equal(dp_keystore_new(&ks), 0);
    const char *gold[] = {"gold", "silver", "gold"};
    uint8_t sha[32], sha2[32];
    struct dp_key k;
    sha_of(1, 0, sha);
    assert_int_equal(dp_keystore_put(ks, "k-000000000001", sha, true, 0, gold, 3), 0);
    struct dp_keyindex *ix = dp_keystore_index_ref(ks);
    assert_true(dp_keyindex_find(ix, sha, &k));
    assert_string_equal(k.id, "k-000000000001");
    assert_true(k.enabled);
    size_t n;
    const uint32_t *plans = dp_keyindex_planset(ix, k.planset, &n);
    assert_int_equal(n, 2); /* duplicates go */
    assert_string_equal(dp_keystore_plan_name(ks, plans[0]), "gold");
    assert_string_equal(dp_keystore_plan_name(ks, plans[1]), "silver");

    /* The same plans in another order are the same plan set. */
    const char *sg[] = {"silver", "gold"};
    sha_of(2, 0, sha2);
    assert_int_equal(dp_keystore_put(ks, "k-000000000002", sha2, false, 99, sg, 2), 0);
    struct dp_key k2;
    assert_true(dp_keyindex_find(ix, sha2, &k2));
    assert_int_equal(k2.planset, k.planset);
    assert_false(k2.enabled);
    assert_int_equal(k2.expires_at, 99);

    /* Bad ids, and another key's secret, are refused. */
    assert_int_equal(dp_keystore_put(ks, "key-1", sha, true, 0, NULL, 0), -EINVAL);
    assert_int_equal(dp_keystore_put(ks, "k-00000000000G", sha, true, 0, NULL, 0), -EINVAL);
    assert_int_equal(dp_keystore_put(ks, "k-00000000000A", sha, true, 0, NULL, 0), -EINVAL);
    assert_int_equal(dp_keystore_put(ks, "k-000000000003", sha, true, 0, NULL, 0), -EEXIST);
    assert_int_equal(dp_keystore_count(ks), 2);

    /* A rotation: the old secret stops working, the new one works. */
    uint8_t rotated[32];
    sha_of(1, 1, rotated);
    assert_int_equal(dp_keystore_put(ks, "k-000000000001", rotated, true, 0, NULL, 0), 0);
    assert_false(dp_keyindex_find(ix, sha, &k));
    assert_true(dp_keyindex_find(ix, rotated, &k));
    assert_int_equal(k.planset, 0); /* no plans now */
    assert_int_equal(dp_keystore_count(ks), 2);

    assert_int_equal(dp_keystore_remove(ks, "k-000000000001"), 0);
    assert_int_equal(dp_keystore_remove(ks, "k-000000000001"), -ENOENT);
    assert_false(dp_keyindex_find(ix, rotated, &k));
    assert_int_equal(dp_keystore_count(ks), 1);

    /* A reset keeps what is put again and removes the rest. */
    dp_keystore_reset_begin(ks);
    sha_of(3, 0, sha);
    assert_int_equal(dp_keystore_put(ks, "k-000000000003", sha, true, 0, gold, 1), 0);
    assert_int_equal(dp_keystore_reset_end(ks), 1); /* key 2 */
    assert_false(dp_keyindex_find(ix, sha2, &k));
    assert_true(dp_keyindex_find(ix, sha, &k));
    assert_int_equal(dp_keystore_count(ks), 1);
    dp_keyindex_unref(ix);
    dp_keystore_free(ks);
}

/* Readers race the writer. Key i's record always says expires_at = its version and is found
 * only by key i's secret; a reader checks that whatever it finds is one consistent record. */
#define N_KEYS 3000
#define ROUNDS 60

struct race {
    struct dp_keystore *ks;
    _Atomic(struct dp_keyindex *) ix;
    atomic_bool done;
    atomic_uint version[N_KEYS]; /* highest version written (secret version = version & 1) */
    atomic_ulong found, bad;
};

static void *
reader(void *arg)
{
    struct race *r = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    while (!atomic_load(&r->done)) {
        seed = seed * 1103515245u + 12345u;
        unsigned i = (seed >> 8) % N_KEYS;
        unsigned v0 = atomic_load(&r->version[i]);
        uint8_t sha[32];
        sha_of(i, v0 & 1, sha);
        struct dp_key k;
        struct dp_keyindex *ix = atomic_load(&r->ix);
        if (!dp_keyindex_find(ix, sha, &k))
            continue;
        char id[DP_KEY_ID_LEN + 1];
        id_of(i, id);
        /* The record is key i's, of a version with this secret, not older than seen. */
        unsigned v = (unsigned)k.expires_at;
        if (strcmp(k.id, id) != 0 || (v & 1) != (v0 & 1) || v + 2 < v0 || k.enabled != (v % 3 != 0))
            atomic_fetch_add(&r->bad, 1);
        atomic_fetch_add(&r->found, 1);
    }
    return NULL;
}

static void
test_readers_race_the_writer(void **state)
{
    static struct race r;
    memset(&r, 0, sizeof(r));
    assert_int_equal(dp_keystore_new(&r.ks), 0);
    struct dp_keyindex *held[ROUNDS * 4 + 2];
    size_t n_held = 0;
    atomic_store(&r.ix, held[n_held++] = dp_keystore_index_ref(r.ks));
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, reader, &r), 0);
    const char *plans[] = {"a", "b", "c"};
    char id[DP_KEY_ID_LEN + 1];
    for (unsigned round = 1; round <= ROUNDS; round++) {
        for (unsigned i = 0; i < N_KEYS; i++) {
            /* Keys come and go: every 7th is removed this round (its record is reused). */
            id_of(i, id);
            if ((i + round) % 7 == 0) {
                (void)dp_keystore_remove(r.ks, id);
                continue;
            }
            unsigned v = round;
            uint8_t sha[32];
            sha_of(i, v & 1, sha);
            atomic_store(&r.version[i], v);
            assert_int_equal(dp_keystore_put(r.ks, id, sha, v % 3 != 0, v, plans, v % 4), 0);
        }
        /* Publish the index as a snapshot would (old ones stay referenced here). */
        if (n_held < sizeof(held) / sizeof(held[0])) {
            held[n_held] = dp_keystore_index_ref(r.ks);
            atomic_store(&r.ix, held[n_held++]);
        }
    }
    atomic_store(&r.done, true);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    printf("# %lu lookups found a key, %lu inconsistent\n", (unsigned long)atomic_load(&r.found),
           (unsigned long)atomic_load(&r.bad));
    assert_int_equal(atomic_load(&r.bad), 0);
    assert_true(atomic_load(&r.found) > 0);
    for (size_t i = 0; i < n_held; i++)
        dp_keyindex_unref(held[i]);
    dp_keystore_free(r.ks);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_find_remove),
        cmocka_unit_test(test_readers_race_the_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
