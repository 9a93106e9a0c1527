/* The stream thread of the config client: the Config/Watch call spoken as gRPC over HTTP/2
 * (grpc/doc/PROTOCOL-HTTP2.md) with nghttp2 on a socket of our own (cpconn.c), its
 * reconnects with backoff and jitter, reads (unpacked here, queued for the loop thread) and
 * sends (Hello, then acks and queued messages through one request body).
 *
 * Why not gRPC core: loading it costs a node ~8 MB resident (libgrpc, absl, re2, upb, c-ares,
 * libstdc++) and a handful of threads, for one stream. What it did for us is done here: the
 * 5-byte message framing, request headers, status from trailers (or a trailers-only answer),
 * keepalive pings, a receive size limit, and flow control as backpressure.
 *
 * One connection carries one Watch stream: when the stream ends, so does the connection, and
 * the next attempt dials afresh. A node has one stream, so there is nothing to multiplex, and
 * every failure takes the one path back to a clean state.
 *
 * Threading: this thread alone touches the nghttp2 session and the socket. The loop thread
 * queues acks and messages under `mu` and pokes c->wake_fd; see cpclient_internal.h. */
#include "cpclient_internal.h"
#include "cpconn.h"
#include "log.h"
#include "pb.h"
#include "status.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* gRPC status codes (grpc/doc/statuscodes.md): those we map to, and their names for logs. */
enum {
    ST_OK = 0,
    ST_CANCELLED = 1,
    ST_UNKNOWN = 2,
    ST_PERMISSION_DENIED = 7,
    ST_RESOURCE_EXHAUSTED = 8,
    ST_UNIMPLEMENTED = 12,
    ST_INTERNAL = 13,
    ST_UNAVAILABLE = 14,
    ST_UNAUTHENTICATED = 16,
};

/* One connection attempt and the Watch stream on it. */
struct dp_cph2 {
    struct dp_cpconn conn;
    nghttp2_session *session;
    int32_t stream_id; /* 0 until the request is submitted */
    bool deferred;     /* the request body waits for something to send */
    bool write_blocked;
    bool got_data; /* a message arrived on this stream */

    /* The answer. */
    int http_status;
    bool have_status;
    int status;
    char message[256];
    char goaway[128]; /* why the server said GOAWAY, if it did */

    /* The end: set once, by whatever ended the stream first. */
    bool ended;
    int end_code;
    char end_details[300];
    bool discard;     /* we ended it: ignore the rest of what arrives */
    bool server_done; /* the server finished its side (END_STREAM) */
    bool stream_gone; /* nghttp2 closed the stream: nothing to reset */
    bool conn_dead;   /* the socket failed: nothing more can be written */

    /* Reassembly of gRPC messages from DATA frames. */
    uint8_t prefix[GRPC_PREFIX_BYTES];
    size_t prefix_have;
    uint8_t *msg;
    size_t msg_len, msg_have;
    bool in_msg;
    size_t to_consume; /* DATA bytes taken in by this read, not yet credited */
    size_t withheld;   /* DATA bytes whose credit waits for the loop to drain */

    /* Keepalive. */
    int64_t last_read_ms;
    int64_t ping_deadline_ms; /* 0: no ping outstanding */
};

/* ---- the stream's end -------------------------------------------------------------------- */

/* Records how the stream ended (the first cause wins) and resets it if it is still open, so
 * that the control plane sees a cancel rather than a connection that just went away. */
