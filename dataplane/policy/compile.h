/* Compiles the key and usage-plan parts of a ConfigUpdate into a snapshot (main thread). */
#ifndef DP_POLICY_COMPILE_H
#define DP_POLICY_COMPILE_H

#include "edge/v1/config.pb-c.h"
#include "snapshot/snapshot.h"

#include <stddef.h>

/* Route fields: api_key_required / api_key_in / api_key_name and throttle. 0, or -EINVAL with
 * the reason in err, or -ENOMEM. */
int dp_policy_compile_route(struct dp_snapshot *s, const Edge__V1__Route *rt, struct dp_route *out,
                            char *err, size_t err_len);
/* Stage fields: the default throttle and the stage's bucket name. */
int dp_policy_compile_stage(struct dp_snapshot *s, const Edge__V1__Stage *st, struct dp_stage *out,
                            char *err, size_t err_len);
/* Plans, after every stage is compiled; also attaches the registries' bucket table and key
 * store (created on first use) and records the fleet size the control plane reported. */
int dp_policy_compile(struct dp_snapshot *s, const Edge__V1__ConfigUpdate *cfg,
                      struct dp_registries *reg, char *err, size_t err_len);
/* Once everything else compiled: applies the key changes (NULL: cfg's keys are all of them)
 * to the key store and gives the snapshot the store's index. Cannot fail: returns how many
 * keys were refused (no usable hash, another key's secret, out of memory; each left out). */
int dp_policy_apply_keys(struct dp_snapshot *s, const Edge__V1__ConfigUpdate *cfg,
                         const struct dp_key_changes *keys, struct dp_registries *reg);

#endif
