#include "policy/throttle.h"

#include <math.h>

static uint32_t
ceil_s(uint64_t ns)
{
    uint64_t s = (ns + 999999999ULL) / 1000000000ULL;
    return s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

bool
dp_throttle_take(_Atomic uint64_t *tat, const struct dp_throttle *t, unsigned fleet,
                 uint64_t now_ns, struct dp_throttle_result *ret)
{
    if (fleet == 0)
        fleet = 1;
    double interval = 1e9 * (double)fleet / t->rate;
    if (interval < 1)
        interval = 1;
    if (interval > 1e18)
        interval = 1e18;
    uint64_t T = (uint64_t)interval;
    uint32_t burst = t->burst ? t->burst : 1;
    uint32_t node_burst = (uint32_t)((burst + fleet - 1) / fleet);
    if (node_burst == 0)
        node_burst = 1;
    uint64_t tau = T * (uint64_t)(node_burst - 1);
    /* The word is 0 before first use; otherwise a TAT. now_ns is never 0 in practice. */
    uint64_t old = atomic_load_explicit(tat, memory_order_relaxed);
    for (;;) {
        uint64_t base = old > now_ns ? old : now_ns;
        if (base - now_ns > tau) {
            if (ret) {
                ret->limit = node_burst;
                ret->remaining = 0;
                ret->retry_s = ceil_s(base - now_ns - tau);
                if (ret->retry_s == 0)
                    ret->retry_s = 1;
                ret->reset_s = ceil_s(base - now_ns);
            }
            return false;
        }
        uint64_t next = base + T;
        if (atomic_compare_exchange_weak_explicit(tat, &old, next, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            if (ret) {
                uint64_t used = next - now_ns; /* <= tau + T */
                uint64_t left = tau + T - used;
                ret->limit = node_burst;
                ret->remaining = (uint32_t)(left / T);
                ret->reset_s = ceil_s(used);
                ret->retry_s = 0;
            }
            return true;
        }
    }
}
