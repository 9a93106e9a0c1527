/* The server half of the gRPC layer: one completion queue driven by one thread.
 *
 * Every outstanding batch carries a tag pointing into its call's context; a context is freed
 * only when the call is over (RECV_CLOSE_ON_SERVER done) and no batch of it is outstanding. */
#include "pb.h"
#include "rpc.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls posted ahead per method, to absorb bursts. */
#define PENDING_PER_METHOD 4

enum tag_kind {
    TAG_NEW_CALL,
    TAG_UNARY_DONE,
    TAG_UNKNOWN_NEW,
    TAG_UNKNOWN_DONE,
    TAG_STREAM_RECV,
    TAG_STREAM_SEND,
    TAG_STREAM_CLOSE,
    TAG_STREAM_STATUS,
    TAG_SHUTDOWN,
};

struct tag {
    enum tag_kind kind;
    void *obj;
};

struct method {
    char *path;
    const ProtobufCMessageDescriptor *req_desc;
    edge_rpc_unary_fn unary;
    const struct edge_rpc_stream_ops *ops; /* bidi when set */
    edge_rpc_auth_fn auth;
    void *ctx;
    void *handle;
    struct edge_rpc_server *srv;
    struct method *next;
};

struct edge_rpc_call {
    struct edge_rpc_server *srv;
    struct method *m; /* NULL for unknown methods */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_call_details details; /* unknown methods only */
    grpc_byte_buffer *payload;
    char *peer;
    struct tag t_new, t_done;
    grpc_byte_buffer *resp_bb;
    grpc_slice status_details;
    int cancelled;
};

struct edge_rpc_stream {
    struct edge_rpc_call c; /* first: a stream is a call */
    struct tag t_recv, t_send, t_close, t_status;
    grpc_byte_buffer *recv_bb;
    grpc_byte_buffer *send_bb;
    grpc_slice fin_details;
    grpc_status_code fin_code;
    int outstanding;
    bool initial_md_sent, send_busy, finishing, status_started, closed;
    void *data;
    struct edge_rpc_stream *prev, *next;
};

struct edge_rpc_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    struct method *methods;
    struct edge_rpc_stream *streams;
    struct tag t_shutdown;
    bool started, shutting_down, shutdown_done, cq_down;
    int live_calls; /* contexts alive: posted requests and calls in progress */
    int active;     /* calls in progress (their handler or stream has started) */
};

const char *
edge_rpc_call_method(const struct edge_rpc_call *call)
{
    return call->m ? call->m->path : "";
}

const char *
edge_rpc_call_peer(const struct edge_rpc_call *call)
{
    return call->peer ? call->peer : "";
}

const char *
edge_rpc_call_metadata(const struct edge_rpc_call *call, const char *key, size_t *ret_len)
{
    for (size_t i = 0; i < call->md.count; i++) {
        if (grpc_slice_str_cmp(call->md.metadata[i].key, key) == 0) {
            if (ret_len)
                *ret_len = GRPC_SLICE_LENGTH(call->md.metadata[i].value);
            return (const char *)GRPC_SLICE_START_PTR(call->md.metadata[i].value);
        }
    }
    return NULL;
}

int64_t
edge_rpc_call_deadline_left_ms(const struct edge_rpc_call *call)
{
    gpr_timespec now = gpr_now(call->deadline.clock_type);
    if (gpr_time_cmp(call->deadline, gpr_inf_future(call->deadline.clock_type)) == 0)
        return INT64_MAX;
    gpr_timespec left = gpr_time_sub(call->deadline, now);
    return (int64_t)left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

static void
call_init(struct edge_rpc_call *c, struct edge_rpc_server *srv, struct method *m)
{
    c->srv = srv;
    c->m = m;
    grpc_metadata_array_init(&c->md);
    c->t_new.obj = c;
    c->t_done.obj = c;
    c->status_details = grpc_empty_slice();
}

static void
call_done(struct edge_rpc_call *c)
{
    grpc_metadata_array_destroy(&c->md);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->resp_bb)
        grpc_byte_buffer_destroy(c->resp_bb);
    grpc_slice_unref(c->status_details);
    if (c->peer)
        gpr_free(c->peer);
    if (c->call)
        grpc_call_unref(c->call);
}

