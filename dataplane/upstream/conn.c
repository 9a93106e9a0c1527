/* The upstream side of the HTTP/1.1 proxy: picks a target (smooth weighted round robin),
 * takes a keep-alive connection from the worker's pool or connects (retrying another target on
 * a connect failure), streams the request out and the response back to the client connection,
 * and parks the connection again when both messages ended cleanly. */
#include "http/h1.h"
#include "http/proxy_internal.h"
#include "log.h"
#include "upstream/lb_hash.h"
#include "upstream/lb_p2c.h"

#include <errno.h>
#include <llhttp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int resp_on_headers_complete(llhttp_t *p);
static int resp_on_body(llhttp_t *p, const char *at, size_t len);
static int resp_on_message_complete(llhttp_t *p);

static llhttp_settings_t resp_settings;
static pthread_once_t resp_settings_once = PTHREAD_ONCE_INIT;

static void
resp_settings_init(void)
{
    dp_h1_parse_settings(&resp_settings);
    resp_settings.on_headers_complete = resp_on_headers_complete;
    resp_settings.on_body = resp_on_body;
    resp_settings.on_message_complete = resp_on_message_complete;
}

static struct dp_req *
req_of_resp_parser(llhttp_t *p)
{
    return (struct dp_req *)((char *)p->data - offsetof(struct dp_req, rhead));
}
/* ---- upstream connections ----------------------------------------------------------------------
 */

static void uconn_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void uconn_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void uconn_timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

void
dp_upconn_close(struct dp_uconn *u)
{
    if (!u || u->dead)
        return;
    struct dp_worker *w = u->w;
    if (u->in_pool) {
        dp_pool_remove(&w->pools[u->pool_id], &u->link);
        u->in_pool = false;
    }
    ev_io_stop(w->loop, &u->rio);
    ev_io_stop(w->loop, &u->wio);
    dp_timer_kill(w->loop, &u->timer);
    if (u->fd >= 0)
        close(u->fd);
    u->fd = -1;
    dp_buf_release(&u->in, &w->bufs, true);
    dp_buf_release(&u->out, &w->bufs, true);
    u->dead = true;
    u->next_dead = w->grave_u;
    w->grave_u = u;
}

static void
uconn_parser_init(struct dp_uconn *u, struct dp_req *r)
{
    pthread_once(&resp_settings_once, resp_settings_init);
    llhttp_init(&u->parser, HTTP_RESPONSE, &resp_settings);
    u->parser.data = &r->rhead;
    dp_h1_head_reset(&r->rhead);
    r->rhead.max_uri_bytes = 0;
}

/* The ring position of the client: its address (not the port), so that one client keeps its
 * target across connections. */
static uint64_t
client_hash(const struct dp_conn *c)
{
    if (c->peer.sin6_family == AF_INET6)
        return dp_lb_hash_key(&c->peer.sin6_addr, sizeof(c->peer.sin6_addr));
    const struct sockaddr_in *in = (const struct sockaddr_in *)&c->peer;
    return dp_lb_hash_key(&in->sin_addr, sizeof(in->sin_addr));
}

/* Picks a target and hands it ob (the request bytes so far). On failure an error response has
 * been queued and -1 is returned (ob is released). */
