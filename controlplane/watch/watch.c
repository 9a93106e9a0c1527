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
#include "watch/usage.h"
#include "watch_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define NODE_ID_MAX 128
/* Deltas kept for nodes that are behind: by count, and by bytes (the newest always stays). */
#define HISTORY_MAX       64
#define HISTORY_MAX_BYTES (32u << 20)

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

struct delta {
    uint64_t base, revision;
    grpc_slice msg;
};

struct cp_watch {
    struct cp_ctx *cp;
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

/* ---- the configuration as packed resources -------------------------------------------------- */

static int
key_cmp(Edge__V1__ResourceType ta, const char *ia, Edge__V1__ResourceType tb, const char *ib)
{
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(ia, ib);
}

static int
res_cmp(const struct cp_watch_res *a, const struct cp_watch_res *b)
{
    return key_cmp(a->type, a->data, b->type, b->data);
}

static struct cp_watch_res *
res_new(const Edge__V1__Resource *m)
{
    size_t id_len = strlen(m->id);
    size_t size = protobuf_c_message_get_packed_size(&m->base);
    struct cp_watch_res *r = edge_xcalloc(1, sizeof(*r) + id_len + 1 + size);

    r->type = m->type;
    r->id_len = (uint32_t)id_len;
    r->size = (uint32_t)size;
    memcpy(r->data, m->id, id_len + 1);
    protobuf_c_message_pack(&m->base, (uint8_t *)r->data + id_len + 1);
    return r;
}

static bool
res_same(const struct cp_watch_res *a, const struct cp_watch_res *b)
{
    return a->size == b->size && memcmp(cp_watch_res_bytes(a), cp_watch_res_bytes(b), a->size) == 0;
}

/* Index of (type, id) in c, or -(insertion point) - 1. */
static ptrdiff_t
config_search(const struct cp_watch_config *c, Edge__V1__ResourceType type, const char *id)
{
    size_t lo = 0, hi = c->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = key_cmp(c->res[mid]->type, c->res[mid]->data, type, id);
        if (d == 0)
            return (ptrdiff_t)mid;
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -(ptrdiff_t)lo - 1;
}

const struct cp_watch_res *
cp_watch_config_find(const struct cp_watch_config *c, Edge__V1__ResourceType type, const char *id)
{
    ptrdiff_t i = config_search(c, type, id);
    return i >= 0 ? c->res[i] : NULL;
}

static void
config_free_res(struct cp_watch_config *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->res[i]);
    free(c->res);
    c->res = NULL;
    c->n = 0;
    c->put_bytes = 0;
}

void
cp_watch_config_done(struct cp_watch_config *c)
{
    if (!c)
        return;
    config_free_res(c);
    free(c->store_id);
    memset(c, 0, sizeof(*c));
}

/* Takes u's resources (packing them) and frees u. */
static void
config_from_update(struct cp_watch_config *c, Edge__V1__ConfigUpdate *u, uint64_t seq)
{
    c->res = edge_xcalloc(u->n_put ? u->n_put : 1, sizeof(*c->res));
    c->n = u->n_put;
    c->put_bytes = 0;
    for (size_t i = 0; i < u->n_put; i++) {
        c->res[i] = res_new(u->put[i]);
        c->put_bytes += c->res[i]->size;
        /* Free as we go: at a million keys the unpacked messages are several times larger. */
        edge_pb_free(u->put[i]);
        u->put[i] = NULL;
    }
    u->n_put = 0;
    c->revision = u->revision;
    c->seq = seq;
    free(c->store_id);
    c->store_id = strdup(u->store_id);
    if (!c->store_id) {
        fputs("out of memory\n", stderr);
        abort();
    }
    c->loaded = true;
    edge_pb_free(u);
}

/* ---- packing -------------------------------------------------------------------------------- */

static size_t
varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* ConfigUpdate.put is field 5, length-delimited. */
#define PUT_TAG ((5u << 3) | 2u)

/* Packs hdr (which has no put) followed by res as its put field: protobuf allows the fields
 * in any order, and the Resources go out as the bytes we hold, with no re-encoding. */
static grpc_slice
pack_update(const Edge__V1__ConfigUpdate *hdr, struct cp_watch_res *const *res, size_t n)
{
    size_t hdr_len = protobuf_c_message_get_packed_size(&hdr->base);
    size_t total = hdr_len;

    for (size_t i = 0; i < n; i++)
        total += 1 + varint_size(res[i]->size) + res[i]->size;
    grpc_slice s = grpc_slice_malloc(total);
    uint8_t *p = GRPC_SLICE_START_PTR(s);
    p += protobuf_c_message_pack(&hdr->base, p);
    for (size_t i = 0; i < n; i++) {
        *p++ = PUT_TAG;
        p = put_varint(p, res[i]->size);
        memcpy(p, cp_watch_res_bytes(res[i]), res[i]->size);
        p += res[i]->size;
    }
    return s;
}