static void end_stream(struct dp_cph2 *h, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
end_stream(struct dp_cph2 *h, int code, const char *fmt, ...)
{
    va_list ap;

    if (h->ended)
        return;
    h->ended = true;
    h->discard = true;
    h->end_code = code;
    va_start(ap, fmt);
    (void)vsnprintf(h->end_details, sizeof(h->end_details), fmt, ap);
    va_end(ap);
    /* After the server's trailers, NO_ERROR lets it free the stream (PROTOCOL-HTTP2.md,
     * early server closure); otherwise this is a client cancel. */
    if (h->session && h->stream_id > 0 && !h->stream_gone && !h->conn_dead)
        (void)nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, h->stream_id,
                                        h->server_done ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
}

/* grpc-message is percent-encoded (PROTOCOL-HTTP2.md); a broken escape is kept as it is. */
static void
percent_decode(char *dst, size_t dst_len, const uint8_t *src, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < dst_len; i++) {
        unsigned v;
        char hex[3] = {0};
        if (src[i] == '%' && i + 2 < len) {
            hex[0] = (char)src[i + 1];
            hex[1] = (char)src[i + 2];
            if (strspn(hex, "0123456789abcdefABCDEF") == 2 && sscanf(hex, "%2x", &v) == 1) {
                dst[o++] = (char)v;
                i += 2;
                continue;
            }
        }
        dst[o++] = (char)src[i];
    }
    dst[o] = '\0';
}

/* A gRPC status for an answer that carried none (PROTOCOL-HTTP2.md: HTTP status mapping). */
static int
code_of_http(int http)
{
    switch (http) {
    case 400:
        return ST_INTERNAL;
    case 401:
        return ST_UNAUTHENTICATED;
    case 403:
        return ST_PERMISSION_DENIED;
    case 404:
        return ST_UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
        return ST_UNAVAILABLE;
    default:
        return ST_UNKNOWN;
    }
}

/* The server finished the response (trailers, a trailers-only answer, or a DATA END_STREAM). */
static void
end_from_response(struct dp_cph2 *h)
{
    h->server_done = true;
    if (h->have_status)
        end_stream(h, h->status, "%s", h->message);
    else if (h->http_status != 200)
        end_stream(h, code_of_http(h->http_status), "HTTP status %d", h->http_status);
    else
        end_stream(h, ST_INTERNAL, "the server ended the stream without a grpc-status");
}

/* ---- receiving --------------------------------------------------------------------------- */

