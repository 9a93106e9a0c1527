/* The HTTP/1.1 proxy: a client connection (struct dp_conn) parses requests with llhttp, routes
 * them against the worker's snapshot and streams each one to an upstream connection
 * (struct dp_uconn) taken from the worker's keep-alive pool, then streams the response back.
 *
 * Backpressure: the parser of one side is only fed as many bytes as the other side's output
 * buffer has room for, and a side is only read while its input buffer has room, so a slow
 * reader stops the writer after at most one buffer per direction.
 *
 * Memory: an idle client connection holds no buffer and no request; both come from per-worker
 * pools when bytes arrive. */
#include "core/worker.h"
#include "http/h1.h"
#include "http/h1_parse.h"
#include "http/proxy_internal.h"
#include "log.h"
#include "policy/policy.h"
#include "route.h"

#include <arpa/inet.h>
#include <errno.h>
#include <llhttp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static void conn_update_io(struct dp_conn *c);
static void conn_close(struct dp_conn *c);

/* ---- llhttp settings ---------------------------------------------------------------------- */

static int req_on_body(llhttp_t *p, const char *at, size_t len);
static int req_on_message_complete(llhttp_t *p);

static llhttp_settings_t req_settings;
static pthread_once_t settings_once = PTHREAD_ONCE_INIT;

static void
settings_init(void)
{
    dp_h1_parse_settings(&req_settings);
    req_settings.on_body = req_on_body;
    req_settings.on_message_complete = req_on_message_complete;
}

/* ---- request objects (per-worker pool) ------------------------------------------------------ */

static struct dp_req *
req_get(struct dp_worker *w)
{
    struct dp_req *r = w->free_reqs;
    if (r)
        w->free_reqs = r->next_free;
    else
        r = malloc(sizeof(*r));
    if (!r)
        return NULL;
    memset(r, 0, offsetof(struct dp_req, rhead));
    dp_h1_head_reset(&r->rhead);
    dp_h1_head_reset(&r->head);
    return r;
}

static void
req_put(struct dp_worker *w, struct dp_req *r)
{
    r->next_free = w->free_reqs;
    w->free_reqs = r;
}

static struct dp_req *
req_of_parser(llhttp_t *p)
{
    return (struct dp_req *)((char *)p->data - offsetof(struct dp_req, head));
}

/* ---- helpers -------------------------------------------------------------------------------- */

static int
code_class(int status)
{
    return status >= 100 && status < 600 ? status / 100 : 0;
}

/* Dotted quad into out (at least 16 bytes): every request formats the client's address
 * (X-Forwarded-For), and inet_ntop goes through sprintf. */
static void
ipv4_text(const struct in_addr *a, char *out)
{
    const unsigned char *b = (const unsigned char *)&a->s_addr;
    char *o = out;
    for (int i = 0; i < 4; i++) {
        unsigned v = b[i];
        if (v >= 100) {
            *o++ = (char)('0' + v / 100);
            *o++ = (char)('0' + v / 10 % 10);
        } else if (v >= 10) {
            *o++ = (char)('0' + v / 10);
        }
        *o++ = (char)('0' + v % 10);
        *o++ = i < 3 ? '.' : '\0';
    }
}

void
dp_proxy_peer_ip(const struct dp_conn *c, char *out, size_t len)
{
    const struct sockaddr *sa = (const struct sockaddr *)&c->peer;
    if (sa->sa_family == AF_INET && len >= INET_ADDRSTRLEN)
        ipv4_text(&((const struct sockaddr_in *)sa)->sin_addr, out);
    else if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &c->peer.sin6_addr, out, (socklen_t)len);
    else
        snprintf(out, len, "unknown");
}

