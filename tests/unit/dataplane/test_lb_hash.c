/* Consistent hashing (upstream/lb_hash.c): keys spread by weight, a removed target moves only
 * its own keys, a tried or unresolved target is skipped, the ring is the same for the same
 * targets in any order (every node agrees). */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "upstream/lb_hash.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define KEYS 20000

static void
make(struct dp_upstream *u, struct dp_arena *a, struct dp_target *t, const char *const *names,
     const unsigned *weights, size_t n)
{
    memset(u, 0, sizeof(*u));
    memset(t, 0, n * sizeof(*t));
    for (size_t i = 0; i < n; i++) {
        t[i].authority = names[i];
        t[i].weight = weights[i];
        t[i].resolved = true;
    }
    u->lb = DP_LB_HASH;
    u->targets = t;
    u->n_targets = n;
    assert_int_equal(dp_lb_hash_build(u, a), 0);
}

static size_t
pick(const struct dp_upstream *u, uint32_t key, uint64_t skip)
{
    size_t idx = 99;
    assert_int_equal(dp_lb_hash_pick(u, dp_lb_hash_key(&key, sizeof(key)), skip, &idx), 0);
    return idx;
}

static void
test_spread_and_stability(void **state)
{
    (void)state;
    struct dp_arena a;
    dp_arena_init(&a);
    static const char *const names4[] = {"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80",
                                         "10.0.0.4:80"};
    static const unsigned w4[] = {1, 1, 1, 3};
    struct dp_target t4[4], t3[3];
    struct dp_upstream u4, u3;
    make(&u4, &a, t4, names4, w4, 4);
    /* Target 3 (10.0.0.3) goes: the others keep theirs. */
    static const char *const names3[] = {"10.0.0.4:80", "10.0.0.1:80", "10.0.0.2:80"};
    static const unsigned w3[] = {3, 1, 1};
    make(&u3, &a, t3, names3, w3, 3);
    unsigned count[4] = {0};
    unsigned moved = 0, moved_wrongly = 0;
    for (uint32_t k = 0; k < KEYS; k++) {
        size_t i = pick(&u4, k, 0);
        count[i]++;
        const char *before = names4[i], *after = names3[pick(&u3, k, 0)];
        if (strcmp(before, after) != 0) {
            moved++;
            if (strcmp(before, "10.0.0.3:80") != 0)
                moved_wrongly++;
        }
    }
    /* Shares follow the weights (1/6, 1/6, 1/6, 1/2) within a few percent. */
    for (int i = 0; i < 3; i++)
        assert_in_range(count[i], KEYS / 6 - KEYS / 25, KEYS / 6 + KEYS / 25);
    assert_in_range(count[3], KEYS / 2 - KEYS / 25, KEYS / 2 + KEYS / 25);
    assert_int_equal(moved_wrongly, 0);
    assert_int_equal(moved, count[2]);
    dp_arena_done(&a);
}

static void
test_skip_and_unresolved(void **state)
{
    (void)state;
    struct dp_arena a;
    dp_arena_init(&a);
    static const char *const names[] = {"a:1", "b:1", "c:1"};
    static const unsigned w[] = {1, 1, 1};
    struct dp_target t[3];
    struct dp_upstream u;
    make(&u, &a, t, names, w, 3);
    for (uint32_t k = 0; k < 500; k++) {
        size_t first = pick(&u, k, 0);
        size_t second = pick(&u, k, (uint64_t)1 << first);
        assert_int_not_equal(first, second);
        /* The retry order is the key's too: the same second choice every time. */
        assert_int_equal(second, pick(&u, k, (uint64_t)1 << first));
    }
    t[1].resolved = false;
    for (uint32_t k = 0; k < 500; k++)
        assert_int_not_equal(pick(&u, k, 0), 1);
    size_t idx;
    assert_int_equal(dp_lb_hash_pick(&u, 7, 0x7, &idx), -ENOENT);
    struct dp_upstream empty = {0};
    assert_int_equal(dp_lb_hash_pick(&empty, 7, 0, &idx), -ENOENT);
    dp_arena_done(&a);
}

static void
test_heavy_weights_are_bounded(void **state)
{
    (void)state;
    struct dp_arena a;
    dp_arena_init(&a);
    static const char *const names[] = {"a:1", "b:1"};
    static const unsigned w[] = {1000, 1};
    struct dp_target t[2];
    struct dp_upstream u;
    make(&u, &a, t, names, w, 2);
    assert_true(u.n_ring <= DP_LB_HASH_MAX_POINTS + 2);
    unsigned light = 0;
    for (uint32_t k = 0; k < KEYS; k++)
        light += pick(&u, k, 0) == 1;
    assert_true(light > 0 && light < KEYS / 100);
    dp_arena_done(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spread_and_stability),
        cmocka_unit_test(test_skip_and_unresolved),
        cmocka_unit_test(test_heavy_weights_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