/* One whole message from the server: what gRPC core's RECV_MESSAGE completion did. */
static void
on_message(struct dp_cpclient *c, struct dp_cph2 *h, const uint8_t *data, size_t len)
{
    Edge__V1__ConfigUpdate *upd = edge__v1__config_update__unpack(NULL, len, data);

    if (!upd) {
        edge_log_warn("cpclient: %s sent an update that does not parse; reconnecting", c->target);
        end_stream(h, ST_CANCELLED, "%s", "");
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (!h->got_data) {
        h->got_data = true;
        c->reported_down = false;
        atomic_store(&c->connected, true);
        edge_log_info("cpclient: connected to %s as node \"%s\"", c->target, c->node_id);
    }
    if (upd->nodes_connected)
        atomic_store(&c->fleet_size, upd->nodes_connected);
    if (upd->revision == 0 && upd->grants_leases)
        c->leases_gen = c->gen; /* under mu */
    if (c->on_receive)
        c->on_receive(c->on_receive_ctx, upd);

    struct rx_item *it = calloc(1, sizeof(*it));
    if (!it) {
        /* Losing an update would desynchronize the merge: start over with a full one. */
        edge_pb_free(upd);
        c->resync = true;
        pthread_mutex_unlock(&c->mu);
        end_stream(h, ST_CANCELLED, "out of memory");
        return;
    }
    it->upd = upd;
    it->gen = c->gen;
    if (upd->full) {
        /* A full snapshot makes everything queued before it moot. */
        while (c->rx_head) {
            struct rx_item *old = c->rx_head;
            c->rx_head = old->next;
            edge_pb_free(old->upd);
            free(old);
        }
        c->rx_tail = NULL;
        c->rx_len = 0;
    }
    if (c->rx_tail)
        c->rx_tail->next = it;
    else
        c->rx_head = it;
    c->rx_tail = it;
    c->rx_len++;
    if (c->rx_len >= RX_QUEUE_MAX && !c->recv_paused) {
        c->recv_paused = true;
        edge_log_debug("cpclient: %zu updates wait for the node's loop; holding back %s", c->rx_len,
                       c->target);
    }
    pthread_mutex_unlock(&c->mu);
    ev_async_send(c->loop, &c->rx_async);
}

static int
on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data, size_t len,
              void *ud)
{
    struct dp_cpclient *c = ud;
    struct dp_cph2 *h = c->h2;

    if (stream_id != h->stream_id)
        return 0;
    h->to_consume += len;
    while (len > 0 && !h->discard) {
        if (!h->in_msg) {
            size_t n = GRPC_PREFIX_BYTES - h->prefix_have;
            n = n < len ? n : len;
            memcpy(h->prefix + h->prefix_have, data, n);
            h->prefix_have += n;
            data += n;
            len -= n;
            if (h->prefix_have < GRPC_PREFIX_BYTES)
                break;
            uint32_t mlen = (uint32_t)h->prefix[1] << 24 | (uint32_t)h->prefix[2] << 16 |
                            (uint32_t)h->prefix[3] << 8 | h->prefix[4];
            if (h->prefix[0] != 0) {
                /* We announce no grpc-accept-encoding: a compressed message is a broken peer. */
                end_stream(h, ST_INTERNAL, "a compressed message, but no encoding was agreed");
                break;
            }
            if (mlen > MAX_RECEIVE_BYTES) {
                end_stream(h, ST_RESOURCE_EXHAUSTED, "Received message larger than max (%u vs. %d)",
                           mlen, MAX_RECEIVE_BYTES);
                break;
            }
            h->msg = malloc(mlen ? mlen : 1);
            if (!h->msg) {
                pthread_mutex_lock(&c->mu);
                c->resync = true; /* the update is lost: start over with a full one */
                pthread_mutex_unlock(&c->mu);
                end_stream(h, ST_CANCELLED, "out of memory for a message of %u bytes", mlen);
                break;
            }
            h->msg_len = mlen;
            h->msg_have = 0;
            h->in_msg = true;
        }
        size_t n = h->msg_len - h->msg_have;
        n = n < len ? n : len;
        memcpy(h->msg + h->msg_have, data, n);
        h->msg_have += n;
        data += n;
        len -= n;
        if (h->msg_have == h->msg_len) {
            on_message(c, h, h->msg, h->msg_len);
            free(h->msg);
            h->msg = NULL;
            h->in_msg = false;
            h->prefix_have = 0;
        }
    }
    return 0;
}

static int
on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
          const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
    struct dp_cpclient *c = ud;
    struct dp_cph2 *h = c->h2;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->hd.stream_id != h->stream_id)
        return 0;
    if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        char v[8];
        (void)snprintf(v, sizeof(v), "%.*s", (int)(valuelen < 7 ? valuelen : 7), value);
        h->http_status = atoi(v);
    } else if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        char v[12];
        (void)snprintf(v, sizeof(v), "%.*s", (int)(valuelen < 11 ? valuelen : 11), value);
        h->have_status = true;
        h->status = atoi(v);
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        percent_decode(h->message, sizeof(h->message), value, valuelen);
    }
    return 0;
}

static int
on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud)
{
    struct dp_cpclient *c = ud;
    struct dp_cph2 *h = c->h2;

    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
    case NGHTTP2_DATA:
        /* END_STREAM from the server: its trailers (or a trailers-only answer) are in. */
        if (frame->hd.stream_id == h->stream_id && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
            end_from_response(h);
        break;
    case NGHTTP2_PING:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK)
            h->ping_deadline_ms = 0;
        break;
    case NGHTTP2_GOAWAY:
        (void)snprintf(
            h->goaway, sizeof(h->goaway), "GOAWAY %s%s%.*s",
            nghttp2_http2_strerror(frame->goaway.error_code),
            frame->goaway.opaque_data_len ? ": " : "",
            (int)(frame->goaway.opaque_data_len < 96 ? frame->goaway.opaque_data_len : 96),
            (const char *)frame->goaway.opaque_data);
        break;
    default:
        break;
    }
    return 0;
}

