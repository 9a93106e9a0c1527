/* A worker: one thread, one libev loop, its own SO_REUSEPORT listeners, buffer pool, upstream
 * pools and counters. Nothing here is shared with other workers except the snapshot mailbox
 * (written by the main thread) and the counters (read by the admin port at scrape time). */
#ifndef DP_WORKER_H
#define DP_WORKER_H

#include "core/buf.h"
#include "snapshot/snapshot.h"
#include "upstream/lb_rr.h"
#include "upstream/pool.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Node-wide settings, fixed at start; borrowed by every worker. */
struct dp_settings {
    const char *const *listen; /* NULL-terminated "addr:port" */
    unsigned workers;
    uint32_t header_timeout_ms, idle_timeout_ms, body_timeout_ms;
    uint64_t max_body_bytes;
    uint32_t max_uri_bytes, max_headers;
    uint32_t max_conns_per_worker;
    int access_log_fd; /* -1: off */
};

/* Counters are written by their worker only (single writer, relaxed stores) and read at scrape. */
#define DP_STAT_INC(x)    __atomic_store_n(&(x), (x) + 1, __ATOMIC_RELAXED)
#define DP_STAT_ADD(x, n) __atomic_store_n(&(x), (x) + (n), __ATOMIC_RELAXED)
#define DP_STAT_GET(x)    __atomic_load_n(&(x), __ATOMIC_RELAXED)

#define DP_LAT_BUCKETS 12
extern const double dp_lat_bounds_s[DP_LAT_BUCKETS]; /* upper bounds; the last is +Inf */

struct dp_worker_stats {
    uint64_t requests[6]; /* by code class: [0] none, [1..5] 1xx..5xx */
    uint64_t lat[DP_LAT_BUCKETS];
    uint64_t lat_sum_us, lat_count;
    int64_t active_conns;
    uint64_t conns_total;
    uint64_t up_connect_errors, up_timeouts, up_invalid, up_resets, up_reused;
    uint64_t alloc_failures;
};

/* Per-route counters live in fixed chunks that are never moved, so a scrape never races a
 * resize: chunk pointers are published with release stores. */
#define DP_RSTAT_CHUNK  256
#define DP_RSTAT_CHUNKS 1024
struct dp_route_stat {
    uint64_t by_class[6];
};

/* A worker's hold on one snapshot: requests count themselves in users (a plain integer: only
 * this worker touches it); the snapshot reference goes when the last user does. */
struct dp_snap_hold {
    struct dp_snapshot *snap;
    unsigned users;
};

struct dp_conn;
struct dp_req;

struct dp_worker {
    unsigned idx;
    const struct dp_settings *cfg;
    pthread_t thread;
    struct ev_loop *loop;
    ev_async wake;
    ev_prepare flush;
    ev_timer accept_pause;                 /* listeners paused after EMFILE */
    _Atomic(struct dp_snapshot *) mailbox; /* a new snapshot (with a reference), or NULL */
    atomic_int command;                    /* DP_WORKER_RUN, _DRAIN or _STOP */
    struct dp_snap_hold *hold;             /* current; NULL before the first config */
    int *listen_fds;
    ev_io *listen_w;
    unsigned n_listen;
    bool draining;
    struct dp_bufpool bufs;
    struct dp_req *free_reqs;
    struct dp_conn *conns; /* every client connection, for drain */
    unsigned n_conns;
    struct dp_pool *pools; /* indexed by target pool id */
    uint32_t n_pools;
    struct dp_lb_rr *lbs; /* indexed by upstream lb id */
    uint32_t n_lbs;
    struct dp_route_stat *_Atomic rstats[DP_RSTAT_CHUNKS];
    struct dp_worker_stats stats;
    uint64_t req_seq, id_seed;
    char id_prefix[16]; /* hex of id_seed ^ idx << 56: the fixed half of generated request ids */
    uint64_t rng;       /* xorshift state for the random LB policies */
    void *grave_c, *grave_u;             /* closed connections, freed before the loop sleeps */
    void *flush_head, *flush_tail;       /* upstream connections with a request to write */
    char *alog;                          /* access log lines waiting for the next flush */
    struct dp_req *parked, *parked_tail; /* requests waiting for a quota lease, oldest first */
    size_t n_parked;
    atomic_bool lease_kick;          /* leases changed: retry the parked requests */
    _Atomic uint64_t taken_revision; /* of the snapshot it serves new requests with */
    size_t alog_len;
};

enum { DP_WORKER_RUN = 0, DP_WORKER_DRAIN = 1, DP_WORKER_STOP = 2 };

/* Opens the worker's listeners (SO_REUSEPORT; every worker binds the same addresses). 0, or a
 * negative errno with the message in err. */
int dp_worker_init(struct dp_worker *w, unsigned idx, const struct dp_settings *cfg, char *err,
                   size_t err_len);
int dp_worker_start(struct dp_worker *w);
/* Hands the worker a snapshot (takes the caller's reference). Main thread. */
void dp_worker_publish(struct dp_worker *w, struct dp_snapshot *s);
void dp_worker_command(struct dp_worker *w, int command);
void dp_worker_join(struct dp_worker *w);
void dp_worker_done(struct dp_worker *w);

/* Worker-thread side, used by the proxy. */
struct dp_route_stat *dp_worker_route_stat(struct dp_worker *w, uint32_t id);
void dp_worker_hold_release(struct dp_worker *w, struct dp_snap_hold *h);
void dp_worker_access_log(struct dp_worker *w, const char *line, size_t len);

/* Main thread: leases changed; the worker retries its parked requests. */
void dp_worker_kick_leases(struct dp_worker *w);
/* proxy.c: retries every parked request (worker thread). */
void dp_proxy_resume_parked(struct dp_worker *w);
/* proxy.c: accepted connection (fd non-blocking and CLOEXEC); closes fd on failure. */
void dp_proxy_accept(struct dp_worker *w, int fd, const struct sockaddr *peer, socklen_t len);
/* proxy.c: drain: close idle connections now, the others after their current response. */
void dp_proxy_drain(struct dp_worker *w);
void dp_proxy_close_all(struct dp_worker *w);
void dp_proxy_worker_done(struct dp_worker *w);
/* proxy.c: frees connections closed during this loop iteration. */
void dp_proxy_reap(struct dp_worker *w);
/* upstream/conn.c: writes the requests queued during this loop iteration (before reaping). */
void dp_proxy_flush_writes(struct dp_worker *w);

#endif
