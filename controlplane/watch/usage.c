#include "watch/usage.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

static void
day_of(int64_t t, char out[16])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        out[0] = '\0';
        return;
    }
    (void)strftime(out, 16, "%Y-%m-%d", &tm);
}

int
cp_usage_apply_at(struct cp_store *st, const char *node_id, const Edge__V1__UsageReport *r,
                  int64_t now_s)
{
    (void)node_id; /* usage is per key and plan; which node counted it does not matter */
    int added = 0;
    for (size_t i = 0; r && i < r->n_counts; i++) {
        const Edge__V1__UsageCount *c = r->counts[i];
        if (!c->key_id || !c->key_id[0] || !c->plan || !c->plan[0] || c->count == 0)
            continue;
        int64_t t = now_s;
        if (c->period_start > t)
            t = c->period_start;
        char day[16];
        day_of(t, day);
        struct cp_store_err err = {0};
        int e = cp_store_usage_add(st, c->key_id, c->plan, day, c->count, &err);
        if (e < 0)
            return e; /* the caller logs it with the node's context */
        added++;
    }
    return added;
}

int
cp_usage_apply(struct cp_store *st, const char *node_id, const Edge__V1__UsageReport *r)
{
    return cp_usage_apply_at(st, node_id, r, (int64_t)time(NULL));
}