static int
on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud)
{
    struct dp_cpclient *c = ud;
    struct dp_cph2 *h = c->h2;

    if (stream_id != h->stream_id)
        return 0;
    h->stream_gone = true;
    if (h->ended)
        return 0;
    /* Reset by the server (PROTOCOL-HTTP2.md: RST_STREAM codes to gRPC codes). */
    int code = ST_INTERNAL;
    if (error_code == NGHTTP2_REFUSED_STREAM)
        code = ST_UNAVAILABLE;
    else if (error_code == NGHTTP2_CANCEL)
        code = ST_CANCELLED;
    else if (error_code == NGHTTP2_ENHANCE_YOUR_CALM)
        code = ST_RESOURCE_EXHAUSTED;
    else if (error_code == NGHTTP2_INADEQUATE_SECURITY)
        code = ST_PERMISSION_DENIED;
    end_stream(h, code, "stream reset by the server (%s)%s%s", nghttp2_http2_strerror(error_code),
               h->goaway[0] ? "; " : "", h->goaway);
    return 0;
}

/* ---- sending ----------------------------------------------------------------------------- */

static ssize_t
on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud)
{
    struct dp_cpclient *c = ud;
    struct dp_cph2 *h = c->h2;
    ssize_t n = dp_cpconn_write(&h->conn, data, len);

    if (n == -EAGAIN) {
        h->write_blocked = true;
        return NGHTTP2_ERR_WOULDBLOCK;
    }
    if (n < 0) {
        h->conn_dead = true;
        end_stream(h, ST_UNAVAILABLE, "Socket closed (%s)", strerror((int)-n));
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    return n;
}

/* The request body: whatever the send slot holds, then the next message, as long as nghttp2
 * takes bytes; deferred (resumed by a wakeup) when nothing waits. */
static ssize_t
read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length, uint32_t *data_flags,
          nghttp2_data_source *source, void *ud)
{
    struct dp_cpclient *c = ud;
    size_t n = 0;

    pthread_mutex_lock(&c->mu);
    while (n < length) {
        if (!c->send_busy && !dp_cpstream_start_send_locked(c))
            break;
        size_t k = c->send_len - c->send_off;
        k = k < length - n ? k : length - n;
        memcpy(buf + n, c->send_buf + c->send_off, k);
        c->send_off += k;
        n += k;
        if (c->send_off == c->send_len)
            dp_cpstream_slot_clear(c); /* handed to the transport: the slot is free for the next */
    }
    pthread_mutex_unlock(&c->mu);
    if (n == 0) {
        c->h2->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    return (ssize_t)n;
}

/* Writes what nghttp2 has to send, until it is done or the socket is full. */
static void
flush(struct dp_cpclient *c, struct dp_cph2 *h)
{
    h->write_blocked = false;
    int rc = nghttp2_session_send(h->session);
    if (rc != 0 && !h->ended)
        end_stream(h, ST_UNAVAILABLE, "HTTP/2: %s", nghttp2_strerror(rc));
}

/* ---- one attempt ------------------------------------------------------------------------- */

static struct dp_cph2 *
attempt_new(struct dp_cpclient *c)
{
    struct dp_cph2 *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    edge_log_debug("cpclient: connecting to %s", c->target);
    if (dp_cpconn_open(&h->conn, c->host, c->port, c->tls,
                       dp_cpstream_now_ms() + CONNECT_TIMEOUT_MS) < 0)
        end_stream(h, ST_UNAVAILABLE, "failed to connect to all addresses; last error: %s",
                   h->conn.error);
    return h;
}

/* The connection is up: the HTTP/2 session, our settings and the Watch request, Hello first. */
static void
start_stream(struct dp_cpclient *c, struct dp_cph2 *h)
{
    nghttp2_session_callbacks *cbs = NULL;
    nghttp2_option *opt = NULL;
    int rc = nghttp2_session_callbacks_new(&cbs);

    if (rc == 0)
        rc = nghttp2_option_new(&opt);
    if (rc == 0) {
        nghttp2_session_callbacks_set_send_callback(cbs, on_send);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        /* Credit goes back only when the loop keeps up: our receive backpressure. */
        nghttp2_option_set_no_auto_window_update(opt, 1);
        rc = nghttp2_session_client_new2(&h->session, cbs, c, opt);
    }
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    if (rc != 0) {
        h->session = NULL;
        end_stream(h, ST_INTERNAL, "HTTP/2: %s", nghttp2_strerror(rc));
        return;
    }
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, RECV_WINDOW_BYTES},
    };
    rc = nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    if (rc == 0)
        rc = nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0,
                                                   RECV_WINDOW_BYTES);
    if (rc != 0) {
        end_stream(h, ST_INTERNAL, "HTTP/2: %s", nghttp2_strerror(rc));
        return;
    }

    char ua[128];
    (void)snprintf(ua, sizeof(ua), "edge-dataplane/%s nghttp2/%s", c->version,
                   nghttp2_version(0)->version_str);
