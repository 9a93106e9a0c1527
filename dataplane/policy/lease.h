/* Quota leases, the node's side (DESIGN §5; the lease word is in policy/quota.h).
 *
 * A worker whose request finds no leased request left for its (key, plan, period) queues a
 * need here and parks the request; the main thread batches the needs into QuotaLease messages
 * for the control plane, and applies its QuotaGrants to the lease words: a grant adds leased
 * requests, "exhausted" marks the period used up, a recall takes back what is unused (sent
 * back as a release). After every grant the workers are kicked to retry what they parked.
 *
 * Needs, and the requests admitted for an entry since the last usage report, travel in the same
 * message, so the control plane's ledger is exact whatever the report timing. When the stream
 * to the control plane changes (lost, or a new one), every lease is dropped: the control plane
 * dropped them too; workers fall back to the share ceil(limit / fleet) while `on` is false.
 *
 * Threads: dp_leases_need() on any worker (a mutex around a bounded queue, taken only when a
 * lease runs out); everything else on the main thread. */
#ifndef DP_POLICY_LEASE_H
#define DP_POLICY_LEASE_H

#include "edge/v1/config.pb-c.h"
#include "policy/buckets.h"

#include <ev.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct dp_leases;

/* Sends a batch on the stream (borrowed). 0, or a negative errno (the needs are asked again
 * by the next request that finds no lease). */
typedef int (*dp_leases_send_fn)(void *ctx, const Edge__V1__QuotaLeases *batch);
/* Tells every worker to retry its parked requests. */
typedef void (*dp_leases_kick_fn)(void *ctx);

/* NULL on failure. The watcher on loop (the main thread's) is unref'd: it keeps nothing
 * running. */
struct dp_leases *dp_leases_new(struct ev_loop *loop, dp_leases_send_fn send,
                                dp_leases_kick_fn kick, void *ctx);
/* Attaches the node's bucket table (created with the first configuration that has policies):
 * from then on workers see the leases through b->leases. Main thread; idempotent. */
void dp_leases_attach(struct dp_leases *l, struct dp_buckets *b);
/* Detaches from the bucket table (workers stopped or about to). */
void dp_leases_detach(struct dp_leases *l);
void dp_leases_free(struct dp_leases *l);

/* Workers: true while leases are in force (the stream is up). */
bool dp_leases_on(const struct dp_leases *l);
/* Workers: asks for a lease for usage word uid (policy/usage.h). Strings are copied.
 * 0, or -ENOSPC (queue full, or a name too long): the caller falls back to the share. */
int dp_leases_need(struct dp_leases *l, uint64_t uid, const char *key_id, const char *plan,
                   int64_t period_start);

/* Main thread. */
/* The stream is up (a new one: every lease of the previous one is dropped) or down. */
void dp_leases_stream(struct dp_leases *l, bool up, uint64_t generation);
void dp_leases_on_grants(struct dp_leases *l, Edge__V1__QuotaGrant *const *grants, size_t n);
/* A new configuration: plans may have changed, so "exhausted" marks go (asked again). */
void dp_leases_config_changed(struct dp_leases *l);
/* Once a second: "exhausted" marks older than a few seconds go. */
void dp_leases_tick(struct dp_leases *l);

#endif
