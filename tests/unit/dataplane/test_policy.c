/* Throttles (GCRA on a simulated clock), the shared bucket table and quota periods. */
#include "policy/buckets.h"
#include "policy/quota.h"
#include "policy/revoked.h"
#include "policy/throttle.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

#define SEC 1000000000ULL

/* Offers `offered` requests per second, evenly spaced, for `secs` seconds. */
static unsigned
run(const struct dp_throttle *t, unsigned fleet, double offered, double secs)
{
    _Atomic uint64_t tat = 0;
    unsigned admitted = 0;
    uint64_t start = 1000 * SEC;
    unsigned n = (unsigned)(offered * secs);
    for (unsigned i = 0; i < n; i++) {
        uint64_t now = start + (uint64_t)((double)i * 1e9 / offered);
        if (dp_throttle_take(&tat, t, fleet, now, NULL))
            admitted++;
    }
    return admitted;
}

static void
test_gcra_accuracy(void **state)
{
    (void)state;
    struct {
        double rate;
        uint32_t burst;
        unsigned fleet;
        double offered;
    } cases[] = {
        {100, 10, 1, 200}, {100, 1, 1, 1000}, {1000, 100, 1, 2000}, {100, 10, 2, 200},
        {7.5, 3, 1, 20},   {100, 10, 1, 50},  {10, 100, 4, 40},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dp_throttle t = {.rate = cases[i].rate, .burst = cases[i].burst};
        double secs = 10;
        unsigned got = run(&t, cases[i].fleet, cases[i].offered, secs);
        double node_rate = cases[i].rate / cases[i].fleet;
        double node_burst = (double)((cases[i].burst + cases[i].fleet - 1) / cases[i].fleet);
        double want =
            cases[i].offered <= node_rate ? cases[i].offered * secs : node_rate * secs + node_burst;
        /* Within 1 % (plus one request for rounding of the schedule). */
        assert_true(got >= want * 0.99 - 1 && got <= want * 1.01 + 1);
    }
}

static void
test_gcra_burst_and_headers(void **state)
{
    (void)state;
    struct dp_throttle t = {.rate = 2, .burst = 5};
    _Atomic uint64_t tat = 0;
    struct dp_throttle_result r;
    uint64_t now = 50 * SEC;
    for (unsigned i = 0; i < 5; i++) {
        assert_true(dp_throttle_take(&tat, &t, 1, now, &r));
        assert_int_equal(r.limit, 5);
        assert_int_equal(r.remaining, 4 - i);
    }
    assert_int_equal(r.reset_s, 3); /* 5 x 0.5 s = 2.5 s, ceil */
    assert_false(dp_throttle_take(&tat, &t, 1, now, &r));
    assert_int_equal(r.remaining, 0);
    assert_int_equal(r.retry_s, 1); /* 0.5 s, ceil */
    /* half a second later exactly one more */
    assert_true(dp_throttle_take(&tat, &t, 1, now + SEC / 2, &r));
    assert_false(dp_throttle_take(&tat, &t, 1, now + SEC / 2, &r));
    /* a long pause refills to the burst, no more */
    unsigned n = 0;
    while (dp_throttle_take(&tat, &t, 1, now + 100 * SEC, NULL))
        n++;
    assert_int_equal(n, 5);
    /* a fleet of 2 halves the burst (ceil) and the rate */
    _Atomic uint64_t tat2 = 0;
    n = 0;
    while (dp_throttle_take(&tat2, &t, 2, now, &r))
        n++;
    assert_int_equal(n, 3);
    assert_int_equal(r.retry_s, 1);
}

struct race {
    _Atomic uint64_t *tat;
    struct dp_throttle t;
    unsigned admitted;
};

static void *
race_thread(void *arg)
{
    struct race *rc = arg;
    for (unsigned i = 0; i < 200000; i++)
        if (dp_throttle_take(rc->tat, &rc->t, 1, 7 * SEC, NULL))
            rc->admitted++;
    return NULL;
}