#define NV(n, v, f)                                                                                \
    {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NO_COPY_NAME | (f)}
    nghttp2_nv nva[] = {
        NV(":method", "POST", 0),
        NV(":scheme", c->tls ? "https" : "http", 0),
        NV(":path", WATCH_METHOD, 0),
        NV(":authority", c->target, 0),
        NV("te", "trailers", 0),
        NV("content-type", "application/grpc", 0),
        NV("user-agent", ua, 0),
        /* Kept out of the HPACK tables: it is a secret. */
        NV("authorization", c->auth ? c->auth : "", NGHTTP2_NV_FLAG_NO_INDEX),
    };
#undef NV
    size_t nvlen = sizeof(nva) / sizeof(nva[0]) - (c->auth ? 0 : 1);
    nghttp2_data_provider body = {.read_callback = read_body};

    size_t hello_len = 0;
    pthread_mutex_lock(&c->mu);
    uint8_t *hello = dp_cpstream_pack_hello_locked(c, &hello_len);
    pthread_mutex_unlock(&c->mu);
    if (!hello) {
        end_stream(h, ST_INTERNAL, "out of memory");
        return;
    }
    int32_t id = nghttp2_submit_request(h->session, NULL, nva, nvlen, &body, h);
    if (id < 0) {
        free(hello);
        end_stream(h, ST_INTERNAL, "HTTP/2: %s", nghttp2_strerror(id));
        return;
    }
    h->stream_id = id;
    h->last_read_ms = dp_cpstream_now_ms();

    pthread_mutex_lock(&c->mu);
    c->gen++;
    c->ack.have = false;
    c->recv_paused = false;
    c->cancel = false;
    c->call_open = true;
    dp_cpstream_slot_clear(c);
    dp_cpstream_slot_take(c, hello,
                          hello_len); /* Hello goes first; acks and the rest queue behind it */
    pthread_mutex_unlock(&c->mu);
}

/* Reads what the socket has and feeds it to nghttp2; then gives back flow-control credit
 * unless the loop is behind. */
