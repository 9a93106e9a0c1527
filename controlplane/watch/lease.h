/* Quota leases, the control plane's side (DESIGN §5; docs/controlplane.md "Quota leases").
 *
 * A ledger per (key, plan, quota period) holds the period's usage (persisted, from the store
 * and every count the nodes send) and, per node, what it holds: requests leased to it and not
 * yet reported as used. What is left to lease is
 *     limit - used - sum(held)
 * so the fleet admits at most the quota while nodes report. A node that asks when nothing is
 * left waits while every node holding something is recalled (it gives back what it has not
 * used, and reports what it has); then it gets what came back, or "exhausted". A node whose
 * stream ends loses what it held: its unreported requests are the only overshoot, at most the
 * lease it held (see LEASE_CHUNK_MAX).
 *
 * Single-threaded: runs on the control plane's gRPC thread, like the rest of the watch. */
#ifndef CP_WATCH_LEASE_H
#define CP_WATCH_LEASE_H

#include "edge/v1/config.pb-c.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* Largest lease handed out at once: bounds what a crashed node can overshoot by. */
#define CP_LEASE_CHUNK_MAX 10000

struct cp_leases;

/* Queues g (borrowed) for node's stream. false: it could not be queued (the grant is then not
 * counted as held). */
typedef bool (*cp_leases_emit_fn)(void *node, const Edge__V1__QuotaGrant *g);

struct cp_leases *cp_leases_new(struct cp_store *st, cp_leases_emit_fn emit);
void cp_leases_free(struct cp_leases *l);

/* A QuotaLeases message from node (an opaque handle, one per stream); nodes: how many are
 * connected (lease sizes are shares of what is left). Errors are logged, never fatal. */
void cp_leases_on_message(struct cp_leases *l, void *node, const Edge__V1__QuotaLeases *m,
                          unsigned nodes, int64_t now_s);
/* A usage report from node (already stored): what it reports used is no longer held. */
void cp_leases_on_report(struct cp_leases *l, void *node, const Edge__V1__UsageReport *r);
/* node's stream ended: what it held is dropped, its waits are forgotten. */
void cp_leases_node_gone(struct cp_leases *l, void *node);

/* For tests and status: what the ledger of (key, plan, period) says. false: no such entry. */
bool cp_leases_peek(const struct cp_leases *l, const char *key_id, const char *plan,
                    int64_t period_start, uint64_t *ret_used, uint64_t *ret_held);

#endif