grpc_slice
cp_watch_config_pack_full(const struct cp_watch_config *c, unsigned nodes_connected)
{
    Edge__V1__ConfigUpdate u = EDGE__V1__CONFIG_UPDATE__INIT;

    u.revision = c->revision;
    u.store_id = c->store_id ? c->store_id : "";
    u.full = true;
    u.published_at_ns = now_ns();
    u.nodes_connected = nodes_connected;
    return pack_update(&u, c->res, c->n);
}

/* What a refresh changes: puts (owned until applied) and removes (borrowing the ids of the
 * resources they drop). */
struct change_set {
    struct cp_watch_res **put;
    size_t n_put;
    Edge__V1__ResourceRef *refs;
    Edge__V1__ResourceRef **ref_ptrs;
    size_t n_remove;
};

static void
change_set_init(struct change_set *cs, size_t max_put, size_t max_remove)
{
    cs->put = edge_xcalloc(max_put ? max_put : 1, sizeof(*cs->put));
    cs->refs = edge_xcalloc(max_remove ? max_remove : 1, sizeof(*cs->refs));
    cs->ref_ptrs = edge_xcalloc(max_remove ? max_remove : 1, sizeof(*cs->ref_ptrs));
    cs->n_put = cs->n_remove = 0;
}

static void
change_set_remove(struct change_set *cs, const struct cp_watch_res *old)
{
    Edge__V1__ResourceRef *r = &cs->refs[cs->n_remove];
    edge__v1__resource_ref__init(r);
    r->type = old->type;
    r->id = (char *)old->data;
    cs->ref_ptrs[cs->n_remove++] = r;
}

static void
change_set_done(struct change_set *cs)
{
    free(cs->put);
    free(cs->refs);
    free(cs->ref_ptrs);
}

static grpc_slice
pack_delta(const struct change_set *cs, uint64_t base, uint64_t revision, const char *store_id,
           unsigned nodes_connected)
{
    Edge__V1__ConfigUpdate d = EDGE__V1__CONFIG_UPDATE__INIT;

    d.revision = revision;
    d.store_id = (char *)store_id;
    d.full = false;
    d.base_revision = base;
    d.remove = cs->ref_ptrs;
    d.n_remove = cs->n_remove;
    d.published_at_ns = now_ns();
    d.nodes_connected = nodes_connected;
    return pack_update(&d, cs->put, cs->n_put);
}

/* ---- refresh -------------------------------------------------------------------------------- */

/* After a full reload into fresh: what differs from old, by one merge of the two sorted
 * arrays. put borrows fresh's resources, remove old's ids. */
static void
diff_configs(const struct cp_watch_config *old, const struct cp_watch_config *fresh,
             struct change_set *cs)
{
    size_t i = 0, j = 0;

    change_set_init(cs, fresh->n, old->n);
    while (i < old->n || j < fresh->n) {
        int d = i == old->n ? 1 : j == fresh->n ? -1 : res_cmp(old->res[i], fresh->res[j]);
        if (d < 0) {
            change_set_remove(cs, old->res[i++]);
        } else if (d > 0) {
            cs->put[cs->n_put++] = fresh->res[j++];
        } else {
            if (!res_same(old->res[i], fresh->res[j]))
                cs->put[cs->n_put++] = fresh->res[j];
            i++;
            j++;
        }
    }
}

static int
refresh_full(struct cp_watch_config *c, struct cp_store *st, unsigned nodes_connected,
             grpc_slice *ret_delta, size_t *ret_changes)
{
    Edge__V1__ConfigUpdate *u = NULL;
    struct cp_watch_config fresh = {0};
    uint64_t seq = 0;
    int r = cp_store_load_config_seq(st, &u, &seq);

    if (r < 0)
        return r;
    config_from_update(&fresh, u, seq);
    fresh.full_loads = c->full_loads + 1;
    if (!c->loaded) {
        cp_watch_config_done(c);
        *c = fresh;
        return 2;
    }
    struct change_set cs;
    diff_configs(c, &fresh, &cs);
    if (ret_delta)
        *ret_delta = pack_delta(&cs, c->revision, fresh.revision, fresh.store_id, nodes_connected);
    if (ret_changes)
        *ret_changes = cs.n_put + cs.n_remove;
    change_set_done(&cs);
    cp_watch_config_done(c);
    *c = fresh;
    return 1;
}

