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
cp_usage_add(struct cp_store *st, const char *key_id, const char *plan, int64_t period_start,
             uint64_t count, int64_t now_s)
{
    if (!key_id || !key_id[0] || !plan || !plan[0] || count == 0)
        return 0;
    int64_t t = now_s;
    if (period_start > t)
        t = period_start;
    char day[16];
    day_of(t, day);
    struct cp_store_err err = {0};
    int e = cp_store_usage_add(st, key_id, plan, day, count, &err);
    return e < 0 ? e : 1;
}

int
cp_usage_apply_at(struct cp_store *st, const char *node_id, const Edge__V1__UsageReport *r,
                  int64_t now_s)
{
    (void)node_id; /* usage is per key and plan; which node counted it does not matter */
    int added = 0;
    struct cp_store_err err = {0};
    bool batch = r && r->n_counts > 1 && cp_store_usage_batch(st, true, &err) == 0;
    for (size_t i = 0; r && i < r->n_counts; i++) {
        const Edge__V1__UsageCount *c = r->counts[i];
        int e = cp_usage_add(st, c->key_id, c->plan, c->period_start, c->count, now_s);
        if (e < 0) {
            added = e; /* the caller logs it with the node's context */
            break;
        }
        added += e;
    }
    /* A failed add ends the batch too: the counts before it stay, as without one. */
    if (batch && cp_store_usage_batch(st, false, &err) < 0 && added >= 0)
        added = err.code ? err.code : -EIO;
    return added;
}

int
cp_usage_apply(struct cp_store *st, const char *node_id, const Edge__V1__UsageReport *r)
{
    return cp_usage_apply_at(st, node_id, r, (int64_t)time(NULL));
}
