#include "upstream/lb_rr.h"

#include <errno.h>
#include <stdlib.h>

void
dp_lb_rr_done(struct dp_lb_rr *st)
{
    free(st->current);
    st->current = NULL;
    st->n = 0;
    st->for_up = NULL;
}

int
dp_lb_rr_pick(struct dp_lb_rr *st, const struct dp_upstream *u, uint64_t skip, size_t *ret_idx)
{
    if (st->for_up != u) {
        /* Once per snapshot swap, not per request. */
        int64_t *cur = calloc(u->n_targets ? u->n_targets : 1, sizeof(*cur));
        if (!cur)
            return -ENOMEM;
        free(st->current);
        st->current = cur;
        st->n = u->n_targets;
        st->for_up = u;
    }
    int64_t total = 0;
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < u->n_targets; i++) {
        const struct dp_target *t = &u->targets[i];
        if (!t->resolved || (i < 64 && (skip >> i) & 1))
            continue;
        st->current[i] += t->weight;
        total += t->weight;
        if (best == SIZE_MAX || st->current[i] > st->current[best])
            best = i;
    }
    if (best == SIZE_MAX)
        return -ENOENT;
    st->current[best] -= total;
    *ret_idx = best;
    return 0;
}