static void
post_request(struct method *m)
{
    struct edge_rpc_server *srv = m->srv;
    struct edge_rpc_call *c;

    if (srv->shutting_down)
        return;
    if (m->ops) {
        struct edge_rpc_stream *s = edge_xcalloc(1, sizeof(*s));
        c = &s->c;
    } else {
        c = edge_xcalloc(1, sizeof(*c));
    }
    call_init(c, srv, m);
    c->t_new.kind = TAG_NEW_CALL;
    grpc_call_error e = grpc_server_request_registered_call(
        srv->server, m->handle, &c->call, &c->deadline, &c->md, m->ops ? NULL : &c->payload,
        srv->cq, srv->cq, &c->t_new);
    if (e != GRPC_CALL_OK) {
        call_done(c);
        free(c);
        return;
    }
    srv->live_calls++;
}

static void
post_unknown(struct edge_rpc_server *srv)
{
    if (srv->shutting_down)
        return;
    struct edge_rpc_call *c = edge_xcalloc(1, sizeof(*c));
    call_init(c, srv, NULL);
    grpc_call_details_init(&c->details);
    c->t_new.kind = TAG_UNKNOWN_NEW;
    if (grpc_server_request_call(srv->server, &c->call, &c->details, &c->md, srv->cq, srv->cq,
                                 &c->t_new) != GRPC_CALL_OK) {
        grpc_call_details_destroy(&c->details);
        call_done(c);
        free(c);
        return;
    }
    srv->live_calls++;
}

/* Answers a call in one batch: initial metadata, the response (if any), status, close. */
static int
reply_unary(struct edge_rpc_call *c, enum tag_kind kind, grpc_slice *resp,
            const struct edge_rpc_status *st)
{
    grpc_op ops[4];
    size_t n = 0;

    memset(ops, 0, sizeof(ops));
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (resp) {
        c->resp_bb = grpc_raw_byte_buffer_create(resp, 1);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp_bb;
    }
    grpc_slice_unref(c->status_details);
    c->status_details =
        grpc_slice_from_copied_string(st->code == GRPC_STATUS_OK ? "" : st->message);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = st->code;
    ops[n++].data.send_status_from_server.status_details = &c->status_details;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->t_done.kind = kind;
    return grpc_call_start_batch(c->call, ops, n, &c->t_done, NULL) == GRPC_CALL_OK ? 0 : -EIO;
}

static void
free_unary(struct edge_rpc_call *c, bool was_active)
{
    c->srv->live_calls--;
    if (was_active)
        c->srv->active--;
    if (c->m == NULL)
        grpc_call_details_destroy(&c->details);
    call_done(c);
    free(c);
}

static void
run_unary(struct edge_rpc_call *c)
{
    struct method *m = c->m;
    struct edge_rpc_status st = {.code = GRPC_STATUS_OK};
    ProtobufCMessage *req = NULL, *resp = NULL;
    grpc_slice packed;
    bool have_resp = false;

    c->peer = grpc_call_get_peer(c->call);
    if (m->auth && m->auth(m->ctx, c, &st) != 0) {
        if (st.code == GRPC_STATUS_OK)
            edge_rpc_fail(&st, GRPC_STATUS_UNAUTHENTICATED, "unauthenticated");
    } else if (!c->payload) {
        edge_rpc_fail(&st, GRPC_STATUS_INVALID_ARGUMENT, "request message missing");
    } else if (!(req = edge_rpc_unpack(m->req_desc, c->payload))) {
        edge_rpc_fail(&st, GRPC_STATUS_INVALID_ARGUMENT, "request is not a valid %s",
                      m->req_desc->name);
    } else {
        m->unary(m->ctx, c, req, &resp, &st);
        if (st.code == GRPC_STATUS_OK && !resp)
            edge_rpc_fail(&st, GRPC_STATUS_INTERNAL, "handler returned no response");
        if (st.code == GRPC_STATUS_OK) {
            packed = edge_rpc_pack(resp);
            have_resp = true;
        }
    }
    edge_pb_free(resp);
    edge_pb_free(req);
    if (reply_unary(c, TAG_UNARY_DONE, have_resp ? &packed : NULL, &st) != 0)
        free_unary(c, true);
    if (have_resp)
        grpc_slice_unref(packed);
}

