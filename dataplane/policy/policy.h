/* The key and usage-plan policies of a route, in DESIGN §3's order: authentication by API key,
 * then throttles (stage, route, plan, plan-route), then the plan's quota. Runs on a worker,
 * reads the immutable snapshot and touches only the shared bucket words. */
#ifndef DP_POLICY_H
#define DP_POLICY_H

#include "http/h1_parse.h"
#include "policy/apikey.h"
#include "policy/buckets.h"
#include "policy/keystore.h"
#include "policy/plan.h"
#include "policy/quota.h"
#include "policy/throttle.h"
#include "snapshot/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* dp_policy_check() status: no lease left; a lease was asked for; retry when kicked. */
#define DP_POLICY_PARKED 1
/* dp_policy_check() flag: do not wait for a lease, enforce the node's share of the quota (the
 * lease did not come in time). */
#define DP_POLICY_NO_LEASE 1u

struct dp_policy_verdict {
    int status;               /* 0: go on to the upstream; DP_POLICY_PARKED; else the error */
    const char *message;      /* with status */
    const struct dp_key *key; /* the caller's key when one was checked (key_buf) */
    struct dp_key key_buf;
    const struct dp_plan *plan;
    bool throttled;    /* a throttle applied: headers holds RateLimit-* (and Retry-After) */
    char headers[128]; /* "Name: value\r\n"... for the response (fits every field at max) */
};

/* The credential of the request per the route's policy: 0 with the value, or -ENOENT. */
int dp_policy_find_key(const struct dp_route_policy *rp, const struct dp_h1_head *h,
                       const char *base, const char *query, size_t query_len, const char **ret,
                       size_t *ret_len);

/* Applies the policies. key is the credential found (NULL: none). now_ns on CLOCK_MONOTONIC
 * for throttles, now_s Unix time for expiry and quota periods. A quota-limited request with
 * no lease left comes back DP_POLICY_PARKED before any throttle is charged (unless flags has
 * DP_POLICY_NO_LEASE); the caller waits for the kick (policy/lease.h) and checks again. */
void dp_policy_check(const struct dp_snapshot *s, const struct dp_stage *stage,
                     const struct dp_route *route, const char *key, size_t key_len, uint64_t now_ns,
                     int64_t now_s, unsigned flags, struct dp_policy_verdict *ret);

#endif
