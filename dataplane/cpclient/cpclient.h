/* The data plane's config client: keeps one Config/Watch stream to the control plane open,
 * merges every update (full or delta) into the complete configuration, hands it to the node,
 * caches it on disk, and acks or nacks each revision.
 *
 * Threading: the stream (gRPC over HTTP/2 with nghttp2, cpstream.c) runs on a thread of the
 * client's own; every callback below but on_receive runs on the
 * thread that runs `loop` (the node's main libev loop), woken with ev_async. */
#ifndef DP_CPCLIENT_H
#define DP_CPCLIENT_H

#include "edge/v1/config.pb-c.h"
#include "policy/keychange.h"

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_cpclient;

struct dp_cpclient_config {
    const char *target;    /* "127.0.0.1:9090" */
    const char *cache_dir; /* snapshot cache and node id live here; created if missing */
    const char *node_id;   /* NULL: read from cache_dir/node-id, or made once and saved there */
    const char *version;   /* this binary's version, sent in Hello */
    const char *token;     /* node token; NULL: none */
    const char *ca_file, *cert_file,
        *key_file;                /* TLS / mTLS to the control plane; NULL: plaintext */
    const char *const *listeners; /* NULL-terminated, for Hello; may be NULL */
    /* Called on the stream thread with every update as it arrives, before the loop sees it (it
     * must be quick and thread-safe); may be NULL. */
    void (*on_receive)(void *ctx, const Edge__V1__ConfigUpdate *upd);
    void *on_receive_ctx;
    /* Every API key the node holds, one sink call each (loop thread), for rewriting the
     * cached keys from the node's own store (cpkeys.h); may be NULL (then only a full
     * snapshot rewrites them). */
    int (*keys_each)(void *ctx,
                     int (*sink)(void *sink_ctx, const char *id, const Edge__V1__ApiKey *key),
                     void *sink_ctx);
    void *keys_each_ctx;
};

/* Called with the complete configuration but its API keys (full=true, every other resource in
 * put) and the key changes since the configuration last accepted (or, with keys->reset, every
 * key), both borrowed for the call. Return 0 to accept (the client then writes the cache --
 * temp file, fsync, rename -- and acks), or a negative errno with a reason in err to nack (the
 * node keeps what it had, keys included). */
typedef int (*dp_cpclient_apply_fn)(void *ctx, const Edge__V1__ConfigUpdate *config,
                                    const struct dp_key_changes *keys, char *err, size_t err_len);

/* NULL on failure (message in err). */
struct dp_cpclient *dp_cpclient_new(struct ev_loop *loop, const struct dp_cpclient_config *cfg,
                                    dp_cpclient_apply_fn apply, void *ctx, char *err,
                                    size_t err_len);
/* Loads the cached snapshot if there is one (apply runs before this returns), then starts the
 * stream thread, which connects and reconnects with exponential backoff and jitter. */
int dp_cpclient_start(struct dp_cpclient *c);
/* Stops the stream and joins the thread. Accepts NULL; returns NULL. */
struct dp_cpclient *dp_cpclient_free(struct dp_cpclient *c);

const char *dp_cpclient_node_id(const struct dp_cpclient *c);
bool dp_cpclient_connected(const struct dp_cpclient *c);
/* The revision of the configuration last accepted (from the stream or the cache); 0: none. */
uint64_t dp_cpclient_revision(const struct dp_cpclient *c);
/* Fleet size the control plane reported last (for sharing fleet-wide limits); 0: unknown. */
unsigned dp_cpclient_fleet_size(const struct dp_cpclient *c);
/* Sends a usage report on the stream (borrowed; packed before this returns). Loop thread.
 * 0 when it went out, -EAGAIN when the stream is down or busy with another message (the
 * caller keeps its counts and tries again later), -ENOMEM. */
int dp_cpclient_send_usage(struct dp_cpclient *c, const Edge__V1__UsageReport *report);

/* Updates with revision 0 (quota lease answers, fleet-size notices) go to fn on the loop
 * thread, with the generation of the stream they came on (see dp_cpclient_stream); the first
 * message of every new stream calls fn with no grants first. */
typedef void (*dp_cpclient_grants_fn)(void *ctx, Edge__V1__QuotaGrant *const *grants, size_t n,
                                      unsigned generation);
void dp_cpclient_on_grants(struct dp_cpclient *c, dp_cpclient_grants_fn fn, void *ctx);
/* Whether a stream is up whose control plane grants quota leases (it said so), and the
 * stream's generation: a new stream, a new generation. */
bool dp_cpclient_stream(struct dp_cpclient *c, unsigned *ret_generation);
/* Queues quota lease messages (borrowed; packed before this returns) for the stream, behind
 * what is in flight. 0, -EAGAIN (no stream), -ENOBUFS (queue full), -ENOMEM. Loop thread. */
int dp_cpclient_send_leases(struct dp_cpclient *c, const Edge__V1__QuotaLeases *leases);

/* Nothing is waiting to go out on the stream (or there is no stream). Any thread. */
bool dp_cpclient_sends_idle(struct dp_cpclient *c);

#endif