static void
test_gcra_shared_word(void **state)
{
    (void)state;
    /* Two threads on one word at a frozen clock: exactly the burst goes through. */
    _Atomic uint64_t tat = 0;
    struct race a = {.tat = &tat, .t = {.rate = 10, .burst = 1000}};
    struct race b = a;
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, race_thread, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, race_thread, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    assert_int_equal(a.admitted + b.admitted, 1000);
}

static void
test_buckets(void **state)
{
    (void)state;
    struct dp_buckets b;
    assert_int_equal(dp_buckets_init(&b, 100), 0);
    assert_int_equal(b.mask + 1, 128);
    uint64_t k1 = dp_policy_hash_str(1, "plan-a"), k2 = dp_policy_hash_str(1, "plan-b");
    assert_true(k1 != k2 && k1 && k2);
    assert_true(dp_policy_hash_str(1, "ab") != dp_policy_hash_str(2, "ab"));
    assert_null(dp_buckets_find(&b, k1));
    _Atomic uint64_t *w1 = dp_buckets_get(&b, k1);
    assert_non_null(w1);
    assert_ptr_equal(dp_buckets_get(&b, k1), w1);
    assert_ptr_equal(dp_buckets_find(&b, k1), w1);
    assert_ptr_not_equal(dp_buckets_get(&b, k2), w1);
    /* filling the table: lookups fail (open) instead of looping */
    unsigned got = 0;
    for (uint64_t i = 0; i < 1000; i++)
        if (dp_buckets_get(&b, dp_policy_mix(i, 99)))
            got++;
    assert_true(got <= 128);
    assert_true(atomic_load(&b.full) > 0);
    assert_int_equal(dp_buckets_fleet(&b), 1);
    atomic_store(&b.fleet, 3);
    assert_int_equal(dp_buckets_fleet(&b), 3);
    dp_buckets_done(&b);
}

