/* The watch's core: the configuration of one revision as packed Resources sorted by (type,
 * id), kept current from the store's change log, and the packed messages (full snapshot,
 * delta) that bring a node to it. No gRPC calls here, so that unit tests drive it alone; the
 * streams are in watch.c. */
#include "log.h"
#include "pb.h"
#include "rpc/rpc.h"
#include "store/store.h"
#include "watch_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
