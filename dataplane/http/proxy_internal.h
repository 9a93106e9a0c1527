/* Internals shared by the two halves of the HTTP/1.1 proxy: the client side (http/proxy.c:
 * connections, request heads and bodies) and the upstream side (upstream/conn.c: connect, pool,
 * response parsing). Not an API: only these two files include it. */
#ifndef DP_PROXY_INTERNAL_H
#define DP_PROXY_INTERNAL_H

#include "core/buf.h"
#include "core/worker.h"
#include "http/h1_parse.h"
#include "upstream/pool.h"

#include <errno.h>
#include <ev.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define DP_CHUNK_SLACK 32 /* room kept for chunk framing when feeding a parser */

enum req_phase {
    PH_HEADERS, /* reading the request head */
    PH_BODY,    /* forwarding the request body */
    PH_WAIT,    /* request read; waiting for the response to finish */
    PH_DISCARD, /* an error response was queued; the connection closes after it */
    PH_LEASE,   /* head read; waiting for a quota lease (policy/lease.h) */
};

/* How long a request waits for a quota lease before the node's share decides instead. */
#define DP_LEASE_WAIT_MS 1000
/* dp_req.policy_flags, beside dp_policy_check()'s own: the lease wait has started. */
#define DP_PARKED_ONCE (1u << 16)

/* A connection's one timeout. A request re-arms its timeouts half a dozen times and an
 * ev_timer_stop/start pair is a heap removal and insertion each time, so the libev timer is
 * left running when it would fire no later than the new deadline: the deadline is kept as
 * what is left after it fires (extra), and a stop only marks it off. The callback checks
 * dp_timer_due() first. */
struct dp_timer {
    ev_timer w;  /* first: callbacks get &w and cast */
    float extra; /* seconds to wait on once w fires */
    bool off;
};

struct dp_uconn {
    struct dp_worker *w;
    int fd;
    ev_io rio, wio;
    struct dp_timer timer;
    llhttp_t parser;
    struct dp_buf in, out;
    struct dp_req *req; /* NULL while idle in the pool */
    uint32_t pool_id;
    struct dp_pool_link link;
    bool connected, in_pool, got_bytes, dead, flush_queued;
    size_t ppos;         /* parse position in `in` */
    uint64_t stall_mark; /* the request's resp_bytes when the response timer last fired */
    struct dp_uconn *next_dead;
    struct dp_uconn *flush_next; /* in w->flush_head while flush_queued */
};

struct dp_req {
    struct dp_conn *c;
    struct dp_uconn *u;
    struct dp_snap_hold *hold;
    const struct dp_route *route;
    const struct dp_upstream *up;
    enum req_phase phase;
    uint64_t body_limit, body_seen;
    bool req_chunked, req_done, expect_continue, is_head, idempotent, client_keep_alive;
    bool resp_started, resp_chunked, resp_close_delim, resp_done, resp_no_body, retried_stale;
    bool upstream_wrote;
    int status;
    uint64_t tried;
    unsigned attempts;
    size_t target_idx;
    uint64_t resp_bytes;
    ev_tstamp start;
    char method[16];
    char path_log[128];
    char req_id[40];
    size_t head_len; /* bytes of the upstream request head (for a replay on a stale connection) */
    bool has_body, replayable, no_pool, head_parsed;
    unsigned client_minor;
    uint32_t active_pool; /* pool id + 1 counted in that pool's active; 0: none */
    struct dp_req *next_free;
    struct dp_req *lease_prev, *lease_next; /* in w->parked while phase == PH_LEASE */
    unsigned policy_flags;                  /* dp_policy_check() flags */
    char rl_headers[128];    /* RateLimit-* lines for an admitted response of a throttled route */
    struct dp_h1_head rhead; /* the response head */
    struct dp_h1_head head;  /* the request head; last (see req_get) */
};

struct dp_conn {
    struct dp_worker *w;
    int fd;
    ev_io rio, wio;
    struct dp_timer timer;
    llhttp_t parser;
    struct dp_buf in, out;
    struct dp_req *req;
    struct dp_conn *prev, *next;
    size_t ppos; /* parse position in `in` (the head stays in the buffer until it is complete) */
    struct sockaddr_in6 peer;
    bool closing, read_eof, dead, lingering;
    struct dp_conn *next_dead;
};