int
dp_upconn_connect(struct dp_req *r, struct dp_buf *ob)
{
    struct dp_worker *w = r->c->w;
    const struct dp_upstream *up = r->up;
    for (;;) {
        size_t idx;
        int e;
        if (up->lb == DP_LB_P2C)
            e = dp_lb_p2c_pick(up, w->pools, r->tried, &w->rng, &idx);
        else if (up->lb == DP_LB_HASH)
            e = dp_lb_hash_pick(up, client_hash(r->c), r->tried, &idx);
        else if (up->lb == DP_LB_RANDOM)
            e = dp_lb_random_pick(up, r->tried, &w->rng, &idx);
        else
            e = dp_lb_rr_pick(&w->lbs[up->lb_id], up, r->tried, &idx);
        if (e < 0 || r->attempts > up->retries) {
            dp_buf_release(ob, &w->bufs, true);
            if (e == -ENOMEM)
                dp_proxy_req_fail(r, 503, "out of memory", NULL);
            else if (r->attempts == 0)
                dp_proxy_req_fail(r, 503, "no upstream target available", NULL);
            else
                dp_proxy_req_fail(r, r->status == 504 ? 504 : 502,
                                  r->status == 504 ? "upstream connect timeout"
                                                   : "cannot connect to the upstream",
                                  NULL);
            return -1;
        }
        const struct dp_target *t = &up->targets[idx];
        r->target_idx = idx;
        if (r->active_pool)
            w->pools[r->active_pool - 1].active--;
        w->pools[t->pool_id].active++;
        r->active_pool = t->pool_id + 1;
        struct dp_uconn *u = NULL;
        struct dp_pool_link *l = r->no_pool ? NULL : dp_pool_pop(&w->pools[t->pool_id]);
        if (l) {
            u = (struct dp_uconn *)((char *)l - offsetof(struct dp_uconn, link));
            u->in_pool = false;
            DP_STAT_INC(w->stats.up_reused);
            r->replayable = !r->has_body;
        } else {
            r->tried |= idx < 64 ? (uint64_t)1 << idx : 0;
            r->attempts++;
            int fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                DP_STAT_INC(w->stats.up_connect_errors);
                continue;
            }
            (void)dp_proxy_set_nodelay(fd);
            if (connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) < 0 &&
                errno != EINPROGRESS) {
                close(fd);
                DP_STAT_INC(w->stats.up_connect_errors);
                continue;
            }
            u = calloc(1, sizeof(*u));
            if (!u) {
                close(fd);
                DP_STAT_INC(w->stats.alloc_failures);
                dp_buf_release(ob, &w->bufs, true);
                dp_proxy_req_fail(r, 503, "out of memory", NULL);
                return -1;
            }
            u->w = w;
            u->fd = fd;
            u->pool_id = t->pool_id;
            u->link.prev = u->link.next = &u->link;
            ev_io_init(&u->rio, uconn_read_cb, fd, EV_READ);
            ev_io_init(&u->wio, uconn_write_cb, fd, EV_WRITE);
            ev_init(&u->timer.w, uconn_timer_cb);
            u->rio.data = u->wio.data = u->timer.w.data = u;
            r->replayable = false;
        }
        u->req = r;
        u->got_bytes = false;
        u->ppos = 0;
        u->stall_mark = 0;
        r->u = u;
        dp_buf_release(&u->out, &w->bufs, true);
        u->out = *ob;
        *ob = (struct dp_buf){0};
        uconn_parser_init(u, r);
        dp_proxy_timer_set(w->loop, &u->timer,
                           u->connected ? r->route->timeout_ms : up->connect_timeout_ms);
        dp_upconn_update_io(u);
        return 0;
    }
}

/* The upstream side failed before a response byte: retry when allowed, else answer. */
static void
uconn_fail(struct dp_uconn *u, int status, const char *msg, bool connect_failure)
{
    struct dp_req *r = u->req;
    if (!r) {
        dp_upconn_close(u);
        return;
    }
    bool stale = !connect_failure && !u->got_bytes && r->replayable && !r->retried_stale;
    bool retry_connect =
        connect_failure && r->attempts <= r->up->retries && (r->idempotent || !r->upstream_wrote);
    if ((stale || retry_connect) && !r->resp_started) {
        struct dp_buf ob = u->out;
        u->out = (struct dp_buf){0};
        if (stale) {
            /* Nothing but the head was queued, and it is still at the front of the block. */
            ob.rpos = 0;
            ob.wpos = r->head_len;
            r->retried_stale = true;
            r->no_pool = true;
        }
        u->req = NULL;
        r->u = NULL;
        dp_upconn_close(u);
        r->status = status;
        if (dp_upconn_connect(r, &ob) == 0) {
            dp_proxy_conn_process(r->c);
        }
        return;
    }
    r->u = NULL;
    u->req = NULL;
    dp_upconn_close(u);
    dp_proxy_req_fail(r, status, msg, NULL);
}