/* ---- streams ----------------------------------------------------------------------------- */

static void
stream_maybe_free(struct edge_rpc_stream *s)
{
    if (!s->closed || s->outstanding > 0)
        return;
    if (s->recv_bb)
        grpc_byte_buffer_destroy(s->recv_bb);
    if (s->send_bb)
        grpc_byte_buffer_destroy(s->send_bb);
    grpc_slice_unref(s->fin_details);
    s->c.srv->live_calls--;
    s->c.srv->active--;
    call_done(&s->c);
    free(s);
}

static void
stream_unlink(struct edge_rpc_stream *s)
{
    struct edge_rpc_server *srv = s->c.srv;
    if (s->prev)
        s->prev->next = s->next;
    else if (srv->streams == s)
        srv->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void
stream_start_status(struct edge_rpc_stream *s)
{
    grpc_op ops[2];
    size_t n = 0;

    memset(ops, 0, sizeof(ops));
    if (!s->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        s->initial_md_sent = true;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = s->fin_code;
    ops[n++].data.send_status_from_server.status_details = &s->fin_details;
    s->status_started = true;
    if (grpc_call_start_batch(s->c.call, ops, n, &s->t_status, NULL) == GRPC_CALL_OK)
        s->outstanding++;
    else
        grpc_call_cancel(s->c.call, NULL);
}

void
edge_rpc_stream_finish(struct edge_rpc_stream *s, grpc_status_code code, const char *msg)
{
    if (s->closed || s->finishing)
        return;
    s->finishing = true;
    s->fin_code = code;
    grpc_slice_unref(s->fin_details);
    s->fin_details = grpc_slice_from_copied_string(msg ? msg : "");
    if (!s->send_busy)
        stream_start_status(s);
}

int
edge_rpc_stream_send(struct edge_rpc_stream *s, grpc_slice packed)
{
    grpc_op ops[2];
    size_t n = 0;

    if (s->closed || s->finishing)
        return -EPIPE;
    if (s->send_busy)
        return -EBUSY;
    memset(ops, 0, sizeof(ops));
    if (!s->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        s->initial_md_sent = true;
    }
    s->send_bb = grpc_raw_byte_buffer_create(&packed, 1);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = s->send_bb;
    if (grpc_call_start_batch(s->c.call, ops, n, &s->t_send, NULL) != GRPC_CALL_OK) {
        grpc_byte_buffer_destroy(s->send_bb);
        s->send_bb = NULL;
        return -EIO;
    }
    s->outstanding++;
    s->send_busy = true;
    return 0;
}

bool
edge_rpc_stream_busy(const struct edge_rpc_stream *s)
{
    return s->send_busy;
}

const struct edge_rpc_call *
edge_rpc_stream_call(const struct edge_rpc_stream *s)
{
    return &s->c;
}

void *
edge_rpc_stream_data(const struct edge_rpc_stream *s)
{
    return s->data;
}

void
edge_rpc_stream_set_data(struct edge_rpc_stream *s, void *data)
{
    s->data = data;
}

static void
stream_post_recv(struct edge_rpc_stream *s)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &s->recv_bb;
    if (grpc_call_start_batch(s->c.call, &op, 1, &s->t_recv, NULL) == GRPC_CALL_OK)
        s->outstanding++;
}

static void
run_stream(struct edge_rpc_stream *s)
{
    struct edge_rpc_server *srv = s->c.srv;
    struct method *m = s->c.m;
    struct edge_rpc_status st = {.code = GRPC_STATUS_OK};
    grpc_op op;

    s->c.peer = grpc_call_get_peer(s->c.call);
    s->t_recv = (struct tag){TAG_STREAM_RECV, s};
    s->t_send = (struct tag){TAG_STREAM_SEND, s};
    s->t_close = (struct tag){TAG_STREAM_CLOSE, s};
    s->t_status = (struct tag){TAG_STREAM_STATUS, s};
    s->fin_details = grpc_empty_slice();

    /* Posted first: it completes when the call is over, whichever side ends it. */
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &s->c.cancelled;
    if (grpc_call_start_batch(s->c.call, &op, 1, &s->t_close, NULL) != GRPC_CALL_OK) {
        s->closed = true;
        stream_maybe_free(s);
        return;
    }
    s->outstanding++;
    s->next = srv->streams;
    if (srv->streams)
        srv->streams->prev = s;
    srv->streams = s;

    if (m->auth && m->auth(m->ctx, &s->c, &st) != 0) {
        if (st.code == GRPC_STATUS_OK)
            edge_rpc_fail(&st, GRPC_STATUS_UNAUTHENTICATED, "unauthenticated");
        edge_rpc_stream_finish(s, st.code, st.message);
        s->c.m = NULL; /* never opened: the app never hears of it */
        return;
    }
    if (m->ops->open(m->ctx, s, &st) != 0) {
        if (st.code == GRPC_STATUS_OK)
            edge_rpc_fail(&st, GRPC_STATUS_INTERNAL, "stream refused");
        edge_rpc_stream_finish(s, st.code, st.message);
        s->c.m = NULL;
        return;
    }
    stream_post_recv(s);
}

static void
on_stream_event(struct edge_rpc_stream *s, enum tag_kind kind, int ok)
{
    struct method *m = s->c.m; /* NULL when the app refused the stream */

    s->outstanding--;
    switch (kind) {
    case TAG_STREAM_RECV:
        if (!ok || s->closed) {
            break;
        } else if (!s->recv_bb) {
            if (m && m->ops->half_closed && !s->finishing)
                m->ops->half_closed(m->ctx, s);
        } else {
            ProtobufCMessage *msg = edge_rpc_unpack(m->req_desc, s->recv_bb);
            grpc_byte_buffer_destroy(s->recv_bb);
            s->recv_bb = NULL;
            if (!msg) {
                edge_rpc_stream_finish(s, GRPC_STATUS_INVALID_ARGUMENT, "message does not parse");
            } else {
                if (m && !s->finishing)
                    m->ops->message(m->ctx, s, msg);
                edge_pb_free(msg);
            }
            if (!s->closed && !s->finishing)
                stream_post_recv(s);
        }
        break;
    case TAG_STREAM_SEND:
        grpc_byte_buffer_destroy(s->send_bb);
        s->send_bb = NULL;
        s->send_busy = false;
        if (s->finishing && !s->status_started && !s->closed)
            stream_start_status(s);
        else if (ok && !s->closed && !s->finishing && m && m->ops->writable)
            m->ops->writable(m->ctx, s);
        break;
    case TAG_STREAM_CLOSE:
        s->closed = true;
        stream_unlink(s);
        if (m)
            m->ops->closed(m->ctx, s);
        /* Anything still in flight fails promptly now. */
        if (s->outstanding > 0)
            grpc_call_cancel(s->c.call, NULL);
        break;
    case TAG_STREAM_STATUS:
    default:
        break;
    }
    stream_maybe_free(s);
}

/* ---- server ------------------------------------------------------------------------------ */

struct edge_rpc_server *
edge_rpc_server_new(const struct edge_rpc_server_config *cfg, int *ret_port, char *err,
                    size_t err_len)
{
    struct edge_rpc_server *srv = edge_xcalloc(1, sizeof(*srv));
    int max_msg =
        (int)(cfg->max_message_bytes ? cfg->max_message_bytes : EDGE_RPC_MAX_MESSAGE_BYTES);
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = max_msg}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = -1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = 10000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = 5000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
        {GRPC_ARG_INTEGER,
         GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
         {.integer = 1000}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PING_STRIKES, {.integer = 0}},
        {GRPC_ARG_INTEGER, GRPC_ARG_ALLOW_REUSEPORT, {.integer = 0}},
    };
    grpc_channel_args chargs = {sizeof(args) / sizeof(args[0]), args};

    srv->server = grpc_server_create(&chargs, NULL);
    srv->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv->server, srv->cq, NULL);
    grpc_server_credentials *creds = cfg->creds;
    grpc_server_credentials *own = NULL;
    if (!creds)
        creds = own = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(srv->server, cfg->listen, creds);
    if (own)
        grpc_server_credentials_release(own);
    if (port <= 0) {
        snprintf(err, err_len, "cannot listen on %s (address in use or invalid)", cfg->listen);
        grpc_server_destroy(srv->server);
        grpc_completion_queue_shutdown(srv->cq);
        while (grpc_completion_queue_next(srv->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
               GRPC_QUEUE_SHUTDOWN)
            ;
        grpc_completion_queue_destroy(srv->cq);
        free(srv);
        return NULL;
    }
    if (ret_port)
        *ret_port = port;
    return srv;
}

