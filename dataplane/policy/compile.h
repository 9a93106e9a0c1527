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
/* Plans and keys, after every stage is compiled; also attaches the registries' bucket table
 * (created on first use) and records the fleet size the control plane reported. */
int dp_policy_compile(struct dp_snapshot *s, const Edge__V1__ConfigUpdate *cfg,
                      struct dp_registries *reg, char *err, size_t err_len);

#endif
