/* Config/Watch streams: the snapshot, its deltas, and who holds what.
 *
 * The watch keeps the configuration of the newest revision as packed Resources (struct
 * cp_watch_config). On every publish it asks the store what changed since the change sequence
 * it holds, reloads only those resources, and packs the delta once from exactly them: every
 * node that holds the previous revision gets the same slice, with no copy. The last deltas
 * stay in a short history, so a node that is a few revisions behind (a slow stream, or a
 * reconnect) walks the chain instead of getting the full snapshot; the full snapshot is
 * packed from memory at most once per revision, never reloaded. A node whose send is still
 * in flight is only marked behind; when its send completes it gets the next message of its
 * chain. */
#include "watch.h"

#include "cp.h"
#include "log.h"
#include "pb.h"
#include "rpc/rpc.h"
#include "store/store.h"
#include "watch/lease.h"
#include "watch/usage.h"
#include "watch_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NODE_ID_MAX 128
/* Quota lease answers queued for one node while its stream is busy. */
#define GRANTS_QUEUE_MAX 65536
/* Deltas kept for nodes that are behind: by count, and by bytes (the newest always stays). */
#define HISTORY_MAX       64
#define HISTORY_MAX_BYTES (32u << 20)

struct watcher {
    struct cp_watch *w;
    struct edge_rpc_stream *s;
    char node_id[NODE_ID_MAX + 1];
    bool hello_seen;
    bool superseded;              /* another stream of the same node id replaced this one */
    bool synced;                  /* sent_revision is known */
    uint64_t sent_revision;       /* what the node holds once it applies what we sent */
    bool leases;                  /* its Hello said it takes leases and fleet notices */
    bool fleet_dirty;             /* the fleet size changed since it was last told */
    Edge__V1__QuotaGrant *grants; /* queued lease answers, sent before config */
    size_t n_grants, cap_grants;
    struct watcher *prev, *next;
};

struct delta {
    uint64_t base, revision;
    grpc_slice msg;
};

struct cp_watch {
    struct cp_ctx *cp;
    struct cp_leases *leases;
    const char *node_token;
    struct watcher *watchers;
    unsigned connected;

    struct cp_watch_config cfg; /* the newest revision */
    grpc_slice full;            /* packed full snapshot of cfg, made on demand */
    bool have_full;
    struct delta history[HISTORY_MAX]; /* oldest first; history[i + 1].base == [i].revision */
    size_t n_history;
    size_t history_bytes;
};

static int64_t
now_s(void)
{
    return (int64_t)time(NULL);
}

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- streams -------------------------------------------------------------------------------- */

static void
drop_full(struct cp_watch *w)
{
    if (w->have_full)
        grpc_slice_unref(w->full);
    w->have_full = false;
}

static void
drop_history(struct cp_watch *w)
{
    for (size_t i = 0; i < w->n_history; i++)
        grpc_slice_unref(w->history[i].msg);
    w->n_history = 0;
    w->history_bytes = 0;
}

static void
drop_oldest_delta(struct cp_watch *w)
{
    w->history_bytes -= GRPC_SLICE_LENGTH(w->history[0].msg);
    grpc_slice_unref(w->history[0].msg);
    memmove(&w->history[0], &w->history[1], (w->n_history - 1) * sizeof(w->history[0]));
    w->n_history--;
}

/* Takes msg. */
static void
push_delta(struct cp_watch *w, uint64_t base, uint64_t revision, grpc_slice msg)
{
    if (w->n_history == HISTORY_MAX)
        drop_oldest_delta(w);
    w->history[w->n_history].base = base;
    w->history[w->n_history].revision = revision;
    w->history[w->n_history].msg = msg;
    w->n_history++;
    w->history_bytes += GRPC_SLICE_LENGTH(msg);
    while (w->n_history > 1 && w->history_bytes > HISTORY_MAX_BYTES)
        drop_oldest_delta(w);
}

static const struct delta *
find_delta(const struct cp_watch *w, uint64_t base)
{
    for (size_t i = 0; i < w->n_history; i++)
        if (w->history[i].base == base)
            return &w->history[i];
    return NULL;
}

static grpc_slice
full_slice(struct cp_watch *w)
{
    if (!w->have_full) {
        w->full = cp_watch_config_pack_full(&w->cfg, w->connected);
        w->have_full = true;
    }
    return w->full;
}