/* Applies cs (sorted puts, of which those not in c are inserts; removes of resources c has)
 * to c: replacements in place, and one merge when the set of resources changes. Takes the
 * puts; frees what they replace and what is removed. */
static void
apply_changes(struct cp_watch_config *c, struct change_set *cs)
{
    size_t n_insert = 0;

    for (size_t k = 0; k < cs->n_put; k++) {
        ptrdiff_t i = config_search(c, cs->put[k]->type, cs->put[k]->data);
        if (i >= 0) {
            c->put_bytes -= c->res[i]->size;
            c->put_bytes += cs->put[k]->size;
            free(c->res[i]);
            c->res[i] = cs->put[k];
            cs->put[k] = NULL; /* taken */
        } else {
            n_insert++;
        }
    }
    if (n_insert == 0 && cs->n_remove == 0)
        return;
    /* Mark the removed (their ids stay valid until the merge is done). */
    bool *drop = edge_xcalloc(c->n ? c->n : 1, sizeof(*drop));
    for (size_t k = 0; k < cs->n_remove; k++) {
        ptrdiff_t i = config_search(c, cs->ref_ptrs[k]->type, cs->ref_ptrs[k]->id);
        if (i >= 0)
            drop[i] = true;
    }
    size_t n_new = c->n + n_insert - cs->n_remove;
    struct cp_watch_res **res = edge_xcalloc(n_new ? n_new : 1, sizeof(*res));
    size_t i = 0, k = 0, o = 0;
    while (i < c->n || k < cs->n_put) {
        if (k < cs->n_put && !cs->put[k]) {
            k++;
            continue;
        }
        if (i < c->n && drop[i]) {
            c->put_bytes -= c->res[i]->size;
            free(c->res[i++]);
            continue;
        }
        if (k == cs->n_put || (i < c->n && res_cmp(c->res[i], cs->put[k]) < 0)) {
            res[o++] = c->res[i++];
        } else {
            c->put_bytes += cs->put[k]->size;
            res[o++] = cs->put[k];
            cs->put[k++] = NULL;
        }
    }
    free(drop);
    free(c->res);
    c->res = res;
    c->n = o;
}

int
cp_watch_config_refresh(struct cp_watch_config *c, struct cp_store *st, unsigned nodes_connected,
                        grpc_slice *ret_delta, size_t *ret_changes)
{
    Edge__V1__ConfigUpdate *u = NULL;
    uint64_t seq = 0;
    int r;

    if (!c->loaded)
        return refresh_full(c, st, nodes_connected, ret_delta, ret_changes);
    if (cp_store_revision(st) == c->revision)
        return 0;
    /* Reloading one resource costs about what one costs in a full load: follow the log
     * unless it names more than half of what we hold. */
    size_t max_changes = c->n / 2 > CP_WATCH_MAX_CHANGES ? c->n / 2 : CP_WATCH_MAX_CHANGES;
    r = cp_store_load_changes(st, c->seq, max_changes, &u, &seq);
    if (r < 0)
        return r;
    if (r == 1 || strcmp(u->store_id, c->store_id) != 0) {
        edge_pb_free(u);
        return refresh_full(c, st, nodes_connected, ret_delta, ret_changes);
    }

    /* The store's answer may hold puts of unchanged resources and removes of resources we
     * never had (a change undone in the same revision): keep only the real changes. Both
     * lists are sorted, so the change set is too. */
    struct change_set cs;
    change_set_init(&cs, u->n_put, u->n_remove);
    for (size_t k = 0; k < u->n_put; k++) {
        struct cp_watch_res *nr = res_new(u->put[k]);
        const struct cp_watch_res *old = cp_watch_config_find(c, nr->type, nr->data);
        if (old && res_same(old, nr))
            free(nr);
        else
            cs.put[cs.n_put++] = nr;
    }
    for (size_t k = 0; k < u->n_remove; k++) {
        const struct cp_watch_res *old =
            cp_watch_config_find(c, u->remove[k]->type, u->remove[k]->id);
        if (old)
            change_set_remove(&cs, old);
    }
    if (ret_delta)
        *ret_delta = pack_delta(&cs, c->revision, u->revision, c->store_id, nodes_connected);
    if (ret_changes)
        *ret_changes = cs.n_put + cs.n_remove;
    apply_changes(c, &cs);
    for (size_t k = 0; k < cs.n_put; k++)
        free(cs.put[k]); /* only what apply_changes() did not take: none */
    change_set_done(&cs);
    c->revision = u->revision;
    c->seq = seq;
    edge_pb_free(u);
    return 1;
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
        break;
    }
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
    free(w);
}