static void
do_read(struct dp_cpclient *c, struct dp_cph2 *h)
{
    uint8_t buf[16384];

    while (!h->ended) {
        ssize_t n = dp_cpconn_read(&h->conn, buf, sizeof(buf));
        if (n == -EAGAIN)
            break;
        if (n <= 0) {
            h->conn_dead = true;
            end_stream(h, ST_UNAVAILABLE, "Socket closed%s%s", n ? ": " : "",
                       n == -EPROTO ? h->conn.error
                       : n          ? strerror((int)-n)
                                    : "");
            if (h->goaway[0])
                (void)snprintf(h->end_details + strlen(h->end_details),
                               sizeof(h->end_details) - strlen(h->end_details), " (%s)", h->goaway);
            break;
        }
        h->last_read_ms = dp_cpstream_now_ms();
        h->ping_deadline_ms = 0; /* the peer is alive: that is all a ping would tell */
        ssize_t rc = nghttp2_session_mem_recv(h->session, buf, (size_t)n);
        if (rc < 0) {
            end_stream(h, ST_INTERNAL, "HTTP/2: %s", nghttp2_strerror((int)rc));
            break;
        }
    }
    if (h->ended || h->stream_id <= 0)
        return;
    pthread_mutex_lock(&c->mu);
    if (c->recv_paused && c->rx_len < RX_QUEUE_MAX / 2) {
        c->recv_paused = false;
        edge_log_debug(
            "cpclient: the node's loop caught up; reading %s again (%zu bytes of credit)",
            c->target, h->withheld + h->to_consume);
    }
    bool paused = c->recv_paused;
    pthread_mutex_unlock(&c->mu);
    h->withheld += h->to_consume;
    h->to_consume = 0;
    if (!paused && h->withheld) {
        (void)nghttp2_session_consume(h->session, h->stream_id, h->withheld);
        h->withheld = 0;
    }
}

/* Frees the attempt; logs and schedules the next one as gRPC core's status did. */
static void
attempt_done(struct dp_cpclient *c, struct dp_cph2 *h)
{
    bool stopping, resync;

    if (h->session) {
        /* A GOAWAY on the way out, if the socket takes it; nothing waits for it. */
        if (!h->write_blocked && !h->conn_dead && h->conn.state == DP_CPCONN_UP) {
            (void)nghttp2_session_terminate_session(h->session, NGHTTP2_NO_ERROR);
            (void)nghttp2_session_send(h->session);
        }
        nghttp2_session_del(h->session);
    }
    dp_cpconn_close(&h->conn);
    free(h->msg);

    pthread_mutex_lock(&c->mu);
    c->call_open = false;
    c->cancel = false;
    c->ack.have = false;
    dp_cpstream_drop_tx(c); /* the control plane forgets this stream's leases; so does the node */
    c->recv_paused = false;
    stopping = c->stopping;
    resync = c->resync;
    pthread_mutex_unlock(&c->mu);

    const char *details = h->end_details;
    if (h->got_data) {
        atomic_store(&c->connected, false);
        if (stopping)
            edge_log_info("cpclient: disconnected from %s (stopping)", c->target);
        else if (resync && h->end_code == ST_CANCELLED)
            edge_log_info("cpclient: ended the stream to %s to resynchronize", c->target);
        else
            edge_log_warn("cpclient: disconnected from %s: %s \"%s\"; reconnecting", c->target,
                          edge_status_name(h->end_code), details);
    } else if (!stopping && !c->reported_down) {
        c->reported_down = true;
        edge_log_warn("cpclient: cannot reach %s: %s \"%s\"; retrying with backoff", c->target,
                      edge_status_name(h->end_code), details);
    } else {
        edge_log_debug("cpclient: %s: %s \"%s\"", c->target, edge_status_name(h->end_code),
                       details);
    }

    if (h->got_data)
        c->backoff_ms = BACKOFF_INITIAL_MS;
    /* A resync is our own doing, not an outage: no reason to wait. */
    c->next_attempt_ms = dp_cpstream_now_ms() + (resync ? 0 : dp_cpstream_jitter(c, c->backoff_ms));
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
    free(h);
    c->h2 = NULL;
}