/* Brings the watch to the store's newest revision; true when it moved. */
static bool
refresh(struct cp_watch *w)
{
    uint64_t base = w->cfg.revision;
    grpc_slice delta = grpc_empty_slice();
    size_t changes = 0;
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = cp_watch_config_refresh(&w->cfg, w->cp->store, w->connected, &delta, &changes);
    if (r < 0) {
        edge_log_error("watch: cannot load the configuration of revision %llu from the store",
                       (unsigned long long)cp_store_revision(w->cp->store));
        return false;
    }
    if (r == 0)
        return false;
    drop_full(w);
    if (r == 1)
        push_delta(w, base, w->cfg.revision, delta);
    else
        drop_history(w);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    edge_log_debug("watch: revision %llu (%zu resources, %zu changed, %.3f ms)",
                   (unsigned long long)w->cfg.revision, w->cfg.n, changes,
                   (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    return true;
}

/* Brings one node one step nearer the newest revision if it is idle and behind: the next
 * delta of its chain, or the full snapshot when the history does not reach back to it. */
/* Lease answers go first and alone: an update with revision 0 (config.proto). */
static void
send_grants(struct watcher *wt)
{
    if ((wt->n_grants == 0 && !wt->fleet_dirty) || edge_rpc_stream_busy(wt->s))
        return;
    Edge__V1__QuotaGrant **ptrs = edge_xcalloc(wt->n_grants, sizeof(*ptrs));
    for (size_t i = 0; i < wt->n_grants; i++)
        ptrs[i] = &wt->grants[i];
    Edge__V1__ConfigUpdate u = EDGE__V1__CONFIG_UPDATE__INIT;
    u.grants = ptrs;
    u.n_grants = wt->n_grants;
    u.nodes_connected = wt->w->connected;
    u.grants_leases = true;
    grpc_slice s = edge_rpc_pack(&u.base);
    if (edge_rpc_stream_send(wt->s, s) == 0) {
        edge_log_debug("watch: node \"%s\": %zu lease answers, fleet of %u", wt->node_id,
                       wt->n_grants, wt->w->connected);
        wt->n_grants = 0;
        wt->fleet_dirty = false;
    }
    grpc_slice_unref(s);
    free(ptrs);
}

static bool
queue_grant(void *node, const Edge__V1__QuotaGrant *g)
{
    struct watcher *wt = node;
    if (wt->superseded || wt->n_grants >= GRANTS_QUEUE_MAX)
        return false;
    if (wt->n_grants == wt->cap_grants) {
        size_t nc = wt->cap_grants ? wt->cap_grants * 2 : 16;
        Edge__V1__QuotaGrant *ng = realloc(wt->grants, nc * sizeof(*ng));
        if (!ng)
            return false;
        wt->grants = ng;
        wt->cap_grants = nc;
    }
    wt->grants[wt->n_grants++] = *g;
    send_grants(wt);
    return true;
}

static void
send_update(struct watcher *wt)
{
    struct cp_watch *w = wt->w;
    const struct delta *d = NULL;
    grpc_slice msg;
    uint64_t rev;

    if (!wt->hello_seen || wt->superseded || !w->cfg.loaded || edge_rpc_stream_busy(wt->s) ||
        (wt->synced && wt->sent_revision == w->cfg.revision))
        return;
    if (wt->synced)
        d = find_delta(w, wt->sent_revision);
    if (d) {
        msg = d->msg;
        rev = d->revision;
    } else {
        msg = full_slice(w);
        rev = w->cfg.revision;
    }
    if (edge_rpc_stream_send(wt->s, msg) == 0) {
        wt->sent_revision = rev;
        wt->synced = true;
    }
}

static void
send_current(struct watcher *wt)
{
    Edge__V1__ConfigUpdate u = EDGE__V1__CONFIG_UPDATE__INIT;
    struct cp_watch *w = wt->w;

    u.revision = w->cfg.revision;
    u.store_id = w->cfg.store_id;
    u.base_revision = w->cfg.revision;
    u.published_at_ns = now_ns();
    u.nodes_connected = w->connected;
    grpc_slice s = edge_rpc_pack(&u.base);
    if (edge_rpc_stream_send(wt->s, s) == 0) {
        wt->sent_revision = w->cfg.revision;
        wt->synced = true;
    }
    grpc_slice_unref(s);
}

/* The fleet grew or shrank: nodes that share fleet-wide limits by it are told at once, not
 * with the next revision. */
static void
fleet_changed(struct cp_watch *w, const struct watcher *except)
{
    for (struct watcher *o = w->watchers; o; o = o->next)
        if (o != except && o->leases && o->hello_seen && !o->superseded) {
            o->fleet_dirty = true;
            send_grants(o);
        }
}

/* Once loaded, the configuration is kept current even while no node is connected: that
 * costs what changed, and a node that connects then gets the snapshot from memory, not a
 * reload. The first load waits for the first node, so that neither the start nor an Admin
 * write before any node connects pays for it. */
void
cp_watch_publish(struct cp_watch *w)
{
    if (!w)
        return;
    if (!w->cfg.loaded && w->connected == 0)
        return;
    if (!refresh(w))
        return;
    for (struct watcher *wt = w->watchers; wt; wt = wt->next)
        send_update(wt);
}

static bool
node_id_valid(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > NODE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

static void
on_hello(struct watcher *wt, const Edge__V1__Hello *hello)
{
    struct cp_watch *w = wt->w;
    const char *peer = edge_rpc_call_peer(edge_rpc_stream_call(wt->s));

    if (!node_id_valid(hello->node_id)) {
        edge_rpc_stream_finish(wt->s, GRPC_STATUS_INVALID_ARGUMENT,
                               "hello.node_id: must be 1..128 characters of [A-Za-z0-9._:-]");
        return;
    }
    /* A node that reconnects before its old stream timed out replaces it. */
    for (struct watcher *o = w->watchers; o; o = o->next) {
        if (o != wt && o->hello_seen && !o->superseded && strcmp(o->node_id, hello->node_id) == 0) {
            o->superseded = true;
            w->connected--;
            cp_leases_node_gone(w->leases, o); /* the node dropped that stream's leases */
            edge_rpc_stream_finish(o->s, GRPC_STATUS_ABORTED,
                                   "replaced by a newer stream of the same node");
        }
    }
    snprintf(wt->node_id, sizeof(wt->node_id), "%s", hello->node_id);
    wt->hello_seen = true;
    wt->leases = hello->leases;
    w->connected++;
    fleet_changed(w, wt);
    /* The full snapshot is packed once per revision, with the fleet size of that moment: a
     * notice follows the first update. */
    wt->fleet_dirty = wt->leases;
    if (cp_store_node_connected(w->cp->store, wt->node_id, peer, hello->version, now_s()) != 0)
        edge_log_warn("watch: cannot record node \"%s\"", wt->node_id);
    edge_log_info("watch: node \"%s\" connected from %s (version \"%s\", holds revision %llu)",
                  wt->node_id, peer, hello->version, (unsigned long long)hello->revision);

    if (refresh(w)) {
        for (struct watcher *o = w->watchers; o; o = o->next)
            if (o != wt)
                send_update(o);
    }
    if (!w->cfg.loaded)
        return;
    if (hello->revision != 0 && strcmp(hello->store_id, w->cfg.store_id) == 0) {
        if (hello->revision == w->cfg.revision) {
            send_current(wt);
            return;
        }
        /* A node a few revisions behind (a reconnect) walks the deltas from what it holds. */
        if (find_delta(w, hello->revision)) {
            wt->synced = true;
            wt->sent_revision = hello->revision;
        }
    }
    send_update(wt);
}

static void
on_ack(struct watcher *wt, const Edge__V1__Ack *ack)
{
    if (cp_store_node_ack(wt->w->cp->store, wt->node_id, ack->revision, ack->ok, ack->error,
                          now_s()) != 0)
        edge_log_warn("watch: cannot record the ack of node \"%s\"", wt->node_id);
    if (!ack->ok) {
        edge_log_warn("watch: node \"%s\" rejected revision %llu: %s", wt->node_id,
                      (unsigned long long)ack->revision, ack->error);
        /* What it holds is no longer what we sent: the next update is a full one. */
        wt->synced = false;
    } else {
        edge_log_debug("watch: node \"%s\" acked revision %llu", wt->node_id,
                       (unsigned long long)ack->revision);
    }
}

static int
watch_open(void *ctx, struct edge_rpc_stream *s, struct edge_rpc_status *st)
{
    struct cp_watch *w = ctx;
    struct watcher *wt = edge_xcalloc(1, sizeof(*wt));

    wt->w = w;
    wt->s = s;
    wt->next = w->watchers;
    if (w->watchers)
        w->watchers->prev = wt;
    w->watchers = wt;
    edge_rpc_stream_set_data(s, wt);
    return 0;
}

static void
watch_message(void *ctx, struct edge_rpc_stream *s, const ProtobufCMessage *msg)
{
    struct watcher *wt = edge_rpc_stream_data(s);
    const Edge__V1__NodeMessage *m = (const Edge__V1__NodeMessage *)msg;

    if (wt->superseded)
        return;
    switch (m->msg_case) {
    case EDGE__V1__NODE_MESSAGE__MSG_HELLO:
        if (wt->hello_seen) {
            edge_rpc_stream_finish(s, GRPC_STATUS_INVALID_ARGUMENT, "hello sent twice");
            return;
        }
        on_hello(wt, m->hello);
        break;
    case EDGE__V1__NODE_MESSAGE__MSG_ACK:
        if (!wt->hello_seen) {
            edge_rpc_stream_finish(s, GRPC_STATUS_INVALID_ARGUMENT,
                                   "the first message must be a hello");
            return;
        }
        on_ack(wt, m->ack);
        break;
    case EDGE__V1__NODE_MESSAGE__MSG_USAGE: {
        if (!wt->hello_seen) {
            edge_rpc_stream_finish(s, GRPC_STATUS_INVALID_ARGUMENT,
                                   "the first message must be a hello");
            return;
        }
        int e = cp_usage_apply(wt->w->cp->store, wt->node_id, m->usage);
        if (e < 0)
            edge_log_warn("watch: node \"%s\": usage report not stored (%d)", wt->node_id, e);
        cp_leases_on_report(wt->w->leases, wt, m->usage);
        break;
    }
    case EDGE__V1__NODE_MESSAGE__MSG_LEASES:
        if (!wt->hello_seen) {
            edge_rpc_stream_finish(s, GRPC_STATUS_INVALID_ARGUMENT,
                                   "the first message must be a hello");
            return;
        }
        cp_leases_on_message(wt->w->leases, wt, m->leases, wt->w->connected, now_s());
        break;
    default:
        edge_rpc_stream_finish(s, GRPC_STATUS_INVALID_ARGUMENT, "empty node message");
        break;
    }
}

static void
watch_half_closed(void *ctx, struct edge_rpc_stream *s)
{
    edge_rpc_stream_finish(s, GRPC_STATUS_OK, "");
}

static void
watch_writable(void *ctx, struct edge_rpc_stream *s)
{
    struct watcher *wt = edge_rpc_stream_data(s);
    send_grants(wt);
    send_update(wt);
}

static void
watch_closed(void *ctx, struct edge_rpc_stream *s)
{
    struct cp_watch *w = ctx;
    struct watcher *wt = edge_rpc_stream_data(s);

    if (wt->prev)
        wt->prev->next = wt->next;
    else
        w->watchers = wt->next;
    if (wt->next)
        wt->next->prev = wt->prev;
    if (wt->hello_seen && !wt->superseded) {
        w->connected--;
        (void)cp_store_node_disconnected(w->cp->store, wt->node_id, now_s());
        fleet_changed(w, wt);
        edge_log_info("watch: node \"%s\" disconnected", wt->node_id);
    }
    cp_leases_node_gone(w->leases, wt);
    free(wt->grants);
    free(wt);
}

static const struct edge_rpc_stream_ops watch_ops = {
    .open = watch_open,
    .message = watch_message,
    .half_closed = watch_half_closed,
    .writable = watch_writable,
    .closed = watch_closed,
};

struct cp_watch *
cp_watch_new(struct cp_ctx *cp, const char *node_token)
{
    struct cp_watch *w = edge_xcalloc(1, sizeof(*w));
    w->cp = cp;
    w->node_token = node_token;
    w->leases = cp_leases_new(cp->store, queue_grant);
    return w;
}

/* Constant-time: the comparison takes as long whatever prefix matches. */
static bool
token_equal(const char *a, size_t a_len, const char *b)
{
    size_t b_len = strlen(b);
    unsigned char diff = a_len != b_len;
    for (size_t i = 0; i < a_len && i < b_len; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static int
watch_auth(void *ctx, const struct edge_rpc_call *call, struct edge_rpc_status *st)
{
    struct cp_watch *w = ctx;
    size_t len;
    const char *v;

    if (!w->node_token)
        return 0;
    v = edge_rpc_call_metadata(call, "authorization", &len);
    if (!v || len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
        return edge_rpc_fail(st, GRPC_STATUS_UNAUTHENTICATED, "missing node token");
    if (!token_equal(v + 7, len - 7, w->node_token))
        return edge_rpc_fail(st, GRPC_STATUS_UNAUTHENTICATED, "invalid node token");
    return 0;
}

int
cp_watch_register(struct cp_watch *w)
{
    return edge_rpc_server_add_bidi(w->cp->rpc, "/edge.v1.Config/Watch",
                                    &edge__v1__node_message__descriptor, &watch_ops, watch_auth, w);
}

unsigned
cp_watch_connected(const struct cp_watch *w)
{
    return w ? w->connected : 0;
}

void
cp_watch_shutdown(struct cp_watch *w)
{
    for (struct watcher *wt = w->watchers; wt; wt = wt->next)
        edge_rpc_stream_finish(wt->s, GRPC_STATUS_UNAVAILABLE, "server shutting down");
}

void
cp_watch_free(struct cp_watch *w)
{
    if (!w)
        return;
    drop_full(w);
    drop_history(w);
    cp_watch_config_done(&w->cfg);
    cp_leases_free(w->leases);
    free(w);
}
