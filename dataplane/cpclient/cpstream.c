/* The gRPC thread of the config client: the Config/Watch call, its reconnects with backoff
 * and jitter, reads (unpacked here, queued for the loop thread) and sends (Hello, then acks,
 * one SEND_MESSAGE in flight). See cpclient_internal.h for the state it shares, under mu,
 * with the loop thread. */
#include "cpclient_internal.h"
#include "log.h"
#include "pb.h"
#include "rpc/rpc.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
read_pem(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        dp_cpclient_set_err(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                (void)fclose(f);
                dp_cpclient_set_err(err, err_len, "out of memory reading %s", path);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len - 1, f);
        len += r;
        if (r == 0)
            break;
    }
    bool bad = ferror(f);
    (void)fclose(f);
    if (bad || len == 0) {
        free(buf);
        dp_cpclient_set_err(err, err_len, "cannot read %s: %s", path,
                            bad ? "read error" : "empty file");
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

grpc_channel_credentials *
dp_cpstream_creds_new(const struct dp_cpclient_config *cfg, char *err, size_t err_len)
{
    char *ca = NULL, *cert = NULL, *key = NULL;
    grpc_channel_credentials *creds = NULL;

    if (!!cfg->cert_file != !!cfg->key_file) {
        dp_cpclient_set_err(err, err_len,
                            "a client certificate needs both a certificate and a key file");
        return NULL;
    }
    if (cfg->ca_file && !(ca = read_pem(cfg->ca_file, err, err_len)))
        goto out;
    if (cfg->cert_file && !(cert = read_pem(cfg->cert_file, err, err_len)))
        goto out;
    if (cfg->key_file && !(key = read_pem(cfg->key_file, err, err_len)))
        goto out;
    grpc_ssl_pem_key_cert_pair kp = {.private_key = key, .cert_chain = cert};
    /* A NULL CA means the system's roots. The PEMs are copied. */
    creds = grpc_ssl_credentials_create(ca, cert ? &kp : NULL, NULL, NULL);
    if (!creds)
        dp_cpclient_set_err(err, err_len, "cannot make TLS credentials");
out:
    free(ca);
    free(cert);
    if (key) {
        memset(key, 0, strlen(key));
        free(key);
    }
    return creds;
}

static void
start_tx_locked(struct dp_cpclient *c)
{
    while (c->tx_head && !c->send_busy && c->call_open && !c->stopping) {
        struct tx_item *it = c->tx_head;
        c->tx_head = it->next;
        if (!c->tx_head)
            c->tx_tail = NULL;
        c->tx_len--;
        grpc_op op;
        memset(&op, 0, sizeof(op));
        op.op = GRPC_OP_SEND_MESSAGE;
        op.data.send_message.send_message = it->bb;
        c->send_bb = it->bb;
        free(it);
        if (grpc_call_start_batch(c->call, &op, 1, &c->t_send, NULL) != GRPC_CALL_OK) {
            grpc_byte_buffer_destroy(c->send_bb);
            c->send_bb = NULL;
            continue;
        }
        c->send_busy = true;
        c->ops++;
    }
}

void
dp_cpstream_drop_tx(struct dp_cpclient *c)
{
    while (c->tx_head) {
        struct tx_item *it = c->tx_head;
        c->tx_head = it->next;
        grpc_byte_buffer_destroy(it->bb);
        free(it);
    }
    c->tx_tail = NULL;
    c->tx_len = 0;
}

static void start_ack_locked(struct dp_cpclient *c);

void
dp_cpstream_start_send_locked(struct dp_cpclient *c)
{
    start_ack_locked(c);
    start_tx_locked(c);
}

static void
start_ack_locked(struct dp_cpclient *c)
{
    Edge__V1__Ack ack = EDGE__V1__ACK__INIT;
    Edge__V1__NodeMessage msg = EDGE__V1__NODE_MESSAGE__INIT;
    grpc_op op;

    if (!c->ack.have || c->send_busy || !c->call_open || c->stopping)
        return;
    ack.revision = c->ack.revision;
    ack.ok = c->ack.ok;
    ack.error = c->ack.error;
    msg.msg_case = EDGE__V1__NODE_MESSAGE__MSG_ACK;
    msg.ack = &ack;
    grpc_slice s = edge_rpc_pack(&msg.base);
    c->send_bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    c->ack.have = false;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = c->send_bb;
    if (grpc_call_start_batch(c->call, &op, 1, &c->t_send, NULL) != GRPC_CALL_OK) {
        grpc_byte_buffer_destroy(c->send_bb);
        c->send_bb = NULL;
        return;
    }
    c->send_busy = true;
    c->ops++;
}

/* Queues an ack (newest wins) and sends it when the stream is free. Without a stream it is
 * dropped: the next Hello reports the revision held. */
void
dp_cpstream_send_ack(struct dp_cpclient *c, uint64_t revision, bool ok, const char *error)
{
    pthread_mutex_lock(&c->mu);
    if (c->call_open && !c->stopping) {
        c->ack.have = true;
        c->ack.revision = revision;
        c->ack.ok = ok;
        (void)snprintf(c->ack.error, sizeof(c->ack.error), "%s", ok ? "" : error);
        start_ack_locked(c);
    }
    pthread_mutex_unlock(&c->mu);
}

/* The stream `gen` sent a delta we cannot place: end it and ask for a full snapshot. */
void
dp_cpstream_resync(struct dp_cpclient *c, unsigned gen)
{
    pthread_mutex_lock(&c->mu);
    if (c->call && c->gen == gen && !c->stopping) {
        c->resync = true;
        grpc_call_cancel(c->call, NULL);
    }
    pthread_mutex_unlock(&c->mu);
    c->drop_gen = gen;
}

static unsigned
jitter(struct dp_cpclient *c, unsigned ms)
{
    /* xorshift64: only spreads reconnects of a fleet apart, no secrecy needed. */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return ms / 2 + (unsigned)(c->rng % (ms / 2 + 1));
}

static gpr_timespec
after_ms(int64_t ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

static grpc_byte_buffer *
pack_hello_locked(struct dp_cpclient *c)
{
    Edge__V1__Hello hello = EDGE__V1__HELLO__INIT;
    Edge__V1__NodeMessage msg = EDGE__V1__NODE_MESSAGE__INIT;

    hello.node_id = c->node_id;
    hello.version = c->version;
    if (!c->resync) {
        hello.revision = c->hello_revision;
        hello.store_id = c->hello_store_id;
    }
    hello.leases = true;
    hello.n_listeners = c->n_listeners;
    hello.listeners = c->listeners;
    msg.msg_case = EDGE__V1__NODE_MESSAGE__MSG_HELLO;
    msg.hello = &hello;
    grpc_slice s = edge_rpc_pack(&msg.base);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    if (c->resync)
        edge_log_info("cpclient: asking %s for a full snapshot", c->target);
    c->resync = false;
    return bb;
}

/* Starts the Watch call: status, Hello, and the first read. */
static void
start_call(struct dp_cpclient *c)
{
    grpc_op ops[2];

    grpc_channel_reset_connect_backoff(c->channel);
    grpc_call *call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
                                               grpc_slice_from_static_string(WATCH_METHOD), NULL,
                                               gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_metadata_array_init(&c->md_initial);
    grpc_metadata_array_init(&c->md_trailing);
    c->status = GRPC_STATUS_OK;
    c->status_details = grpc_empty_slice();
    c->status_error = NULL;
    c->recv_bb = NULL;
    c->status_done = false;
    c->got_data = false;

    pthread_mutex_lock(&c->mu);
    c->call = call;
    c->gen++;
    c->ops = 0;
    c->ack.have = false;
    c->recv_paused = false;

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[0].data.recv_status_on_client.trailing_metadata = &c->md_trailing;
    ops[0].data.recv_status_on_client.status = &c->status;
    ops[0].data.recv_status_on_client.status_details = &c->status_details;
    ops[0].data.recv_status_on_client.error_string = &c->status_error;
    if (grpc_call_start_batch(call, ops, 1, &c->t_status, NULL) != GRPC_CALL_OK) {
        /* No tag will come: the attempt failed before it began. */
        c->call = NULL;
        pthread_mutex_unlock(&c->mu);
        grpc_call_unref(call);
        grpc_metadata_array_destroy(&c->md_initial);
        grpc_metadata_array_destroy(&c->md_trailing);
        c->status_done = true;
        c->next_attempt = after_ms(jitter(c, c->backoff_ms));
        return;
    }
    c->ops++;
    c->call_open = true;

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = c->have_auth_md ? 1 : 0;
    ops[0].data.send_initial_metadata.metadata = c->have_auth_md ? &c->auth_md : NULL;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    c->send_bb = pack_hello_locked(c);
    ops[1].data.send_message.send_message = c->send_bb;
    if (grpc_call_start_batch(call, ops, 2, &c->t_send, NULL) == GRPC_CALL_OK) {
        c->send_busy = true;
        c->ops++;
    } else {
        grpc_byte_buffer_destroy(c->send_bb);
        c->send_bb = NULL;
        grpc_call_cancel(call, NULL);
    }

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[0].data.recv_initial_metadata.recv_initial_metadata = &c->md_initial;
    ops[1].op = GRPC_OP_RECV_MESSAGE;
    ops[1].data.recv_message.recv_message = &c->recv_bb;
    if (grpc_call_start_batch(call, ops, 2, &c->t_recv, NULL) == GRPC_CALL_OK)
        c->ops++;
    else
        grpc_call_cancel(call, NULL);
    pthread_mutex_unlock(&c->mu);
    edge_log_debug("cpclient: connecting to %s", c->target);
}

static void
start_recv_locked(struct dp_cpclient *c)
{
    grpc_op op;

    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->recv_bb;
    c->recv_bb = NULL;
    if (grpc_call_start_batch(c->call, &op, 1, &c->t_recv, NULL) == GRPC_CALL_OK)
        c->ops++;
    else
        grpc_call_cancel(c->call, NULL);
}

static void
on_recv(struct dp_cpclient *c, bool success)
{
    grpc_byte_buffer *bb = c->recv_bb;
    Edge__V1__ConfigUpdate *upd = NULL;

    c->recv_bb = NULL;
    if (success && bb)
        upd = (Edge__V1__ConfigUpdate *)edge_rpc_unpack(&edge__v1__config_update__descriptor, bb);
    if (bb)
        grpc_byte_buffer_destroy(bb);

    pthread_mutex_lock(&c->mu);
    c->ops--;
    if (!success || !bb) {
        /* The server ended its side; the status follows. */
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (!upd) {
        edge_log_warn("cpclient: %s sent an update that does not parse; reconnecting", c->target);
        grpc_call_cancel(c->call, NULL);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (!c->got_data) {
        c->got_data = true;
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
        grpc_call_cancel(c->call, NULL);
        pthread_mutex_unlock(&c->mu);
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
    if (c->stopping)
        ; /* no more reads; the cancel is on its way */
    else if (c->rx_len >= RX_QUEUE_MAX)
        c->recv_paused = true;
    else
        start_recv_locked(c);
    pthread_mutex_unlock(&c->mu);
    ev_async_send(c->loop, &c->rx_async);
}

static void
on_send(struct dp_cpclient *c)
{
    pthread_mutex_lock(&c->mu);
    c->ops--;
    if (c->send_bb)
        grpc_byte_buffer_destroy(c->send_bb);
    c->send_bb = NULL;
    c->send_busy = false;
    dp_cpstream_start_send_locked(c);
    pthread_mutex_unlock(&c->mu);
}

static void
on_status(struct dp_cpclient *c)
{
    char *details = grpc_slice_to_c_string(c->status_details);
    bool stopping, resync;

    pthread_mutex_lock(&c->mu);
    c->ops--;
    c->call_open = false;
    c->ack.have = false;
    dp_cpstream_drop_tx(c); /* the control plane forgets this stream's leases; so does the node */
    stopping = c->stopping;
    resync = c->resync;
    pthread_mutex_unlock(&c->mu);
    c->status_done = true;

    if (c->got_data) {
        atomic_store(&c->connected, false);
        if (stopping)
            edge_log_info("cpclient: disconnected from %s (stopping)", c->target);
        else if (resync && c->status == GRPC_STATUS_CANCELLED)
            edge_log_info("cpclient: ended the stream to %s to resynchronize", c->target);
        else
            edge_log_warn("cpclient: disconnected from %s: %s \"%s\"; reconnecting", c->target,
                          edge_rpc_code_name(c->status), details ? details : "");
    } else if (!stopping && !c->reported_down) {
        c->reported_down = true;
        edge_log_warn("cpclient: cannot reach %s: %s \"%s\"; retrying with backoff", c->target,
                      edge_rpc_code_name(c->status), details ? details : "");
    } else {
        edge_log_debug("cpclient: %s: %s \"%s\"", c->target, edge_rpc_code_name(c->status),
                       details ? details : "");
    }
    if (c->status_error)
        edge_log_debug("cpclient: %s", c->status_error);
    gpr_free(details);
    gpr_free((void *)c->status_error);
    c->status_error = NULL;
    grpc_slice_unref(c->status_details);
    c->status_details = grpc_empty_slice();
}

/* Frees the call once its status is in and no batch is outstanding; schedules the next one. */
static void
maybe_finish_call(struct dp_cpclient *c)
{
    bool resync;

    pthread_mutex_lock(&c->mu);
    if (!c->call || !c->status_done || c->ops > 0) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    grpc_call_unref(c->call);
    c->call = NULL;
    resync = c->resync;
    pthread_mutex_unlock(&c->mu);
    grpc_metadata_array_destroy(&c->md_initial);
    grpc_metadata_array_destroy(&c->md_trailing);

    if (c->got_data)
        c->backoff_ms = BACKOFF_INITIAL_MS;
    /* A resync is our own doing, not an outage: no reason to wait. */
    c->next_attempt = after_ms(resync ? 0 : jitter(c, c->backoff_ms));
    c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

void *
dp_cpstream_main(void *arg)
{
    struct dp_cpclient *c = arg;

    c->next_attempt = gpr_now(GPR_CLOCK_MONOTONIC);
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stopping = c->stopping, have_call = c->call != NULL;
        if (have_call && c->recv_paused && c->rx_len < RX_QUEUE_MAX / 2 && c->call_open &&
            !stopping) {
            c->recv_paused = false;
            start_recv_locked(c);
        }
        pthread_mutex_unlock(&c->mu);
        if (stopping && !have_call)
            break;
        if (!have_call && !stopping &&
            gpr_time_cmp(gpr_now(GPR_CLOCK_MONOTONIC), c->next_attempt) >= 0) {
            /* A stop that came while the call was being made found no call to cancel. */
            start_call(c);
            pthread_mutex_lock(&c->mu);
            if (c->stopping && c->call)
                grpc_call_cancel(c->call, NULL);
            pthread_mutex_unlock(&c->mu);
            continue;
        }
        gpr_timespec deadline = after_ms(POLL_MS);
        if (!have_call && gpr_time_cmp(c->next_attempt, deadline) < 0)
            deadline = c->next_attempt;
        grpc_event ev = grpc_completion_queue_next(c->cq, deadline, NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            const struct tag *t = ev.tag;
            switch (t->kind) {
            case TAG_STATUS:
                on_status(c);
                break;
            case TAG_RECV:
                on_recv(c, ev.success != 0);
                break;
            case TAG_SEND:
                on_send(c);
                break;
            }
            maybe_finish_call(c);
        } else if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
    }
    return NULL;
}

grpc_channel *
dp_cpstream_channel_new(struct dp_cpclient *c)
{
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = MAX_RECEIVE_BYTES}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIME_MS, {.integer = KEEPALIVE_TIME_MS}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_TIMEOUT_MS, {.integer = KEEPALIVE_TIMEOUT_MS}},
        {GRPC_ARG_INTEGER, GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, {.integer = 1}},
        {GRPC_ARG_INTEGER, GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, {.integer = 0}},
        /* The channel's own reconnect backoff (default 1 s x1.6 to 120 s) would make our
         * faster retries fail at once; keep it within ours. */
        {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = BACKOFF_INITIAL_MS}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = BACKOFF_INITIAL_MS}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = BACKOFF_MAX_MS}},
    };
    grpc_channel_args chargs = {.num_args = sizeof(args) / sizeof(args[0]), .args = args};
    grpc_channel_credentials *creds = c->creds;
    grpc_channel *ch;

    if (!creds) {
        grpc_channel_credentials *insecure = grpc_insecure_credentials_create();
        ch = grpc_channel_create(c->target, insecure, &chargs);
        grpc_channel_credentials_release(insecure);
    } else {
        ch = grpc_channel_create(c->target, creds, &chargs);
    }
    return ch;
}
