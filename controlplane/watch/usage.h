/* Usage reports from data-plane nodes (NodeMessage.usage on Config/Watch): added to the store's
 * per-key, per-plan, per-day usage. */
#ifndef CP_USAGE_H
#define CP_USAGE_H

#include "edge/v1/config.pb-c.h"
#include "store/store.h"

#include <stdint.h>

/* Adds every count of r (borrowed) reported by node_id to its key's usage on the UTC day of
 * now_s (counts are deltas the node sends about once a second, so the day they arrive is the
 * day they were made, give or take a second at midnight; a period_start ahead of now_s -- a
 * node clock ahead of ours -- wins). Entries without a key id or plan, or with a zero count,
 * are skipped. Returns the number of counts added (>= 0), or the first store error as a
 * negative errno (counts before it stay added). */
int cp_usage_apply_at(struct cp_store *st, const char *node_id, const Edge__V1__UsageReport *r,
                      int64_t now_s);
/* One count (the rules above): 1 when added, 0 when skipped, or a negative errno. */
int cp_usage_add(struct cp_store *st, const char *key_id, const char *plan, int64_t period_start,
                 uint64_t count, int64_t now_s);
/* cp_usage_apply_at() with the current time. */
int cp_usage_apply(struct cp_store *st, const char *node_id, const Edge__V1__UsageReport *r);

#endif
