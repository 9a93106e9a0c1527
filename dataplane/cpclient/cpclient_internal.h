/* The config client's insides, shared by its two halves: cpclient.c (the API and the node's
 * loop thread: merge, apply, cache) and cpstream.c (the gRPC thread: the Watch call, its
 * reconnects, reads and sends). Not for use outside dataplane/cpclient. */
#ifndef DP_CPCLIENT_INTERNAL_H
#define DP_CPCLIENT_INTERNAL_H

#include "cpclient.h"
#include "cpmerge.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WATCH_METHOD         "/edge.v1.Config/Watch"
#define BACKOFF_INITIAL_MS   200
#define BACKOFF_MAX_MS       5000
#define KEEPALIVE_TIME_MS    10000
#define KEEPALIVE_TIMEOUT_MS 5000
#define MAX_RECEIVE_BYTES    (256 << 20)
/* Past this many queued updates the gRPC thread stops reading, so that a stalled loop pushes
 * back on the control plane (which then coalesces) instead of growing a queue. */
#define RX_QUEUE_MAX 64
/* How long the gRPC thread sleeps in cq_next at most: bounds the latency of stop requests and
 * of resuming a paused read. */
#define POLL_MS 100

enum tag_kind {
    TAG_STATUS,
    TAG_RECV,
    TAG_SEND,
};

struct tag {
    enum tag_kind kind;
};

struct rx_item {
    Edge__V1__ConfigUpdate *upd;
    unsigned gen; /* the stream it came from */
    struct rx_item *next;
};

/* A packed NodeMessage waiting for the send slot (quota leases: they must not be lost while
 * another message is in flight, unlike usage counts, which wait in their counters). */
struct tx_item {
    grpc_byte_buffer *bb;
    struct tx_item *next;
};
#define TX_QUEUE_MAX 256

struct pending_ack {
    bool have;
    uint64_t revision;
    bool ok;
    char error[512];
};

struct dp_cpclient {
    struct ev_loop *loop;
    ev_async rx_async;
    dp_cpclient_apply_fn apply;
    void *apply_ctx;
    void (*on_receive)(void *ctx, const Edge__V1__ConfigUpdate *upd);
    void *on_receive_ctx;
    int (*keys_each)(void *ctx, int (*sink)(void *, const char *, const Edge__V1__ApiKey *),
                     void *sink_ctx);
    void *keys_each_ctx;
    dp_cpclient_grants_fn grants;
    void *grants_ctx;
    unsigned grants_gen; /* the stream grants last heard of (loop thread) */

    char *target, *cache_dir, *version;
    char node_id[129];
    char **listeners;
    size_t n_listeners;
    grpc_channel_credentials *creds; /* NULL: plaintext */
    bool have_auth_md;
    grpc_metadata auth_md;

    /* Loop thread only. */
    struct dp_cpmerge *merge;
    unsigned drop_gen;    /* updates of streams up to this one are dropped (resync asked) */
    ev_tstamp trimmed_at; /* last malloc_trim() after an apply */
    bool started;

    pthread_t thread;
    bool thread_started;
    grpc_completion_queue *cq;
    grpc_channel *channel;

    pthread_mutex_t mu;
    /* Under mu. */
    struct rx_item *rx_head, *rx_tail;
    size_t rx_len;
    bool recv_paused;
    bool stopping;
    bool resync; /* the next Hello asks for a full snapshot (revision 0) */
    uint64_t hello_revision;
    char *hello_store_id;
    grpc_call *call;
    unsigned gen;        /* of the current call; bumped per call */
    unsigned leases_gen; /* the call whose control plane said it grants leases */
    bool call_open;      /* sends may start: the status has not arrived */
    bool send_busy;
    grpc_byte_buffer *send_bb;
    struct pending_ack ack;
    struct tx_item *tx_head, *tx_tail;
    size_t tx_len;
    int ops; /* batches started and not completed */

    /* gRPC thread only. */
    struct tag t_status, t_recv, t_send;
    grpc_metadata_array md_initial, md_trailing;
    grpc_status_code status;
    grpc_slice status_details;
    const char *status_error;
    grpc_byte_buffer *recv_bb;
    bool status_done;
    bool got_data;
    bool reported_down; /* "cannot reach" is logged once per outage */
    unsigned backoff_ms;
    gpr_timespec next_attempt;
    uint64_t rng;

    atomic_bool connected;
    _Atomic uint64_t revision;
    atomic_uint fleet_size;
};

/* printf into err (if any). */
void dp_cpclient_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- cpstream.c ---- */

/* TLS credentials from cfg's PEM files (any of ca/cert/key set), or NULL with err set. */
grpc_channel_credentials *dp_cpstream_creds_new(const struct dp_cpclient_config *cfg, char *err,
                                                size_t err_len);
/* The channel to c->target with our keepalive, backoff and message-size settings. */
grpc_channel *dp_cpstream_channel_new(struct dp_cpclient *c);
/* The gRPC thread (pthread start routine; arg: the client). Returns once c->stopping is set
 * and the call is over. */
void *dp_cpstream_main(void *arg);
/* From the loop thread: queues an ack (newest wins) for the live stream. */
void dp_cpstream_send_ack(struct dp_cpclient *c, uint64_t revision, bool ok, const char *error);
/* Under mu: starts the next send if the slot is free (a pending ack first, then queued
 * messages). */
void dp_cpstream_start_send_locked(struct dp_cpclient *c);
/* Under mu (or once the gRPC thread is gone): frees the queued messages. */
void dp_cpstream_drop_tx(struct dp_cpclient *c);
/* From the loop thread: stream gen sent a delta we cannot place; end it and ask for a full
 * snapshot. */
void dp_cpstream_resync(struct dp_cpclient *c, unsigned gen);

#endif