void
dp_upconn_try_write(struct dp_uconn *u)
{
    if (u->dead || !u->connected)
        return;
    while (dp_buf_len(&u->out)) {
        ssize_t n = send(u->fd, u->out.data + u->out.rpos, dp_buf_len(&u->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            DP_STAT_INC(u->w->stats.up_resets);
            uconn_fail(u, 502, "upstream connection failed", false);
            return;
        }
        u->out.rpos += (size_t)n;
        if (u->req) {
            u->req->upstream_wrote = true;
            /* The response timeout counts inactivity: a long upload is progress. */
            dp_proxy_timer_set(u->w->loop, &u->timer, u->req->route->timeout_ms);
        }
    }
    /* Keep the head bytes in place for a replay while the request can still be replayed. */
    if (dp_buf_len(&u->out) == 0 && !(u->req && u->req->replayable && !u->got_bytes))
        u->out.rpos = u->out.wpos = 0;
    dp_upconn_update_io(u);
}

/* A write to an upstream that sleeps wakes it, and on a shared core the woken server
 * preempts us to answer that one request. Writing the requests of a loop iteration together,
 * after all of its events, lets it find several at once: in tests/bench the backend's wakeups
 * went from 0.44 to 0.26 per request and our preemptions from 0.43 to 0.24. A request waits
 * at most the rest of its loop iteration. */
void
dp_upconn_queue_write(struct dp_uconn *u)
{
    struct dp_worker *w = u->w;
    if (u->flush_queued)
        return;
    u->flush_queued = true;
    u->flush_next = NULL;
    if (w->flush_tail)
        ((struct dp_uconn *)w->flush_tail)->flush_next = u;
    else
        w->flush_head = u;
    w->flush_tail = u;
}

void
dp_proxy_flush_writes(struct dp_worker *w)
{
    while (w->flush_head) {
        struct dp_uconn *u = w->flush_head;
        w->flush_head = u->flush_next;
        if (!w->flush_head)
            w->flush_tail = NULL;
        u->flush_queued = false;
        if (!u->dead) /* closed ones stay allocated until dp_proxy_reap, which runs after */
            dp_upconn_try_write(u);
    }
}

void
dp_upconn_update_io(struct dp_uconn *u)
{
    if (u->dead)
        return;
    struct ev_loop *loop = u->w->loop;
    bool want_w = !u->connected || dp_buf_len(&u->out) > 0;
    bool want_r = u->connected &&
                  (u->in_pool || (u->req && !u->req->resp_done &&
                                  (!u->in.data || dp_buf_room(&u->in) > 0 || u->in.rpos > 0)));
    if (want_w && !ev_is_active(&u->wio))
        ev_io_start(loop, &u->wio);
    else if (!want_w && ev_is_active(&u->wio))
        ev_io_stop(loop, &u->wio);
    if (want_r && !ev_is_active(&u->rio))
        ev_io_start(loop, &u->rio);
    else if (!want_r && ev_is_active(&u->rio))
        ev_io_stop(loop, &u->rio);
}

static void
uconn_write_cb(struct ev_loop *loop, ev_io *wio, int revents)
{
    struct dp_uconn *u = wio->data;
    if (!u->connected) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            DP_STAT_INC(u->w->stats.up_connect_errors);
            uconn_fail(u, 502, "cannot connect to the upstream", true);
            return;
        }
        u->connected = true;
        if (u->req)
            dp_proxy_timer_set(loop, &u->timer, u->req->route->timeout_ms);
    }
    dp_upconn_try_write(u);
    if (!u->dead && u->req && dp_buf_len(&u->out) == 0)
        dp_proxy_conn_process(u->req->c); /* room again for request body bytes */
}