static int
add_method(struct edge_rpc_server *srv, const char *path, const ProtobufCMessageDescriptor *desc,
           edge_rpc_unary_fn fn, const struct edge_rpc_stream_ops *ops, edge_rpc_auth_fn auth,
           void *ctx)
{
    if (srv->started)
        return -EBUSY;
    struct method *m = edge_xcalloc(1, sizeof(*m));
    m->path = strdup(path);
    m->req_desc = desc;
    m->unary = fn;
    m->ops = ops;
    m->auth = auth;
    m->ctx = ctx;
    m->srv = srv;
    m->handle = grpc_server_register_method(
        srv->server, m->path, NULL,
        ops ? GRPC_SRM_PAYLOAD_NONE : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (!m->handle || !m->path) {
        free(m->path);
        free(m);
        return -EEXIST;
    }
    m->next = srv->methods;
    srv->methods = m;
    return 0;
}

int
edge_rpc_server_add_unary(struct edge_rpc_server *srv, const char *method,
                          const ProtobufCMessageDescriptor *req_desc, edge_rpc_unary_fn fn,
                          edge_rpc_auth_fn auth, void *ctx)
{
    return add_method(srv, method, req_desc, fn, NULL, auth, ctx);
}

int
edge_rpc_server_add_bidi(struct edge_rpc_server *srv, const char *method,
                         const ProtobufCMessageDescriptor *req_desc,
                         const struct edge_rpc_stream_ops *ops, edge_rpc_auth_fn auth, void *ctx)
{
    return add_method(srv, method, req_desc, NULL, ops, auth, ctx);
}

int
edge_rpc_server_start(struct edge_rpc_server *srv)
{
    grpc_server_start(srv->server);
    srv->started = true;
    for (struct method *m = srv->methods; m; m = m->next)
        for (int i = 0; i < PENDING_PER_METHOD; i++)
            post_request(m);
    post_unknown(srv);
    return 0;
}

static void
dispatch(struct edge_rpc_server *srv, grpc_event ev)
{
    struct tag *t = ev.tag;
    struct edge_rpc_call *c = t->obj;

    switch (t->kind) {
    case TAG_NEW_CALL:
        if (!ev.success) { /* shutting down: the request was never filled */
            if (c->m->ops) {
                struct edge_rpc_stream *s = (struct edge_rpc_stream *)c;
                srv->live_calls--;
                call_done(&s->c);
                free(s);
            } else {
                free_unary(c, false);
            }
            break;
        }
        post_request(c->m);
        srv->active++;
        if (c->m->ops)
            run_stream((struct edge_rpc_stream *)c);
        else
            run_unary(c);
        break;
    case TAG_UNKNOWN_NEW:
        if (!ev.success) {
            free_unary(c, false);
            break;
        }
        post_unknown(srv);
        srv->active++;
        {
            struct edge_rpc_status st;
            char *method = grpc_slice_to_c_string(c->details.method);
            edge_rpc_fail(&st, GRPC_STATUS_UNIMPLEMENTED, "unknown method %s", method);
            gpr_free(method);
            if (reply_unary(c, TAG_UNKNOWN_DONE, NULL, &st) != 0)
                free_unary(c, true);
        }
        break;
    case TAG_UNARY_DONE:
    case TAG_UNKNOWN_DONE:
        free_unary(c, true);
        break;
    case TAG_STREAM_RECV:
    case TAG_STREAM_SEND:
    case TAG_STREAM_CLOSE:
    case TAG_STREAM_STATUS:
        on_stream_event((struct edge_rpc_stream *)t->obj, t->kind, ev.success);
        break;
    case TAG_SHUTDOWN:
        srv->shutdown_done = true;
        break;
    }
}

int
edge_rpc_server_poll(struct edge_rpc_server *srv, int timeout_ms)
{
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    if (srv->cq_down)
        return -ESHUTDOWN;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(srv->cq, deadline, NULL);
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            return 0;
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            srv->cq_down = true;
            return -ESHUTDOWN;
        }
        dispatch(srv, ev);
        /* Drain what is ready without waiting again. */
        deadline = gpr_inf_past(GPR_CLOCK_MONOTONIC);
    }
}

