/* Config/Watch streams: the snapshot, its deltas, and who holds what.
 *
 * The watch keeps the configuration of the newest revision it published. On every publish it
 * loads the store's configuration, compares it resource by resource with the previous one
 * (both sorted by type and id), and packs the difference once: every node that holds the
 * previous revision gets the same delta slice, with no copy. A node whose send is still in
 * flight is only marked behind; when its send completes it gets whatever brings it to the
 * newest revision (the delta, or the full snapshot when it is further behind), so a slow node
 * costs one message of memory, not a queue. */
#include "watch.h"

#include "cp.h"
#include "log.h"
#include "pb.h"
#include "rpc/rpc.h"
#include "store/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NODE_ID_MAX 128

struct watcher {
    struct cp_watch *w;
    struct edge_rpc_stream *s;
    char node_id[NODE_ID_MAX + 1];
    bool hello_seen;
    bool superseded;        /* another stream of the same node id replaced this one */
    bool synced;            /* sent_revision is known */
    uint64_t sent_revision; /* what the node holds once it applies what we sent */
    struct watcher *prev, *next;
};

struct cp_watch {
    struct cp_ctx *cp;
    const char *node_token;
    struct watcher *watchers;
    unsigned connected;
    bool stale; /* the store moved on while nobody was watching */

