/* The config client's insides, shared by its parts: cpclient.c (the API and the node's loop
 * thread: merge, apply, cache), cpstream.c (the stream thread: the Watch call over HTTP/2 with
 * nghttp2, its reconnects, reads and sends) and cpconn.c (that thread's socket and TLS).
 * Not for use outside dataplane/cpclient. */
#ifndef DP_CPCLIENT_INTERNAL_H
#define DP_CPCLIENT_INTERNAL_H

#include "cpclient.h"
#include "cpmerge.h"

#include <openssl/ssl.h>
#include <protobuf-c/protobuf-c.h>
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
/* TCP connect and TLS handshake together, per attempt. */
#define CONNECT_TIMEOUT_MS 5000
#define MAX_RECEIVE_BYTES  (256 << 20)
/* Our HTTP/2 receive window (stream and connection): what the control plane may send ahead of
 * what the node has taken in. Big enough that a multi-megabyte snapshot needs few round trips,
 * small next to what RX_QUEUE_MAX updates may hold anyway. */
#define RECV_WINDOW_BYTES (4 << 20)
/* Past this many queued updates the stream thread stops returning HTTP/2 flow-control credit,
 * so that a stalled loop pushes back on the control plane (which then coalesces) instead of
 * growing a queue; it gives the credit back once the queue is below half of it. */
#define RX_QUEUE_MAX 64
/* The gRPC message prefix: a compressed flag (0) and a 4-byte big-endian length. */
#define GRPC_PREFIX_BYTES 5

struct rx_item {
    Edge__V1__ConfigUpdate *upd;
    unsigned gen; /* the stream it came from */
    struct rx_item *next;
};

/* A packed, gRPC-framed NodeMessage waiting for the send slot (quota leases: they must not be
 * lost while another message is going out, unlike usage counts, which wait in their counters). */
struct tx_item {
    uint8_t *buf; /* GRPC_PREFIX_BYTES + message; owned */
    size_t len;
    struct tx_item *next;
};
#define TX_QUEUE_MAX 256

struct pending_ack {
    bool have;
    uint64_t revision;
    bool ok;
    char error[512];
};

struct dp_cpconn; /* cpconn.h */
struct dp_cph2;   /* cpstream.c: one HTTP/2 connection and its Watch stream */

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
    char *host, *port; /* of target; host without IPv6 brackets */
    char node_id[129];
    char **listeners;
    size_t n_listeners;
    SSL_CTX *tls; /* NULL: plaintext (HTTP/2 with prior knowledge) */
    char *auth;   /* "Bearer <token>" or NULL; wiped before it is freed */

    /* Loop thread only. */
    struct dp_cpmerge *merge;
    unsigned drop_gen;    /* updates of streams up to this one are dropped (resync asked) */
    ev_tstamp trimmed_at; /* last malloc_trim() after an apply */
    bool started;

    pthread_t thread;
    bool thread_started;
    int wake_fd; /* eventfd: any thread pokes the stream thread out of poll() */

    pthread_mutex_t mu;
    /* Under mu. */
    struct rx_item *rx_head, *rx_tail;
    size_t rx_len;
    bool recv_paused; /* flow-control credit withheld until the loop drains the queue */
    bool stopping;
    bool resync; /* the next Hello asks for a full snapshot (revision 0) */
    bool cancel; /* the loop thread asked to end the stream of `gen` (resync) */
    uint64_t hello_revision;
    char *hello_store_id;
    unsigned gen;        /* of the current stream; bumped per stream */
    unsigned leases_gen; /* the stream whose control plane said it grants leases */
    bool call_open;      /* sends may be queued: the stream is up and has not ended */
    bool send_busy;      /* the send slot holds a message not yet all handed to nghttp2 */
    uint8_t *send_buf;   /* the send slot: a framed message (owned) */
    size_t send_len, send_off;
    struct pending_ack ack;
    struct tx_item *tx_head, *tx_tail;
    size_t tx_len;

    /* Stream thread only. */
    struct dp_cph2 *h2;
    bool reported_down; /* "cannot reach" is logged once per outage */
    unsigned backoff_ms;
    int64_t next_attempt_ms; /* CLOCK_MONOTONIC */
    uint64_t rng;

    atomic_bool connected;
    _Atomic uint64_t revision;
    atomic_uint fleet_size;
};

/* printf into err (if any). */
void dp_cpclient_set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- cpstream.c ---- */

/* The stream thread (pthread start routine; arg: the client). Returns once c->stopping is set;
 * the stream and its connection are gone by then. */
void *dp_cpstream_main(void *arg);

/* ---- cpsend.c ---- */

/* CLOCK_MONOTONIC in ms. */
int64_t dp_cpstream_now_ms(void);
/* ms/2 .. ms, to spread a fleet's reconnects apart. */
unsigned dp_cpstream_jitter(struct dp_cpclient *c, unsigned ms);
/* Packs msg behind a gRPC message prefix into *ret_buf (owned; free()). 0 or -ENOMEM. */
int dp_cpstream_pack(const ProtobufCMessage *msg, uint8_t **ret_buf, size_t *ret_len);
/* Hello, framed (owned), or NULL without memory. Under mu. */
uint8_t *dp_cpstream_pack_hello_locked(struct dp_cpclient *c, size_t *ret_len);
/* Under mu: the send slot takes buf (owned), or gives its bytes back (frees them). */
void dp_cpstream_slot_take(struct dp_cpclient *c, uint8_t *buf, size_t len);
void dp_cpstream_slot_clear(struct dp_cpclient *c);
/* Wakes the stream thread (something to send, credit to give back, a stop). Any thread. */
void dp_cpstream_wake(struct dp_cpclient *c);
/* From the loop thread: queues an ack (newest wins) for the live stream. */
void dp_cpstream_send_ack(struct dp_cpclient *c, uint64_t revision, bool ok, const char *error);
/* Under mu: fills the send slot if it is free (a pending ack first, then queued messages).
 * Returns whether the slot took something (then the caller wakes the stream thread, after
 * unlocking). */
bool dp_cpstream_start_send_locked(struct dp_cpclient *c);
/* Under mu (or once the stream thread is gone): frees the queued messages and the slot. */
void dp_cpstream_drop_tx(struct dp_cpclient *c);
/* From the loop thread: stream gen sent a delta we cannot place; end it and ask for a full
 * snapshot. */
void dp_cpstream_resync(struct dp_cpclient *c, unsigned gen);

#endif