static void
uconn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dp_uconn *u = t->data;
    if (!dp_timer_due(loop, &u->timer))
        return;
    if (!u->req) { /* idle in the pool too long */
        dp_upconn_close(u);
        return;
    }
    if (u->connected && !u->req->req_done && !u->req->resp_started && dp_buf_len(&u->out) == 0) {
        /* Everything read was sent: waiting for the client's body, its own timeout governs
         * (408). Bytes still queued mean the upstream is not reading: that is a 504. */
        dp_proxy_timer_set(loop, &u->timer, u->req->route->timeout_ms);
        return;
    }
    struct dp_req *r = u->req;
    if (u->connected && r->resp_started && !r->resp_done && dp_buf_len(&r->c->out) > 0) {
        /* The node holds bytes the client has not taken, so it is not reading the upstream:
         * the wait is the client's. Wait on while it takes some; one that took nothing for a
         * whole period is dropped (the response cannot end honestly any more). */
        if (r->resp_bytes != u->stall_mark) {
            u->stall_mark = r->resp_bytes;
            dp_proxy_timer_set(loop, &u->timer, r->route->timeout_ms);
            return;
        }
        uconn_fail(u, r->status, "client stopped reading", false);
        return;
    }
    DP_STAT_INC(u->w->stats.up_timeouts);
    if (!u->connected)
        uconn_fail(u, 504, "upstream connect timeout", true);
    else
        uconn_fail(u, 504, "upstream timeout", false);
}

/* Whether the upstream connection can serve another request, and if so parks it. */
static void
uconn_release(struct dp_uconn *u, bool reusable)
{
    struct dp_worker *w = u->w;
    struct dp_req *r = u->req;
    u->req = NULL;
    if (r)
        r->u = NULL;
    struct dp_pool *pool = &w->pools[u->pool_id];
    if (!reusable || w->draining || !r || pool->n_idle >= r->up->pool_size) {
        dp_upconn_close(u);
        return;
    }
    dp_buf_release(&u->in, &w->bufs, true);
    dp_buf_release(&u->out, &w->bufs, true);
    dp_pool_push(pool, &u->link);
    u->in_pool = true;
    dp_proxy_timer_set(w->loop, &u->timer, 60000);
    dp_upconn_update_io(u);
}

static int
resp_write_head(struct dp_req *r, llhttp_t *p)
{
    struct dp_conn *c = r->c;
    struct dp_h1_head *h = &r->rhead;
    struct dp_buf *out = &c->out;
    const char *base = h->base;
    int status = p->status_code;
    r->status = status;
    r->resp_no_body = r->is_head || status == 204 || status == 304;
    bool has_cl = (p->flags & F_CONTENT_LENGTH) != 0;
    bool client_11 = r->client_minor >= 1;
    if (!r->resp_no_body && !has_cl) {
        if (client_11)
            r->resp_chunked = true;
        else
            r->resp_close_delim = true;
    }
    if (!r->client_keep_alive || r->resp_close_delim || c->w->draining || !r->req_done)
        c->closing = true;
    char line[64];
    OUT(line, dp_h1_status_line(line, status));
    for (unsigned i = 0; i < h->n; i++) {
        const struct dp_h1_field *f = &h->f[i];
        const char *name = base + f->name_off;
        if (dp_h1_is_hop(f->tok, name, f->name_len, &h->conn))
            continue;
        if (f->tok == DP_H1_CONTENT_LENGTH && !has_cl)
            continue;
        if (out_field(out, name, f->name_len, base + f->val_off, f->val_len) < 0)
            return -ENOSPC;
    }
    OUTS("Via: 1.1 edge\r\n");
    if (r->rl_headers[0])
        OUTS(r->rl_headers);
    if (!h->req_id_len) { /* the id the upstream saw, so that a client can quote it */
        OUTS("X-Request-Id: ");
        OUTS(r->req_id);
        OUT("\r\n", 2);
    }
    if (r->resp_chunked)
        OUTS("Transfer-Encoding: chunked\r\n");
    if (c->closing)
        OUTS("Connection: close\r\n");
    else if (!client_11)
        OUTS("Connection: keep-alive\r\n");
    OUT("\r\n", 2);
    return 0;
}