/* Drives the live attempt one step: connect, handshake, or the stream's I/O and timers. */
static void
step(struct dp_cpclient *c, struct dp_cph2 *h, bool cancel)
{
    int64_t now = dp_cpstream_now_ms();

    if (h->ended)
        return;
    if (h->conn.state != DP_CPCONN_UP) {
        int rc = dp_cpconn_progress(&h->conn, now);
        if (rc < 0) {
            end_stream(h, ST_UNAVAILABLE, "failed to connect to all addresses; last error: %s",
                       h->conn.error);
            return;
        }
        if (rc == 0)
            return;
        start_stream(c, h);
        if (h->ended)
            return;
    }
    if (cancel)
        end_stream(h, ST_CANCELLED, "%s", "");
    do_read(c, h);
    if (!h->ended) {
        if (h->ping_deadline_ms && now >= h->ping_deadline_ms) {
            h->conn_dead = true; /* nothing we write would arrive */
            end_stream(h, ST_UNAVAILABLE, "keepalive watchdog timeout");
        } else if (!h->ping_deadline_ms && now - h->last_read_ms >= KEEPALIVE_TIME_MS) {
            if (nghttp2_submit_ping(h->session, NGHTTP2_FLAG_NONE, NULL) == 0)
                h->ping_deadline_ms = now + KEEPALIVE_TIMEOUT_MS;
        }
    }
    if (h->deferred) {
        pthread_mutex_lock(&c->mu);
        bool more = c->send_busy || dp_cpstream_start_send_locked(c);
        pthread_mutex_unlock(&c->mu);
        if (more) {
            h->deferred = false;
            (void)nghttp2_session_resume_data(h->session, h->stream_id);
        }
    }
    flush(c, h);
    if (!h->ended && !nghttp2_session_want_read(h->session) &&
        !nghttp2_session_want_write(h->session))
        end_stream(h, ST_UNAVAILABLE, "the connection ended%s%s", h->goaway[0] ? ": " : "",
                   h->goaway);
}

/* How long poll() may sleep, in ms: until the next timer (I/O or a wakeup may come first). */
static int
poll_timeout(struct dp_cpclient *c, int64_t now)
{
    struct dp_cph2 *h = c->h2;
    int64_t when;

    if (!h)
        when = c->next_attempt_ms;
    else if (h->conn.state != DP_CPCONN_UP)
        when = h->conn.deadline_ms;
    else if (h->ping_deadline_ms)
        when = h->ping_deadline_ms;
    else
        when = h->last_read_ms + KEEPALIVE_TIME_MS;
    if (when <= now)
        return 0;
    return when - now > 60000 ? 60000 : (int)(when - now);
}

void *
dp_cpstream_main(void *arg)
{
    struct dp_cpclient *c = arg;

    c->next_attempt_ms = dp_cpstream_now_ms();
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stopping = c->stopping, cancel = c->cancel;
        c->cancel = false;
        pthread_mutex_unlock(&c->mu);

        if (stopping) {
            if (c->h2) {
                end_stream(c->h2, ST_CANCELLED, "stopping");
                if (c->h2->session)
                    flush(c, c->h2);
                attempt_done(c, c->h2);
            }
            break;
        }
        if (!c->h2 && dp_cpstream_now_ms() >= c->next_attempt_ms) {
            c->h2 = attempt_new(c);
            if (!c->h2) {
                c->next_attempt_ms = dp_cpstream_now_ms() + dp_cpstream_jitter(c, c->backoff_ms);
                continue;
            }
        }
        if (c->h2) {
            step(c, c->h2, cancel);
            if (c->h2->ended) {
                attempt_done(c, c->h2);
                continue;
            }
        }

        struct pollfd pfd[2] = {{.fd = c->wake_fd, .events = POLLIN}, {.fd = -1}};
        if (c->h2 && c->h2->conn.fd >= 0) {
            pfd[1].fd = c->h2->conn.fd;
            pfd[1].events = dp_cpconn_events(&c->h2->conn);
            if (c->h2->write_blocked)
                pfd[1].events |= POLLOUT;
        }
        int rc = poll(pfd, 2, poll_timeout(c, dp_cpstream_now_ms()));
        if (rc > 0 && (pfd[0].revents & POLLIN)) {
            uint64_t v;
            (void)!read(c->wake_fd, &v, sizeof(v));
        }
    }
    return NULL;
}