static int64_t
utc(int y, int mon, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static void
test_quota_periods(void **state)
{
    (void)state;
    struct {
        enum dp_quota_period p;
        int64_t t, start, end;
    } cases[] = {
        {DP_QUOTA_DAY, utc(2026, 12, 2, 6, 44, 0), utc(2026, 12, 2, 0, 0, 0),
         utc(2026, 12, 3, 0, 0, 0)},
        {DP_QUOTA_DAY, utc(2026, 12, 2, 23, 59, 59), utc(2026, 12, 2, 0, 0, 0),
         utc(2026, 12, 3, 0, 0, 0)},
        /* 2026-12-02 is a Wednesday: its week starts Monday 11-30 */
        {DP_QUOTA_WEEK, utc(2026, 12, 2, 6, 0, 0), utc(2026, 11, 30, 0, 0, 0),
         utc(2026, 12, 7, 0, 0, 0)},
        /* a Monday at midnight starts its own week; a Sunday belongs to the week before */
        {DP_QUOTA_WEEK, utc(2026, 11, 30, 0, 0, 0), utc(2026, 11, 30, 0, 0, 0),
         utc(2026, 12, 7, 0, 0, 0)},
        {DP_QUOTA_WEEK, utc(2026, 11, 29, 23, 0, 0), utc(2026, 11, 23, 0, 0, 0),
         utc(2026, 11, 30, 0, 0, 0)},
        {DP_QUOTA_WEEK, 0, utc(1969, 12, 29, 0, 0, 0), utc(1970, 1, 5, 0, 0, 0)},
        {DP_QUOTA_MONTH, utc(2026, 12, 31, 23, 0, 0), utc(2026, 12, 1, 0, 0, 0),
         utc(2027, 1, 1, 0, 0, 0)},
        {DP_QUOTA_MONTH, utc(2028, 2, 29, 12, 0, 0), utc(2028, 2, 1, 0, 0, 0),
         utc(2028, 3, 1, 0, 0, 0)},
        {DP_QUOTA_MONTH, utc(2027, 1, 1, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0),
         utc(2027, 2, 1, 0, 0, 0)},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t s = 0, e = 0;
        assert_int_equal(dp_quota_period(cases[i].p, cases[i].t, &s, &e), 0);
        assert_int_equal(s, cases[i].start);
        assert_int_equal(e, cases[i].end);
    }
    int64_t s, e;
    assert_int_equal(dp_quota_period(DP_QUOTA_NONE, 0, &s, &e), -EINVAL);
}

static void
test_quota_take(void **state)
{
    (void)state;
    _Atomic uint64_t w = 0;
    int64_t d1 = utc(2026, 12, 2, 0, 0, 0), d2 = utc(2026, 12, 3, 0, 0, 0);
    uint64_t used = 0;
    for (unsigned i = 0; i < 3; i++)
        assert_true(dp_quota_take(&w, d1, 3, &used));
    assert_int_equal(used, 3);
    assert_false(dp_quota_take(&w, d1, 3, &used));
    assert_int_equal(dp_quota_count(atomic_load(&w), d1), 3);
    /* the next period starts from zero without anybody resetting it */
    assert_int_equal(dp_quota_count(atomic_load(&w), d2), 0);
    assert_true(dp_quota_take(&w, d2, 3, &used));
    assert_int_equal(used, 1);
    assert_int_equal(dp_quota_count(atomic_load(&w), d1), 0);
}

/* The lease word: takes what was granted and no more, tells "ask" from "exhausted", a new
 * period starts empty, drain returns exactly what is left. */
static void
test_lease_word(void **state)
{
    (void)state;
    _Atomic uint64_t w = 0;
    int64_t d1 = 20000LL * 86400, d2 = d1 + 86400;
    assert_int_equal(dp_lease_take(&w, d1, true), DP_LEASE_NONE);
    dp_lease_grant(&w, d1, 3, false);
    assert_int_equal(dp_lease_take(&w, d1, false), DP_LEASE_TAKEN); /* peek takes nothing */
    for (int i = 0; i < 3; i++)
        assert_int_equal(dp_lease_take(&w, d1, true), DP_LEASE_TAKEN);
    assert_int_equal(dp_lease_take(&w, d1, true), DP_LEASE_NONE);
    dp_lease_grant(&w, d1, 2, false);
    assert_int_equal(dp_lease_take(&w, d2, true), DP_LEASE_NONE); /* another period */
    assert_int_equal(dp_lease_drain(&w, d1, false), 2);
    assert_int_equal(dp_lease_drain(&w, d1, false), 0);
    dp_lease_grant(&w, d1, 0, true);
    assert_int_equal(dp_lease_take(&w, d1, true), DP_LEASE_EXHAUSTED);
    assert_int_equal(dp_lease_take(&w, d2, true), DP_LEASE_NONE); /* a new period: ask */
    (void)dp_lease_drain(&w, d1, true);
    assert_int_equal(dp_lease_take(&w, d1, true), DP_LEASE_NONE);
    dp_lease_grant(&w, d1, 0, true);
    dp_lease_grant(&w, d1, 1, false); /* a grant lifts "exhausted" */
    assert_int_equal(dp_lease_take(&w, d1, true), DP_LEASE_TAKEN);
    dp_lease_grant(&w, d1, UINT64_MAX, false); /* saturates */
    assert_int_equal(dp_lease_drain(&w, d1, false), DP_LEASE_MAX);
}

struct lease_race {
    _Atomic uint64_t *w;
    int64_t period;
    unsigned taken;
};

static void *
lease_taker(void *arg)
{
    struct lease_race *r = arg;
    while (dp_lease_take(r->w, r->period, true) == DP_LEASE_TAKEN)
        r->taken++;
    return NULL;
}

/* Four threads race for 100,000 leased requests: together they take exactly that many. */
static void
test_lease_word_shared(void **state)
{
    (void)state;
    _Atomic uint64_t w = 0;
    int64_t d1 = 20000LL * 86400;
    dp_lease_grant(&w, d1, 100000, false);
    struct lease_race r[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        r[i] = (struct lease_race){.w = &w, .period = d1};
        assert_int_equal(pthread_create(&t[i], NULL, lease_taker, &r[i]), 0);
    }
    unsigned total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        total += r[i].taken;
    }
    assert_int_equal(total, 100000);
}