static int
resp_on_headers_complete(llhttp_t *p)
{
    struct dp_req *r = req_of_resp_parser(p);
    struct dp_h1_head *h = &r->rhead;
    int status = p->status_code;
    if (status >= 100 && status < 200) {
        if (status == 101) {
            h->fail_status = 502;
            return -1;
        }
        return 0; /* interim responses end the message; the final one follows */
    }
    if (h->obs_fold || h->conn.overflow || (h->te_present && !(p->flags & F_CHUNKED))) {
        h->fail_status = 502;
        return -1;
    }
    struct dp_buf saved = r->c->out;
    if (resp_write_head(r, p) < 0) {
        r->c->out = saved;
        h->fail_status = 502;
        return -1;
    }
    r->resp_started = true;
    h->head_done = true; /* trailers, if any, are not forwarded */
    return r->resp_no_body ? 1 : 0;
}

static int
resp_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct dp_req *r = req_of_resp_parser(p);
    struct dp_buf *out = &r->c->out;
    r->resp_bytes += len;
    if (r->resp_chunked) {
        char hdr[24];
        size_t n = dp_h1_hex(hdr, len);
        hdr[n++] = '\r';
        hdr[n++] = '\n';
        if (dp_buf_append(out, hdr, n) < 0)
            return -1;
    }
    if (dp_buf_append(out, at, len) < 0 || (r->resp_chunked && dp_buf_append(out, "\r\n", 2) < 0))
        return -1;
    return 0;
}

static int
resp_on_message_complete(llhttp_t *p)
{
    struct dp_req *r = req_of_resp_parser(p);
    if (!r->resp_started) { /* an interim 1xx: parse the next head from scratch */
        const char *base = r->rhead.base;
        dp_h1_head_reset(&r->rhead);
        r->rhead.max_uri_bytes = 0;
        r->rhead.base = base;
        return 0;
    }
    if (r->resp_chunked && dp_buf_append(&r->c->out, "0\r\n\r\n", 5) < 0)
        return -1;
    r->resp_done = true;
    return HPE_PAUSED;
}

/* Feeds the response parser as far as the client's output buffer allows. While the head is
 * incomplete its bytes stay in place from in.rpos (field offsets point into them); ppos is
 * where parsing resumes. */
