#include "upstream/lb_p2c.h"

#include <errno.h>

uint64_t
dp_lb_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static bool
eligible(const struct dp_upstream *u, size_t i, uint64_t skip)
{
    return u->targets[i].resolved && !(i < 64 && (skip >> i) & 1);
}

/* Weighted random choice among the eligible targets. */
int
dp_lb_random_pick(const struct dp_upstream *u, uint64_t skip, uint64_t *rng, size_t *ret_idx)
{
    uint64_t total = 0;
    for (size_t i = 0; i < u->n_targets; i++)
        if (eligible(u, i, skip))
            total += u->targets[i].weight;
    if (total == 0)
        return -ENOENT;
    uint64_t x = dp_lb_rand(rng) % total;
    for (size_t i = 0; i < u->n_targets; i++) {
        if (!eligible(u, i, skip))
            continue;
        if (x < u->targets[i].weight) {
            *ret_idx = i;
            return 0;
        }
        x -= u->targets[i].weight;
    }
    return -ENOENT;
}

int
dp_lb_p2c_pick(const struct dp_upstream *u, const struct dp_pool *pools, uint64_t skip,
               uint64_t *rng, size_t *ret_idx)
{
    size_t a, b;
    if (dp_lb_random_pick(u, skip, rng, &a) < 0)
        return -ENOENT;
    uint64_t skip_a = a < 64 ? skip | (uint64_t)1 << a : skip;
    if (dp_lb_random_pick(u, skip_a, rng, &b) < 0) {
        *ret_idx = a; /* only one candidate */
        return 0;
    }
    /* Fewer requests in flight per unit of weight wins (cross-multiplied, no division). */
    uint64_t la = (uint64_t)pools[u->targets[a].pool_id].active * u->targets[b].weight;
    uint64_t lb = (uint64_t)pools[u->targets[b].pool_id].active * u->targets[a].weight;
    *ret_idx = lb < la ? b : a;
    return 0;
}