/* Appends to `out` (a struct dp_buf *) or returns -ENOSPC from the enclosing function. */
#define OUT(s, n)                                                                                  \
    do {                                                                                           \
        if (dp_buf_append(out, (s), (n)) < 0)                                                      \
            return -ENOSPC;                                                                        \
    } while (0)
#define OUTS(s) OUT((s), strlen(s))

/* Appends "name: value\r\n". When the received line is already exactly that (one space
 * after the colon, the usual case) it is copied in one piece: a head is mostly these lines.
 * 0 or -ENOSPC. */
static inline int
out_field(struct dp_buf *out, const char *name, size_t name_len, const char *val, size_t val_len)
{
    if (val == name + name_len + 2 && name[name_len] == ':' && name[name_len + 1] == ' ') {
        OUT(name, name_len + 2 + val_len);
    } else {
        OUT(name, name_len);
        OUT(": ", 2);
        OUT(val, val_len);
    }
    OUT("\r\n", 2);
    return 0;
}

static inline int
dp_proxy_set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* (Re)arms the timeout to ms from now; 0 ms stops it. */
static inline void
dp_proxy_timer_set(struct ev_loop *loop, struct dp_timer *t, uint32_t ms)
{
    if (!ms) {
        t->off = true;
        return;
    }
    ev_tstamp d = ms / 1000.0;
    t->off = false;
    if (ev_is_active(&t->w)) {
        ev_tstamp left = ev_timer_remaining(loop, &t->w);
        if (left <= d) {
            t->extra = (float)(d - left);
            return;
        }
    }
    ev_timer_stop(loop, &t->w); /* also drops an expiry not yet delivered */
    t->extra = 0;
    ev_timer_set(&t->w, d, 0.);
    ev_timer_start(loop, &t->w);
}

static inline void
dp_proxy_timer_stop(struct dp_timer *t)
{
    t->off = true;
}

/* For the timer's callback: true when the deadline is really reached (else the timer has been
 * re-armed for the rest, or was stopped). */
static inline bool
dp_timer_due(struct ev_loop *loop, struct dp_timer *t)
{
    if (t->off)
        return false;
    if (t->extra > 0) {
        ev_timer_set(&t->w, t->extra, 0.);
        t->extra = 0;
        ev_timer_start(loop, &t->w);
        return false;
    }
    return true;
}

/* When the connection goes: nothing may fire any more. */
static inline void
dp_timer_kill(struct ev_loop *loop, struct dp_timer *t)
{
    ev_timer_stop(loop, &t->w);
    t->off = true;
    t->extra = 0;
}

/* Client side (http/proxy.c). */
void dp_proxy_conn_process(struct dp_conn *c);
void dp_proxy_conn_try_write(struct dp_conn *c);
/* Queues an error response (or closes when a response already started); ends the request. */
void dp_proxy_req_fail(struct dp_req *r, int status, const char *msg, const char *extra);
/* The head is complete: route the request, open the upstream side and queue the head (in
 * proxy_head.c). Returns 0 to go on with the body, -1 when an error response is queued, or 1
 * when the request is parked for a quota lease (it is checked again when the worker is kicked,
 * or when the wait is over). */
int dp_proxy_req_on_head(struct dp_conn *c);
/* Parks the current request of c for a lease (proxy.c). */
void dp_proxy_req_park(struct dp_req *r);
/* The client's address as text, for X-Forwarded-For and logs. */
void dp_proxy_peer_ip(const struct dp_conn *c, char *out, size_t len);
/* Ends the current exchange: accounts it, detaches and closes its upstream, frees it. */
void dp_proxy_req_finish(struct dp_conn *c);

/* Upstream side (upstream/conn.c). */
/* Picks a target (LB, retries) and hands it ob, the request bytes so far (taken). On failure an
 * error response has been queued and -1 is returned. */
int dp_upconn_connect(struct dp_req *r, struct dp_buf *ob);
void dp_upconn_close(struct dp_uconn *u);
void dp_upconn_try_write(struct dp_uconn *u);
/* Writes u's complete request when the worker's loop has handled every event it woke up with
 * (dp_proxy_flush_writes). */
void dp_upconn_queue_write(struct dp_uconn *u);
void dp_upconn_update_io(struct dp_uconn *u);
/* Feeds the response parser as far as the client's output buffer allows. */
void dp_upconn_process(struct dp_uconn *u);
void dp_upconn_close_pools(struct dp_worker *w);

#endif