    Edge__V1__ConfigUpdate *config; /* newest published full configuration */
    uint64_t revision;
    grpc_slice full; /* packed full snapshot of config, made on demand */
    bool have_full;
    grpc_slice delta; /* packed delta from delta_base to revision */
    bool have_delta;
    uint64_t delta_base;
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

static int
resource_cmp(const Edge__V1__Resource *a, const Edge__V1__Resource *b)
{
    if (a->type != b->type)
        return a->type < b->type ? -1 : 1;
    return strcmp(a->id, b->id);
}

static bool
resource_equal(const Edge__V1__Resource *a, const Edge__V1__Resource *b)
{
    size_t la = protobuf_c_message_get_packed_size(&a->base);
    size_t lb = protobuf_c_message_get_packed_size(&b->base);
    if (la != lb)
        return false;
    uint8_t *pa = malloc(la ? la : 1), *pb = malloc(lb ? lb : 1);
    bool eq = false;
    if (pa && pb) {
        protobuf_c_message_pack(&a->base, pa);
        protobuf_c_message_pack(&b->base, pb);
        eq = memcmp(pa, pb, la) == 0;
    }
    free(pa);
    free(pb);
    return eq;
}

/* Packs the delta old -> new. put borrows new's resources; only the arrays are ours. */
static grpc_slice
pack_delta(const Edge__V1__ConfigUpdate *old, const Edge__V1__ConfigUpdate *new_cfg,
           unsigned nodes_connected, size_t *ret_changes)
{
    Edge__V1__ConfigUpdate d = EDGE__V1__CONFIG_UPDATE__INIT;
    Edge__V1__ResourceRef *refs = edge_xcalloc(old->n_put ? old->n_put : 1, sizeof(*refs));
    Edge__V1__ResourceRef **ref_ptrs = edge_xcalloc(old->n_put ? old->n_put : 1, sizeof(void *));
    Edge__V1__Resource **puts = edge_xcalloc(new_cfg->n_put ? new_cfg->n_put : 1, sizeof(void *));
    size_t i = 0, j = 0;

    while (i < old->n_put || j < new_cfg->n_put) {
        int c = i == old->n_put       ? 1
                : j == new_cfg->n_put ? -1
                                      : resource_cmp(old->put[i], new_cfg->put[j]);
        if (c < 0) {
            Edge__V1__ResourceRef *r = &refs[d.n_remove];
            edge__v1__resource_ref__init(r);
            r->type = old->put[i]->type;
            r->id = old->put[i]->id;
            ref_ptrs[d.n_remove++] = r;
            i++;
        } else if (c > 0) {
            puts[d.n_put++] = new_cfg->put[j++];
        } else {
            if (!resource_equal(old->put[i], new_cfg->put[j]))
                puts[d.n_put++] = new_cfg->put[j];
            i++;
            j++;
        }
    }
    d.revision = new_cfg->revision;
    d.store_id = new_cfg->store_id;
    d.full = false;
    d.base_revision = old->revision;
    d.put = puts;
    d.remove = ref_ptrs;
    d.published_at_ns = now_ns();
    d.nodes_connected = nodes_connected;
    *ret_changes = d.n_put + d.n_remove;
    grpc_slice s = edge_rpc_pack(&d.base);
    free(puts);
    free(ref_ptrs);
    free(refs);
    return s;
}

static grpc_slice
full_slice(struct cp_watch *w)
{
    if (!w->have_full) {
        w->config->full = true;
        w->config->published_at_ns = now_ns();
        w->config->nodes_connected = w->connected;
        w->full = edge_rpc_pack(&w->config->base);
        w->have_full = true;
    }
    return w->full;
}

static void
drop_slices(struct cp_watch *w)
{
    if (w->have_full)
        grpc_slice_unref(w->full);
    if (w->have_delta)
        grpc_slice_unref(w->delta);
    w->have_full = w->have_delta = false;
}

/* Loads the store's newest configuration; returns true when the revision moved. */
static bool
refresh(struct cp_watch *w, bool make_delta)
{
    Edge__V1__ConfigUpdate *cfg = NULL;
    uint64_t rev = cp_store_revision(w->cp->store);

    if (w->config && rev == w->revision)
        return false;
    if (cp_store_load_config(w->cp->store, &cfg) != 0) {
        edge_log_error("watch: cannot load configuration of revision %llu from the store",
                       (unsigned long long)rev);
        return false;
    }
    size_t changes = 0;
    grpc_slice delta = grpc_empty_slice();
    bool have_delta = false;
    if (w->config && make_delta) {
        delta = pack_delta(w->config, cfg, w->connected, &changes);
        have_delta = true;
    }
    drop_slices(w);
    if (have_delta) {
        w->delta = delta;
        w->have_delta = true;
        w->delta_base = w->revision;
    }
    edge_pb_free(w->config);
    w->config = cfg;
    w->revision = cfg->revision;
    edge_log_debug("watch: revision %llu (%zu resources, %zu changed)",
                   (unsigned long long)w->revision, cfg->n_put, changes);
    return true;
}

/* Brings one node to the newest revision if it is idle and behind. */
static void
send_update(struct watcher *wt)
{
    struct cp_watch *w = wt->w;
    grpc_slice msg;

    if (!wt->hello_seen || wt->superseded || !w->config || edge_rpc_stream_busy(wt->s) ||
        (wt->synced && wt->sent_revision == w->revision))
        return;
    if (w->have_delta && wt->synced && wt->sent_revision == w->delta_base)
        msg = w->delta;
    else
        msg = full_slice(w);
    if (edge_rpc_stream_send(wt->s, msg) == 0) {
        wt->sent_revision = w->revision;
        wt->synced = true;
    }
}

static void
send_current(struct watcher *wt)
{
    Edge__V1__ConfigUpdate u = EDGE__V1__CONFIG_UPDATE__INIT;
    struct cp_watch *w = wt->w;

    u.revision = w->revision;
    u.store_id = w->config->store_id;
    u.base_revision = w->revision;
    u.published_at_ns = now_ns();
    u.nodes_connected = w->connected;
    grpc_slice s = edge_rpc_pack(&u.base);
    if (edge_rpc_stream_send(wt->s, s) == 0) {
        wt->sent_revision = w->revision;
        wt->synced = true;
    }
    grpc_slice_unref(s);
}

void
cp_watch_publish(struct cp_watch *w)
{
    if (!w)
        return;
    if (w->connected == 0) {
        w->stale = true;
        return;
    }
    if (!refresh(w, !w->stale))
        return;
    w->stale = false;
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
            edge_rpc_stream_finish(o->s, GRPC_STATUS_ABORTED,
                                   "replaced by a newer stream of the same node");
        }
    }
    snprintf(wt->node_id, sizeof(wt->node_id), "%s", hello->node_id);
    wt->hello_seen = true;
    w->connected++;
    if (cp_store_node_connected(w->cp->store, wt->node_id, peer, hello->version, now_s()) != 0)
        edge_log_warn("watch: cannot record node \"%s\"", wt->node_id);
    edge_log_info("watch: node \"%s\" connected from %s (version \"%s\", holds revision %llu)",
                  wt->node_id, peer, hello->version, (unsigned long long)hello->revision);

    if (!w->config || w->stale || cp_store_revision(w->cp->store) != w->revision) {
        bool had = w->config != NULL;
        if (refresh(w, had && !w->stale)) {
            w->stale = false;
            for (struct watcher *o = w->watchers; o; o = o->next)
                if (o != wt)
                    send_update(o);
        }
        w->stale = false;
    }
    if (!w->config)
        return;
    if (hello->revision != 0 && hello->revision == w->revision &&
        strcmp(hello->store_id, w->config->store_id) == 0)
        send_current(wt);
    else
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
    send_update(edge_rpc_stream_data(s));
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
        edge_log_info("watch: node \"%s\" disconnected", wt->node_id);
    }
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
    w->stale = true;
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
    drop_slices(w);
    edge_pb_free(w->config);
    free(w);
}