static Edge__V1__ConfigUpdate *
key_delta(uint64_t revision, const char *removed, const char *put_id, bool enabled)
{
    static Edge__V1__ConfigUpdate u;
    static Edge__V1__ResourceRef ref, *refs[1];
    static Edge__V1__Resource res, *puts[1];
    static Edge__V1__ApiKey key;
    Edge__V1__ConfigUpdate ui = EDGE__V1__CONFIG_UPDATE__INIT;
    Edge__V1__ResourceRef ri = EDGE__V1__RESOURCE_REF__INIT;
    Edge__V1__Resource resi = EDGE__V1__RESOURCE__INIT;
    Edge__V1__ApiKey ki = EDGE__V1__API_KEY__INIT;
    u = ui;
    ref = ri;
    res = resi;
    key = ki;
    u.revision = revision;
    if (removed) {
        ref.type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY;
        ref.id = (char *)removed;
        refs[0] = &ref;
        u.remove = refs;
        u.n_remove = 1;
    }
    if (put_id) {
        key.id = (char *)put_id;
        key.enabled = enabled;
        res.type = EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY;
        res.id = (char *)put_id;
        res.body_case = EDGE__V1__RESOURCE__BODY_KEY;
        res.key = &key;
        puts[0] = &res;
        u.put = puts;
        u.n_put = 1;
    }
    return &u;
}

/* Fast revocation: a delta's removes and disables are refused at once, an enable drops the
 * entry, entries go once every worker runs their revision, a full table skips the fast path. */
static void
test_revoked(void **state)
{
    (void)state;
    static struct dp_revoked r;
    dp_revoked_init(&r);
    uint64_t a = dp_policy_hash_str(0x6b65, "k-00000000000a");
    uint64_t b = dp_policy_hash_str(0x6b65, "k-00000000000b");
    assert_int_equal(dp_revoked_check(&r, a), DP_REVOKED_NONE);
    dp_revoked_note_update(&r, key_delta(5, "k-00000000000a", "k-00000000000b", false));
    assert_int_equal(dp_revoked_check(&r, a), DP_REVOKED_REMOVED);
    assert_int_equal(dp_revoked_check(&r, b), DP_REVOKED_DISABLED);
    dp_revoked_note_update(&r, key_delta(6, NULL, "k-00000000000b", true));
    assert_int_equal(dp_revoked_check(&r, b), DP_REVOKED_NONE);
    Edge__V1__ConfigUpdate *full = key_delta(7, "k-00000000000b", NULL, false);
    full->full = true; /* full snapshots are not deltas: compiled as they are */
    dp_revoked_note_update(&r, full);
    assert_int_equal(dp_revoked_check(&r, b), DP_REVOKED_NONE);
    dp_revoked_expire(&r, 4);
    assert_int_equal(dp_revoked_check(&r, a), DP_REVOKED_REMOVED);
    dp_revoked_expire(&r, 5);
    assert_int_equal(dp_revoked_check(&r, a), DP_REVOKED_NONE);
    assert_int_equal(atomic_load(&r.live), 0);
    /* Fill past 3/4: the rest is left to the compile, nothing breaks. */
    char id[32];
    for (int i = 0; i < DP_REVOKED_SLOTS; i++) {
        snprintf(id, sizeof(id), "k-%012x", i);
        dp_revoked_note_update(&r, key_delta(10, id, NULL, false));
    }
    assert_true(atomic_load(&r.live) <= DP_REVOKED_SLOTS / 4 * 3);
    assert_int_equal(dp_revoked_check(&r, dp_policy_hash_str(0x6b65, "k-000000000000")),
                     DP_REVOKED_REMOVED);
    dp_revoked_expire(&r, 10);
    assert_int_equal(atomic_load(&r.live), 0);
    assert_int_equal(dp_revoked_check(&r, dp_policy_hash_str(0x6b65, "k-000000000000")),
                     DP_REVOKED_NONE);
    dp_revoked_done(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gcra_accuracy),    cmocka_unit_test(test_gcra_burst_and_headers),
        cmocka_unit_test(test_gcra_shared_word), cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_quota_periods),    cmocka_unit_test(test_quota_take),
        cmocka_unit_test(test_lease_word),       cmocka_unit_test(test_lease_word_shared),
        cmocka_unit_test(test_revoked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
