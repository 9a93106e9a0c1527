/* Buffers, the buffer pool, the idle-connection pool list and smooth weighted round robin. */
#include "core/buf.h"
#include "upstream/lb_p2c.h"
#include "upstream/lb_rr.h"
#include "upstream/pool.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <errno.h>
#include <string.h>

static void
test_buf(void **state)
{
    struct dp_bufpool p;
    dp_bufpool_init(&p, 1);
    struct dp_buf a = {0}, b = {0}, c = {0};
    assert_int_equal(dp_buf_room(&a), 0);
    assert_int_equal(dp_buf_acquire(&a, &p), 0);
    assert_int_equal(dp_buf_room(&a), DP_BUF_BYTES);
    assert_int_equal(dp_buf_append(&a, "hello", 5), 0);
    a.rpos = 2;
    dp_buf_compact(&a);
    assert_int_equal(a.rpos, 0);
    assert_memory_equal(a.data, "llo", 3);
    /* release keeps unread bytes unless forced */
    dp_buf_release(&a, &p, false);
    assert_non_null(a.data);
    dp_buf_release(&a, &p, true);
    assert_null(a.data);
    assert_int_equal(p.n_free, 1);
    assert_int_equal(p.n_out, 0);
    /* the cached block is reused; beyond max_free blocks are freed */
    assert_int_equal(dp_buf_acquire(&b, &p), 0);
    assert_int_equal(p.n_free, 0);
    assert_int_equal(dp_buf_acquire(&c, &p), 0);
    assert_int_equal(p.n_out, 2);
    char big[DP_BUF_BYTES + 1];
    memset(big, 'x', sizeof(big));
    assert_int_equal(dp_buf_append(&b, big, sizeof(big)), -ENOSPC);
    assert_int_equal(dp_buf_len(&b), 0);
    assert_int_equal(dp_buf_append(&b, big, DP_BUF_BYTES), 0);
    assert_int_equal(dp_buf_room(&b), 0);
    dp_buf_release(&b, &p, true);
    dp_buf_release(&c, &p, true);
    assert_int_equal(p.n_free, 1);
    dp_bufpool_done(&p);
}

static void
test_pool(void **state)
{
    struct dp_pool p;
    dp_pool_init(&p);
    struct dp_pool_link l[3];
    assert_null(dp_pool_pop(&p));
    for (int i = 0; i < 3; i++)
        dp_pool_push(&p, &l[i]);
    assert_int_equal(p.n_idle, 3);
    dp_pool_remove(&p, &l[1]);
    assert_ptr_equal(dp_pool_pop(&p), &l[2]); /* LIFO */
    assert_ptr_equal(dp_pool_pop(&p), &l[0]);
    assert_null(dp_pool_pop(&p));
    assert_int_equal(p.n_idle, 0);
}

static void
test_lb_rr(void **state)
{
    struct dp_target t[3] = {
        {.weight = 5, .resolved = true},
        {.weight = 1, .resolved = true},
        {.weight = 1, .resolved = true},
    };
    struct dp_upstream u = {.targets = t, .n_targets = 3};
    struct dp_lb_rr st = {0};
    /* nginx's smooth sequence for 5,1,1 */
    static const size_t want[7] = {0, 0, 1, 0, 2, 0, 0};
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 7; i++) {
            size_t idx;
            assert_int_equal(dp_lb_rr_pick(&st, &u, 0, &idx), 0);
            assert_int_equal(idx, want[i]);
        }
    }
    size_t idx;
    assert_int_equal(dp_lb_rr_pick(&st, &u, 1, &idx), 0); /* skip target 0 */
    assert_true(idx == 1 || idx == 2);
    assert_int_equal(dp_lb_rr_pick(&st, &u, 7, &idx), -ENOENT);
    t[1].resolved = false;
    assert_int_equal(dp_lb_rr_pick(&st, &u, 5, &idx), -ENOENT);
    dp_lb_rr_done(&st);
}

static void
test_lb_p2c_random(void **state)
{
    struct dp_target t[2] = {
        {.weight = 3, .resolved = true, .pool_id = 0},
        {.weight = 1, .resolved = true, .pool_id = 1},
    };
    struct dp_upstream u = {.targets = t, .n_targets = 2};
    struct dp_pool pools[2];
    dp_pool_init(&pools[0]);
    dp_pool_init(&pools[1]);
    uint64_t rng = 42;
    unsigned hits[2] = {0};
    for (int i = 0; i < 4000; i++) {
        size_t idx;
        assert_int_equal(dp_lb_random_pick(&u, 0, &rng, &idx), 0);
        hits[idx]++;
    }
    /* weights 3:1, within a generous margin */
    assert_true(hits[0] > 2700 && hits[0] < 3300);
    /* least request: the idle target wins whatever its weight */
    pools[0].active = 10;
    for (int i = 0; i < 50; i++) {
        size_t idx;
        assert_int_equal(dp_lb_p2c_pick(&u, pools, 0, &rng, &idx), 0);
        assert_int_equal(idx, 1);
    }
    size_t idx;
    assert_int_equal(dp_lb_p2c_pick(&u, pools, 2, &rng, &idx), 0); /* only target 0 left */
    assert_int_equal(idx, 0);
    assert_int_equal(dp_lb_p2c_pick(&u, pools, 3, &rng, &idx), -ENOENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_pool),
        cmocka_unit_test(test_lb_rr),
        cmocka_unit_test(test_lb_p2c_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