void
dp_upconn_process(struct dp_uconn *u)
{
    struct dp_req *r = u->req;
    if (!r || u->dead)
        return;
    struct dp_conn *c = r->c;
    if (dp_buf_acquire(&c->out, &u->w->bufs) < 0) {
        uconn_fail(u, 503, "out of memory", false);
        return;
    }
    while (u->in.data && u->ppos < u->in.wpos && !r->resp_done) {
        size_t feed = u->in.wpos - u->ppos;
        if (!r->resp_started && dp_buf_len(&c->out) > 0)
            break; /* the whole head must fit in the client buffer: let it drain first */
        dp_buf_compact(&c->out);
        size_t slack = r->resp_started ? DP_CHUNK_SLACK : 512;
        size_t room = dp_buf_room(&c->out);
        if (room <= slack)
            break;
        if (feed > room - slack)
            feed = room - slack;
        const char *start = u->in.data + u->ppos;
        if (!r->resp_started)
            r->rhead.base = u->in.data + u->in.rpos;
        llhttp_errno_t e = llhttp_execute(&u->parser, start, feed);
        if (e == HPE_PAUSED) {
            u->ppos += (size_t)(llhttp_get_error_pos(&u->parser) - start);
            llhttp_resume(&u->parser);
        } else if (e != HPE_OK) {
            DP_STAT_INC(u->w->stats.up_invalid);
            edge_log_debug("upstream response rejected: %s (%s) at %zu/%zu: \"%.40s\"",
                           llhttp_errno_name(e), llhttp_get_error_reason(&u->parser), u->ppos,
                           u->in.wpos, start);
            r->replayable = false;
            uconn_fail(u, 502, "invalid upstream response", false);
            return;
        } else {
            u->ppos += feed;
        }
        if (r->resp_started) {
            u->in.rpos = u->ppos;
        } else if (u->ppos == u->in.wpos && u->in.wpos == DP_BUF_BYTES) {
            DP_STAT_INC(u->w->stats.up_invalid);
            r->replayable = false;
            uconn_fail(u, 502, "upstream response head too large", false);
            return;
        }
    }
    if (r->resp_done) {
        bool reusable = llhttp_should_keep_alive(&u->parser) && r->req_done &&
                        u->ppos == u->in.wpos && !u->dead;
        dp_proxy_timer_stop(&u->timer);
        uconn_release(u, reusable);
        if (!r->req_done)
            c->closing = true;
        dp_proxy_req_finish(c);
        dp_proxy_conn_try_write(c);
        if (!c->dead)
            dp_proxy_conn_process(c);
        return;
    }
    if (r->resp_started && u->in.rpos == u->in.wpos)
        u->in.rpos = u->in.wpos = u->ppos = 0;
    dp_proxy_conn_try_write(c);
    dp_upconn_update_io(u);
}

static void
uconn_read_cb(struct ev_loop *loop, ev_io *rio, int revents)
{
    struct dp_uconn *u = rio->data;
    if (u->in_pool) {
        /* An idle connection that becomes readable was closed (or spoke out of turn). */
        dp_upconn_close(u);
        return;
    }
    struct dp_req *r = u->req;
    if (!r) {
        dp_upconn_close(u);
        return;
    }
    if (dp_buf_acquire(&u->in, &u->w->bufs) < 0) {
        uconn_fail(u, 503, "out of memory", false);
        return;
    }
    if (r->resp_started && u->in.rpos > 0) {
        u->ppos -= u->in.rpos;
        dp_buf_compact(&u->in);
    }
    size_t room = dp_buf_room(&u->in);
    if (room == 0) {
        dp_upconn_update_io(u);
        return;
    }
    ssize_t n = recv(u->fd, u->in.data + u->in.wpos, room, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        DP_STAT_INC(u->w->stats.up_resets);
        uconn_fail(u, 502, "upstream connection reset", false);
        return;
    }
    if (n == 0) {
        if (u->ppos == u->in.wpos) {
            llhttp_errno_t e = llhttp_finish(&u->parser);
            if ((e == HPE_OK || e == HPE_PAUSED) && r->resp_done) {
                dp_upconn_process(u);
                return;
            }
        }
        if (u->dead)
            return;
        if (r->resp_done) {
            dp_upconn_process(u);
            return;
        }
        DP_STAT_INC(u->w->stats.up_resets);
        uconn_fail(u, 502, "upstream closed the connection", false);
        return;
    }
    u->got_bytes = true;
    u->in.wpos += (size_t)n;
    dp_proxy_timer_set(loop, &u->timer, r->route->timeout_ms);
    dp_upconn_process(u);
}

void
dp_upconn_close_pools(struct dp_worker *w)
{
    for (uint32_t i = 0; i < w->n_pools; i++) {
        struct dp_pool_link *l;
        while ((l = dp_pool_pop(&w->pools[i])) != NULL) {
            struct dp_uconn *u = (struct dp_uconn *)((char *)l - offsetof(struct dp_uconn, link));
            u->in_pool = false;
            dp_upconn_close(u);
        }
    }
}