void
edge_rpc_server_shutdown(struct edge_rpc_server *srv, int grace_ms)
{
    if (!srv || srv->shutting_down)
        return;
    srv->shutting_down = true;
    for (struct edge_rpc_stream *s = srv->streams; s; s = s->next)
        edge_rpc_stream_finish(s, GRPC_STATUS_UNAVAILABLE, "server shutting down");
    srv->t_shutdown.kind = TAG_SHUTDOWN;
    grpc_server_shutdown_and_notify(srv->server, srv->cq, &srv->t_shutdown);
    gpr_timespec grace_end =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(grace_ms, GPR_TIMESPAN));
    bool cancelled = false;
    while (!srv->shutdown_done) {
        /* With no call in progress nothing is worth waiting for: idle client connections
         * would otherwise hold the shutdown for the whole grace period. */
        if (!cancelled &&
            (srv->active == 0 || gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), grace_end) > 0)) {
            grpc_server_cancel_all_calls(srv->server);
            cancelled = true;
        }
        (void)edge_rpc_server_poll(srv, 100);
    }
    grpc_server_cancel_all_calls(srv->server);
    /* Calls still alive get their final tags now. */
    while (srv->live_calls > 0 && edge_rpc_server_poll(srv, 100) == 0)
        ;
}

void
edge_rpc_server_free(struct edge_rpc_server *srv)
{
    if (!srv)
        return;
    if (srv->started && !srv->shutting_down)
        edge_rpc_server_shutdown(srv, 0);
    grpc_server_destroy(srv->server);
    grpc_completion_queue_shutdown(srv->cq);
    while (!srv->cq_down && edge_rpc_server_poll(srv, 1000) == 0)
        ;
    grpc_completion_queue_destroy(srv->cq);
    while (srv->methods) {
        struct method *m = srv->methods;
        srv->methods = m->next;
        free(m->path);
        free(m);
    }
    free(srv);
}