static void
json_escape(char *out, size_t out_len, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 7 < out_len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20 || ch >= 0x7f) {
            o += (size_t)snprintf(out + o, out_len - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
}

/* Counts a finished request: metrics, and the access log when it is on. */
static void
req_account(struct dp_req *r)
{
    struct dp_worker *w = r->c->w;
    int cls = code_class(r->status);
    DP_STAT_INC(w->stats.requests[cls]);
    if (r->route) {
        struct dp_route_stat *rs = dp_worker_route_stat(w, r->route->stat_id);
        if (rs)
            DP_STAT_INC(rs->by_class[cls]);
    }
    double dt = ev_now(w->loop) - r->start;
    if (dt < 0)
        dt = 0;
    unsigned b = 0;
    while (b < DP_LAT_BUCKETS - 1 && dt > dp_lat_bounds_s[b])
        b++;
    DP_STAT_INC(w->stats.lat[b]);
    DP_STAT_ADD(w->stats.lat_sum_us, (uint64_t)(dt * 1e6));
    DP_STAT_INC(w->stats.lat_count);
    if (w->cfg->access_log_fd < 0)
        return;
    char ip[64], path[300], route[200], up[200], req_id[256], line[1280];
    dp_proxy_peer_ip(r->c, ip, sizeof(ip));
    json_escape(path, sizeof(path), r->path_log, strlen(r->path_log));
    const char *rid = r->route ? r->route->id : "", *uname = r->up ? r->up->name : "";
    json_escape(route, sizeof(route), rid, strlen(rid));
    json_escape(up, sizeof(up), uname, strlen(uname));
    /* A client's X-Request-Id is kept as sent: quotes and backslashes are legal in it. */
    json_escape(req_id, sizeof(req_id), r->req_id, strlen(r->req_id));
    int n = snprintf(line, sizeof(line),
                     "{\"time\":%.3f,\"client\":\"%s\",\"method\":\"%s\",\"path\":\"%s\","
                     "\"status\":%d,\"bytes\":%llu,\"duration_ms\":%.3f,\"route\":\"%s\","
                     "\"upstream\":\"%s\",\"request_id\":\"%s\"}\n",
                     ev_now(w->loop), ip, r->method, path, r->status,
                     (unsigned long long)r->resp_bytes, dt * 1000.0, route, up, req_id);
    if (n > 0)
        dp_worker_access_log(w, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* ---- requests waiting for a quota lease ------------------------------------------------------ */

static void
unpark(struct dp_worker *w, struct dp_req *r)
{
    if (r->lease_prev)
        r->lease_prev->lease_next = r->lease_next;
    else
        w->parked = r->lease_next;
    if (r->lease_next)
        r->lease_next->lease_prev = r->lease_prev;
    else
        w->parked_tail = r->lease_prev;
    r->lease_prev = r->lease_next = NULL;
    w->n_parked--;
    r->phase = PH_HEADERS;
}

void
dp_proxy_req_park(struct dp_req *r)
{
    struct dp_conn *c = r->c;
    struct dp_worker *w = c->w;
    if (!(r->policy_flags & DP_PARKED_ONCE)) {
        r->policy_flags |= DP_PARKED_ONCE; /* the wait is counted from the first park */
        dp_proxy_timer_set(w->loop, &c->timer, DP_LEASE_WAIT_MS);
    }
    r->phase = PH_LEASE;
    r->lease_next = NULL;
    r->lease_prev = w->parked_tail;
    if (w->parked_tail)
        w->parked_tail->lease_next = r;
    else
        w->parked = r;
    w->parked_tail = r;
    w->n_parked++;
}

/* Checks a parked request again: it goes on, fails, or parks again (at the tail). */
static void
resume(struct dp_req *r, unsigned extra_flags)
{
    struct dp_conn *c = r->c;
    unpark(c->w, r);
    r->policy_flags |= extra_flags;
    if (dp_proxy_req_on_head(c) != 1)
        dp_proxy_conn_process(c);
}

void
dp_proxy_resume_parked(struct dp_worker *w)
{
    /* Those parked now, oldest first; a request that parks again goes behind them. */
    for (size_t n = w->n_parked; n > 0 && w->parked; n--)
        resume(w->parked, 0);
}

/* Ends the current exchange of c: accounts it, detaches the upstream, frees the request. */
void
dp_proxy_req_finish(struct dp_conn *c)
{
    struct dp_req *r = c->req;
    if (!r)
        return;
    req_account(r);
    if (r->active_pool)
        c->w->pools[r->active_pool - 1].active--;
    if (r->u) {
        r->u->req = NULL;
        dp_upconn_close(r->u);
        r->u = NULL;
    }
    if (r->phase == PH_LEASE)
        unpark(c->w, r);
    dp_worker_hold_release(c->w, r->hold);
    c->req = NULL;
    req_put(c->w, r);
    dp_proxy_timer_stop(&c->timer);
}

/* Queues an error response for the current request and closes the connection after it when
 * the request cannot be resynchronised (body unread) or close is asked for. */
void
dp_proxy_req_fail(struct dp_req *r, int status, const char *msg, const char *extra)
{
    struct dp_conn *c = r->c;
    r->status = status;
    if (r->u) {
        r->u->req = NULL;
        dp_upconn_close(r->u);
        r->u = NULL;
    }
    if (r->resp_started) {
        /* Part of a response went out: the only honest signal left is closing. */
        c->closing = true;
        r->phase = PH_DISCARD;
        dp_proxy_req_finish(c);
        dp_proxy_conn_try_write(c); /* flushes what is left, then closes */
        return;
    }
    if (!r->req_done && r->head_parsed && !r->has_body && !r->upstream_wrote) {
        /* Nothing of the request is left unread: the connection can carry on. */
        llhttp_reset(&c->parser);
        r->req_done = true;
    }
    bool close = !r->req_done || !r->client_keep_alive || c->w->draining;
    if (dp_buf_acquire(&c->out, &c->w->bufs) < 0 ||
        dp_h1_write_error(&c->out, status, msg, close, extra, r->is_head) < 0)
        close = true;
    r->resp_bytes = 0;
    if (close) {
        c->closing = true;
        r->phase = PH_DISCARD;
    }
    dp_proxy_req_finish(c);
    conn_update_io(c);
}

/* ---- request body -----------------------------------------------------------------------------
 */

static int
req_on_body(llhttp_t *p, const char *at, size_t len)
{
    struct dp_req *r = req_of_parser(p);
    r->body_seen += len;
    if (r->body_seen > r->body_limit) {
        r->head.fail_status = 413;
        return -1;
    }
    if (!r->u)
        return 0;
    struct dp_buf *out = &r->u->out;
    if (r->req_chunked) {
        char hdr[24];
        size_t n = dp_h1_hex(hdr, len);
        hdr[n++] = '\r';
        hdr[n++] = '\n';
        if (dp_buf_append(out, hdr, n) < 0)
            return -1;
    }
    if (dp_buf_append(out, at, len) < 0 || (r->req_chunked && dp_buf_append(out, "\r\n", 2) < 0))
        return -1;
    return 0;
}

static int
req_on_message_complete(llhttp_t *p)
{
    struct dp_req *r = req_of_parser(p);
    if (r->u && r->req_chunked && dp_buf_append(&r->u->out, "0\r\n\r\n", 5) < 0)
        return -1;
    r->req_done = true;
    r->phase = PH_WAIT;
    return HPE_PAUSED;
}

/* ---- client connections ------------------------------------------------------------------------
 */

static void
conn_update_io(struct dp_conn *c)
{
    if (c->dead || c->lingering)
        return;
    struct ev_loop *loop = c->w->loop;
    bool want_r = !c->closing && !c->read_eof &&
                  (!c->in.data || dp_buf_room(&c->in) > 0 ||
                   (c->in.rpos > 0 && c->req && c->req->phase != PH_HEADERS));
    bool want_w = dp_buf_len(&c->out) > 0;
    if (want_r && !ev_is_active(&c->rio))
        ev_io_start(loop, &c->rio);
    else if (!want_r && ev_is_active(&c->rio))
        ev_io_stop(loop, &c->rio);
    if (want_w && !ev_is_active(&c->wio))
        ev_io_start(loop, &c->wio);
    else if (!want_w && ev_is_active(&c->wio))
        ev_io_stop(loop, &c->wio);
}

static void
conn_close(struct dp_conn *c)
{
    if (c->dead)
        return;
    struct dp_worker *w = c->w;
    if (c->req) {
        if (!c->req->status)
            c->req->status = 499; /* client went away: nginx's convention */
        dp_proxy_req_finish(c);
    }
    ev_io_stop(w->loop, &c->rio);
    ev_io_stop(w->loop, &c->wio);
    dp_timer_kill(w->loop, &c->timer);
    close(c->fd);
    c->fd = -1;
    dp_buf_release(&c->in, &w->bufs, true);
    dp_buf_release(&c->out, &w->bufs, true);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->n_conns--;
    DP_STAT_ADD(w->stats.active_conns, (uint64_t)-1);
    c->dead = true;
    c->next_dead = w->grave_c;
    w->grave_c = c;
}

static void
conn_linger_cb(struct ev_loop *loop, ev_io *rio, int revents)
{
    struct dp_conn *c = rio->data;
    char sink[4096];
    for (;;) {
        ssize_t n = recv(c->fd, sink, sizeof(sink), 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        conn_close(c);
        return;
    }
}

/* Closes after the last response: our side first, then unread client bytes are drained for a
 * moment, so that the kernel does not answer them with a reset that destroys the response. */
static void
conn_close_lingering(struct dp_conn *c)
{
    if (c->read_eof || c->lingering) {
        if (!c->lingering)
            conn_close(c);
        return;
    }
    c->lingering = true;
    (void)shutdown(c->fd, SHUT_WR);
    struct ev_loop *loop = c->w->loop;
    ev_io_stop(loop, &c->wio);
    ev_io_stop(loop, &c->rio);
    ev_set_cb(&c->rio, conn_linger_cb);
    ev_io_start(loop, &c->rio);
    dp_buf_release(&c->in, &c->w->bufs, true);
    dp_buf_release(&c->out, &c->w->bufs, true);
    dp_proxy_timer_set(loop, &c->timer, 2000);
}

void
dp_proxy_conn_try_write(struct dp_conn *c)
{
    if (c->lingering)
        return;
    if (c->dead)
        return;
    size_t wrote = 0;
    while (dp_buf_len(&c->out)) {
        ssize_t n = send(c->fd, c->out.data + c->out.rpos, dp_buf_len(&c->out), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                break;
            conn_close(c);
            return;
        }
        c->out.rpos += (size_t)n;
        wrote += (size_t)n;
    }
    if (dp_buf_len(&c->out) == 0) {
        c->out.rpos = c->out.wpos = 0;
        if (!c->req) {
            dp_buf_release(&c->out, &c->w->bufs, false);
            if (c->closing) {
                conn_close_lingering(c);
                return;
            }
            if (wrote) {
                /* The last answer is out: idle timer, EOF or the next pipelined request. */
                dp_proxy_conn_process(c);
                return;
            }
        }
    }
    struct dp_uconn *u = c->req ? c->req->u : NULL;
    if (wrote && u && !u->dead && u->in.data && u->ppos < u->in.wpos)
        dp_upconn_process(u); /* room again for response bytes */
    else if (u)
        dp_upconn_update_io(u);
    conn_update_io(c);
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *wio, int revents)
{
    dp_proxy_conn_try_write(wio->data);
}

static int
head_too_large_status(const struct dp_req *r)
{
    return r->head.n == 0 && !r->head.in_field ? 414 : 431;
}

void
dp_proxy_conn_process(struct dp_conn *c)
{
    struct dp_worker *w = c->w;
    while (!c->dead) {
        struct dp_req *r = c->req;
        if (!r) {
            if (c->closing) {
                dp_proxy_conn_try_write(c);
                return;
            }
            if (c->in.data && dp_buf_len(&c->in) > 0 && dp_buf_len(&c->out) > DP_BUF_BYTES / 2) {
                /* Pipelined requests wait until the answers queued so far drain. */
                dp_proxy_conn_try_write(c);
                return;
            }
            if (!c->in.data || dp_buf_len(&c->in) == 0) {
                dp_buf_release(&c->in, &w->bufs, true);
                c->ppos = 0;
                if (c->read_eof || w->draining) {
                    c->closing = true;
                    dp_proxy_conn_try_write(c);
                    return;
                }
                dp_proxy_timer_set(w->loop, &c->timer, w->cfg->idle_timeout_ms);
                conn_update_io(c);
                return;
            }
            dp_buf_compact(&c->in);
            c->ppos = 0;
            r = req_get(w);
            if (!r) {
                DP_STAT_INC(w->stats.alloc_failures);
                conn_close(c);
                return;
            }
            r->c = c;
            r->start = ev_now(w->loop);
            r->hold = w->hold;
            if (r->hold)
                r->hold->users++;
            r->head.max_uri_bytes = w->cfg->max_uri_bytes;
            r->head.max_headers = w->cfg->max_headers;
            c->parser.data = &r->head;
            c->req = r;
            dp_proxy_timer_set(w->loop, &c->timer, w->cfg->header_timeout_ms);
        }
        switch (r->phase) {
        case PH_HEADERS: {
            if (c->ppos == c->in.wpos) {
                if (c->read_eof) {
                    conn_close(c);
                    return;
                }
                conn_update_io(c);
                return;
            }
            r->head.base = c->in.data + c->in.rpos;
            const char *start = c->in.data + c->ppos;
            llhttp_errno_t e = llhttp_execute(&c->parser, start, c->in.wpos - c->ppos);
            if (e == HPE_PAUSED && r->head.head_done) {
                c->ppos = (size_t)(llhttp_get_error_pos(&c->parser) - c->in.data);
                llhttp_resume(&c->parser);
                c->in.rpos = c->ppos;
                (void)dp_proxy_req_on_head(c);
                continue;
            }
            if (e != HPE_OK) {
                dp_proxy_req_fail(r, dp_h1_error_status(&r->head, e), "bad request", NULL);
                continue;
            }
            c->ppos = c->in.wpos;
            if (c->in.wpos == DP_BUF_BYTES) {
                int st = head_too_large_status(r);
                dp_proxy_req_fail(
                    r, st, st == 414 ? "URI too long" : "request header fields too large", NULL);
                continue;
            }
            if (c->read_eof) {
                conn_close(c);
                return;
            }
            conn_update_io(c);
            return;
        }
        case PH_BODY: {
            size_t avail = c->in.data ? c->in.wpos - c->in.rpos : 0;
            struct dp_uconn *u = r->u;
            if (!u) { /* cannot happen: a failed connect ends the request */
                dp_proxy_req_fail(r, 502, "no upstream connection", NULL);
                continue;
            }
            if (!avail && r->has_body) {
                if (c->read_eof) {
                    conn_close(c);
                    return;
                }
                conn_update_io(c);
                return;
            }
            size_t feed = 0;
            if (r->has_body) {
                if (!r->replayable)
                    dp_buf_compact(&u->out);
                size_t room = dp_buf_room(&u->out);
                if (room <= DP_CHUNK_SLACK) {
                    conn_update_io(c);
                    return;
                }
                feed = avail < room - DP_CHUNK_SLACK ? avail : room - DP_CHUNK_SLACK;
            }
            const char *start = c->in.data ? c->in.data + c->in.rpos : "";
            llhttp_errno_t e = llhttp_execute(&c->parser, start, feed);
            size_t used = feed;
            if (e == HPE_PAUSED) {
                used = (size_t)(llhttp_get_error_pos(&c->parser) - start);
                llhttp_resume(&c->parser);
            } else if (e == HPE_PAUSED_UPGRADE) {
                /* Upgrades are not offered: the request is served as plain HTTP and the
                 * connection closes after it (client_keep_alive is off). */
                used = (size_t)(llhttp_get_error_pos(&c->parser) - start);
                r->req_done = true;
                r->phase = PH_WAIT;
            } else if (e != HPE_OK) {
                int st = r->head.fail_status ? r->head.fail_status : 400;
                dp_proxy_req_fail(r, st, st == 413 ? "request body too large" : "bad request body",
                                  NULL);
                continue;
            }
            if (c->in.data) {
                c->in.rpos += used;
                c->ppos = c->in.rpos;
            }
            if (r->req_done)
                dp_proxy_timer_stop(&c->timer);
            else if (used)
                dp_proxy_timer_set(w->loop, &c->timer, w->cfg->body_timeout_ms);
            if (r->req_done)
                dp_upconn_queue_write(u);
            else
                dp_upconn_try_write(u); /* the body goes on once this much is out */
            if (!r->req_done && !used) {
                conn_update_io(c);
                return;
            }
            continue;
        }
        case PH_WAIT:
        case PH_DISCARD:
        case PH_LEASE:
            conn_update_io(c);
            return;
        }
    }
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *rio, int revents)
{
    struct dp_conn *c = rio->data;
    if (dp_buf_acquire(&c->in, &c->w->bufs) < 0) {
        DP_STAT_INC(c->w->stats.alloc_failures);
        conn_close(c);
        return;
    }
    if (c->req && c->req->phase != PH_HEADERS && c->in.rpos > 0) {
        c->ppos -= c->in.rpos;
        dp_buf_compact(&c->in);
    }
    size_t room = dp_buf_room(&c->in);
    if (room == 0) {
        conn_update_io(c);
        return;
    }
    ssize_t n = recv(c->fd, c->in.data + c->in.wpos, room, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        conn_close(c);
        return;
    }
    if (n == 0)
        c->read_eof = true;
    else
        c->in.wpos += (size_t)n;
    dp_proxy_conn_process(c);
}

static void
conn_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct dp_conn *c = t->data;
    if (!dp_timer_due(loop, &c->timer))
        return;
    struct dp_req *r = c->req;
    if (!r || c->lingering) {
        conn_close(c); /* idle keep-alive connection */
        return;
    }
    if (r->phase == PH_LEASE) {
        resume(r, DP_POLICY_NO_LEASE); /* no lease in time: the node's share decides */
        return;
    }
    if (r->phase == PH_HEADERS) {
        if (c->in.data && c->in.wpos > c->in.rpos)
            dp_proxy_req_fail(r, 408, "request header timeout", NULL);
        else
            conn_close(c);
        return;
    }
    if (r->phase == PH_BODY && !r->resp_started) {
        if (r->u && dp_buf_len(&r->u->out) > 0) {
            /* The upstream has not taken the bytes read so far, so the client is not read: the
             * wait is the upstream's, and its own timer governs it (504). */
            dp_proxy_timer_set(c->w->loop, &c->timer, c->w->cfg->body_timeout_ms);
            return;
        }
        r->req_done = false;
        dp_proxy_req_fail(r, 408, "request body timeout", NULL);
        return;
    }
    if (r->phase == PH_BODY)
        conn_close(c);
}

void
dp_proxy_accept(struct dp_worker *w, int fd, const struct sockaddr *peer, socklen_t len)
{
    pthread_once(&settings_once, settings_init);
    if (w->n_conns >= w->cfg->max_conns_per_worker || w->draining) {
        close(fd);
        return;
    }
    struct dp_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        DP_STAT_INC(w->stats.alloc_failures);
        close(fd);
        return;
    }
    c->w = w;
    c->fd = fd;
    if (len <= sizeof(c->peer))
        memcpy(&c->peer, peer, len);
    (void)dp_proxy_set_nodelay(fd);
    llhttp_init(&c->parser, HTTP_REQUEST, &req_settings);
    ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
    ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
    ev_init(&c->timer.w, conn_timer_cb);
    c->rio.data = c->wio.data = c->timer.w.data = c;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->n_conns++;
    DP_STAT_INC(w->stats.active_conns);
    DP_STAT_INC(w->stats.conns_total);
    dp_proxy_timer_set(w->loop, &c->timer, w->cfg->header_timeout_ms);
    conn_update_io(c);
}

void
dp_proxy_drain(struct dp_worker *w)
{
    w->draining = true;
    struct dp_conn *c = w->conns;
    while (c) {
        struct dp_conn *next = c->next;
        if (!c->req && dp_buf_len(&c->out) == 0)
            conn_close(c);
        else if (!c->req)
            c->closing = true;
        c = next;
    }
    dp_upconn_close_pools(w);
}

void
dp_proxy_close_all(struct dp_worker *w)
{
    while (w->conns)
        conn_close(w->conns);
    dp_upconn_close_pools(w);
}

void
dp_proxy_reap(struct dp_worker *w)
{
    while (w->grave_c) {
        struct dp_conn *c = w->grave_c;
        w->grave_c = c->next_dead;
        free(c);
    }
    while (w->grave_u) {
        struct dp_uconn *u = w->grave_u;
        w->grave_u = u->next_dead;
        free(u);
    }
}

void
dp_proxy_worker_done(struct dp_worker *w)
{
    dp_proxy_close_all(w);
    w->flush_head = w->flush_tail = NULL; /* all closed: nothing left to write */
    dp_proxy_reap(w);
    while (w->free_reqs) {
        struct dp_req *r = w->free_reqs;
        w->free_reqs = r->next_free;
        free(r);
    }
}
