/* Compiled usage plans and per-route key/throttle settings: snapshot data (immutable). */
#ifndef DP_POLICY_PLAN_H
#define DP_POLICY_PLAN_H

#include "policy/quota.h"
#include "policy/throttle.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_stage;

struct dp_plan_route {
    const struct dp_stage *stage;
    const char *method, *path; /* as the route: "GET" or "ANY", the template */
    struct dp_throttle throttle;
    uint64_t id;
};

struct dp_plan {
    const char *name;
    uint64_t id; /* stable bucket name */
    struct dp_throttle throttle;
    uint64_t quota_limit; /* 0: no quota */
    enum dp_quota_period period;
    const struct dp_stage **stages; /* the stages it covers (those in this snapshot) */
    size_t n_stages;
    struct dp_plan_route *routes;
    size_t n_routes;
};

/* Per-route settings compiled from edge.v1.Route. */
struct dp_route_policy {
    bool key_required;
    bool key_in_query;    /* false: a header */
    const char *key_name; /* "x-api-key" by default */
    size_t key_name_len;
    struct dp_throttle throttle;
    uint64_t id; /* stable bucket name (route id) */
};

#endif
