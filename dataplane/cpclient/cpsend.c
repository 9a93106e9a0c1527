/* The send side of the config client's stream: the one send slot and what waits for it (an
 * ack, newest first, then queued messages), shared under `mu` by the loop thread (acks, usage
 * and lease messages, resync requests) and the stream thread (Hello, handing the slot's bytes
 * to nghttp2). Also gRPC's message framing for what we send. See cpclient_internal.h. */
#include "cpclient_internal.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int64_t
dp_cpstream_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
dp_cpstream_wake(struct dp_cpclient *c)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the thread wakes anyway. */
    (void)!write(c->wake_fd, &one, sizeof(one));
}

int
dp_cpstream_pack(const ProtobufCMessage *msg, uint8_t **ret_buf, size_t *ret_len)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > UINT32_MAX)
        return -EMSGSIZE;
    uint8_t *buf = malloc(GRPC_PREFIX_BYTES + len);
    if (!buf)
        return -ENOMEM;
    buf[0] = 0; /* not compressed */
    buf[1] = (uint8_t)(len >> 24);
    buf[2] = (uint8_t)(len >> 16);
    buf[3] = (uint8_t)(len >> 8);
    buf[4] = (uint8_t)len;
    (void)protobuf_c_message_pack(msg, buf + GRPC_PREFIX_BYTES);
    *ret_buf = buf;
    *ret_len = GRPC_PREFIX_BYTES + len;
    return 0;
}

/* ---- the send side (under mu) ---------------------------------------------------------- */

void
dp_cpstream_slot_take(struct dp_cpclient *c, uint8_t *buf, size_t len)
{
    c->send_buf = buf;
    c->send_len = len;
    c->send_off = 0;
    c->send_busy = true;
}

void
dp_cpstream_slot_clear(struct dp_cpclient *c)
{
    free(c->send_buf);
    c->send_buf = NULL;
    c->send_len = c->send_off = 0;
    c->send_busy = false;
}

void
dp_cpstream_drop_tx(struct dp_cpclient *c)
{
    while (c->tx_head) {
        struct tx_item *it = c->tx_head;
        c->tx_head = it->next;
        free(it->buf);
        free(it);
    }
    c->tx_tail = NULL;
    c->tx_len = 0;
    dp_cpstream_slot_clear(c);
}

bool
dp_cpstream_start_send_locked(struct dp_cpclient *c)
{
    if (c->send_busy || !c->call_open || c->stopping)
        return false;
    if (c->ack.have) {
        Edge__V1__Ack ack = EDGE__V1__ACK__INIT;
        Edge__V1__NodeMessage msg = EDGE__V1__NODE_MESSAGE__INIT;
        uint8_t *buf;
        size_t len;
        ack.revision = c->ack.revision;
        ack.ok = c->ack.ok;
        ack.error = c->ack.error;
        msg.msg_case = EDGE__V1__NODE_MESSAGE__MSG_ACK;
        msg.ack = &ack;
        c->ack.have = false;
        /* Without memory the ack is lost; the next Hello reports the revision held. */
        if (dp_cpstream_pack(&msg.base, &buf, &len) == 0) {
            dp_cpstream_slot_take(c, buf, len);
            return true;
        }
    }
    if (c->tx_head) {
        struct tx_item *it = c->tx_head;
        c->tx_head = it->next;
        if (!c->tx_head)
            c->tx_tail = NULL;
        c->tx_len--;
        dp_cpstream_slot_take(c, it->buf, it->len);
        free(it);
        return true;
    }
    return false;
}

/* Queues an ack (newest wins) and sends it when the stream is free. Without a stream it is
 * dropped: the next Hello reports the revision held. */
void
dp_cpstream_send_ack(struct dp_cpclient *c, uint64_t revision, bool ok, const char *error)
{
    bool wake = false;

    pthread_mutex_lock(&c->mu);
    if (c->call_open && !c->stopping) {
        c->ack.have = true;
        c->ack.revision = revision;
        c->ack.ok = ok;
        (void)snprintf(c->ack.error, sizeof(c->ack.error), "%s", ok ? "" : error);
        (void)dp_cpstream_start_send_locked(c);
        wake = true;
    }
    pthread_mutex_unlock(&c->mu);
    if (wake)
        dp_cpstream_wake(c);
}

/* The stream `gen` sent a delta we cannot place: end it and ask for a full snapshot. */
void
dp_cpstream_resync(struct dp_cpclient *c, unsigned gen)
{
    bool wake = false;

    pthread_mutex_lock(&c->mu);
    if (c->call_open && c->gen == gen && !c->stopping) {
        c->resync = true;
        c->cancel = true;
        wake = true;
    }
    pthread_mutex_unlock(&c->mu);
    c->drop_gen = gen;
    if (wake)
        dp_cpstream_wake(c);
}

unsigned
dp_cpstream_jitter(struct dp_cpclient *c, unsigned ms)
{
    /* xorshift64: only spreads reconnects of a fleet apart, no secrecy needed. */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return ms / 2 + (unsigned)(c->rng % (ms / 2 + 1));
}

/* Hello, framed (owned), or NULL without memory. Under mu. */
uint8_t *
dp_cpstream_pack_hello_locked(struct dp_cpclient *c, size_t *ret_len)
{
    Edge__V1__Hello hello = EDGE__V1__HELLO__INIT;
    Edge__V1__NodeMessage msg = EDGE__V1__NODE_MESSAGE__INIT;
    uint8_t *buf;

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
    if (dp_cpstream_pack(&msg.base, &buf, ret_len) < 0)
        return NULL;
    if (c->resync)
        edge_log_info("cpclient: asking %s for a full snapshot", c->target);
    c->resync = false;
    return buf;
}
