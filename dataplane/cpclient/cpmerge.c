/* Folding Config/Watch updates into the complete configuration (see cpmerge.h).
 *
 * Ownership: every resource of the held configuration is owned by it. A pending resource is
 * either borrowed from the held configuration or "fresh" (moved out of an update, owned by the
 * pending configuration); fresh[] says which. The held resources the pending configuration
 * dropped are listed in held_gone (or all of them, after a full snapshot): a commit frees
 * them, a rollback forgets the list. So a rollback costs the fresh resources and a commit the
 * dropped ones, never a walk over the whole configuration.
 *
 * A delta of k changes against n resources costs O(k log n) compares plus a copy of the n
 * pointers: with a million keys, a few milliseconds, not a million string compares. Each
 * resource also keeps its encoding (packed once, when it arrives), so the packed whole
 * configuration for the cache is a concatenation, not a million message packs. */
#include "cpmerge.h"

#include "pb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct enc {
    uint8_t *p; /* the packed resource; owned with it */
    size_t len;
};

struct cfg_state {
    Edge__V1__ConfigUpdate view; /* put/n_put/store_id point at the fields below */
    Edge__V1__Resource **res;    /* sorted by (type, id), unique */
    struct enc *enc;             /* enc[i]: res[i] packed */
    bool *fresh;                 /* pending only: res[i] is owned by the pending state */
    size_t n;
    char *store_id;
};

struct dp_cpmerge {
    struct cfg_state held;
    struct cfg_state pending;
    bool have_pending;
    /* Held resources that the pending state no longer has; freed at commit. */
    struct gone {
        Edge__V1__Resource *res;
        uint8_t *enc;
    } * held_gone;
    size_t n_held_gone, cap_held_gone;
    bool held_all_gone; /* a full snapshot is pending: every held resource goes at commit */
    /* The API keys of the pending updates, apart (policy/keychange.h): the node keeps keys in
     * its key store, not here, so they are handed over once and freed at commit or rollback. */
    struct dp_key_changes keys;
    struct dp_key_change *chg; /* keys.changes, sorted by id */
    struct keyown {            /* what chg[i] points into, owned */
        Edge__V1__Resource *res;
        Edge__V1__ResourceRef *ref;
    } * own;
    size_t cap_chg;
};

static int
key_cmp(int ta, const char *ia, int tb, const char *ib)
{
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return strcmp(ia, ib);
}

static int
res_cmp(const Edge__V1__Resource *a, const Edge__V1__Resource *b)
{
    return key_cmp((int)a->type, a->id, (int)b->type, b->id);
}

static int
res_qsort_cmp(const void *a, const void *b)
{
    return res_cmp(*(Edge__V1__Resource *const *)a, *(Edge__V1__Resource *const *)b);
}

static int
ref_qsort_cmp(const void *a, const void *b)
{
    const Edge__V1__ResourceRef *ra = *(Edge__V1__ResourceRef *const *)a;
    const Edge__V1__ResourceRef *rb = *(Edge__V1__ResourceRef *const *)b;
    return key_cmp((int)ra->type, ra->id, (int)rb->type, rb->id);
}

static void
state_sync_view(struct cfg_state *s)
{
    s->view.full = true;
    s->view.put = s->res;
    s->view.n_put = s->n;
    s->view.remove = NULL;
    s->view.n_remove = 0;
    s->view.base_revision = 0;
    s->view.store_id = s->store_id;
}

static void
state_init(struct cfg_state *s)
{
    memset(s, 0, sizeof(*s));
    edge__v1__config_update__init(&s->view);
    state_sync_view(s);
}

struct dp_cpmerge *
dp_cpmerge_new(void)
{
    struct dp_cpmerge *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    state_init(&m->held);
    state_init(&m->pending);
    m->held.store_id = strdup("");
    if (!m->held.store_id) {
        free(m);
        return NULL;
    }
    state_sync_view(&m->held);
    return m;
}

static void
keys_drop(struct dp_cpmerge *m)
{
    for (size_t i = 0; i < m->keys.n; i++) {
        edge_pb_free(m->own[i].res);
        edge_pb_free(m->own[i].ref);
    }
    free(m->chg);
    free(m->own);
    m->chg = NULL;
    m->own = NULL;
    m->cap_chg = 0;
    memset(&m->keys, 0, sizeof(m->keys));
}

static void
pending_drop(struct dp_cpmerge *m)
{
    struct cfg_state *p = &m->pending;

    keys_drop(m);
    m->n_held_gone = 0;
    m->held_all_gone = false;
    if (!m->have_pending)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->fresh[i]) {
            edge_pb_free(p->res[i]);
            free(p->enc[i].p);
        }
    }
    free(p->res);
    free(p->enc);
    free(p->fresh);
    free(p->store_id);
    state_init(p);
    m->have_pending = false;
}

struct dp_cpmerge *
dp_cpmerge_free(struct dp_cpmerge *m)
{
    if (!m)
        return NULL;
    pending_drop(m);
    for (size_t i = 0; i < m->held.n; i++) {
        edge_pb_free(m->held.res[i]);
        free(m->held.enc[i].p);
    }
    free(m->held.res);
    free(m->held.enc);
    free(m->held.store_id);
    free(m->held_gone);
    free(m);
    return NULL;
}

const Edge__V1__ConfigUpdate *
dp_cpmerge_pending(const struct dp_cpmerge *m)
{
    return m->have_pending ? &m->pending.view : NULL;
}

const Edge__V1__ConfigUpdate *
dp_cpmerge_held(const struct dp_cpmerge *m)
{
    return &m->held.view;
}

void
dp_cpmerge_rollback(struct dp_cpmerge *m)
{
    pending_drop(m);
}

void
dp_cpmerge_commit(struct dp_cpmerge *m)
{
    struct cfg_state *h = &m->held, *p = &m->pending;

    if (!m->have_pending)
        return;
    keys_drop(m);
    if (m->held_all_gone) {
        for (size_t i = 0; i < h->n; i++) {
            edge_pb_free(h->res[i]);
            free(h->enc[i].p);
        }
    } else {
        for (size_t i = 0; i < m->n_held_gone; i++) {
            edge_pb_free(m->held_gone[i].res);
            free(m->held_gone[i].enc);
        }
    }
    m->n_held_gone = 0;
    m->held_all_gone = false;
    free(h->res);
    free(h->enc);
    free(h->store_id);
    free(p->fresh);
    Edge__V1__ConfigUpdate view = p->view;
    state_init(h);
    h->view = view;
    h->res = p->res;
    h->enc = p->enc;
    h->n = p->n;
    h->store_id = p->store_id;
    state_sync_view(h);
    state_init(p);
    m->have_pending = false;
}

static int fail(char *err, size_t err_len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t err_len, int rc, const char *fmt, ...)
{
    va_list ap;

    if (err && err_len) {
        va_start(ap, fmt);
        (void)vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Sorts the update's put and remove lists and rejects what cannot be applied unambiguously. */
static int
check_update(Edge__V1__ConfigUpdate *upd, char *err, size_t err_len)
{
    /* A full snapshot of revision 0 is an empty store; a delta to revision 0 is nonsense. */
    if (upd->revision == 0 && !upd->full)
        return fail(err, err_len, -EINVAL, "delta without a revision");
    if (upd->n_put > 1)
        qsort(upd->put, upd->n_put, sizeof(*upd->put), res_qsort_cmp);
    for (size_t i = 1; i < upd->n_put; i++)
        if (res_cmp(upd->put[i - 1], upd->put[i]) == 0)
            return fail(err, err_len, -EINVAL,
                        "revision %llu puts resource type %d id \"%s\" twice",
                        (unsigned long long)upd->revision, (int)upd->put[i]->type, upd->put[i]->id);
    if (upd->full && upd->n_remove)
        return fail(err, err_len, -EINVAL, "full revision %llu also removes resources",
                    (unsigned long long)upd->revision);
    if (upd->n_remove > 1)
        qsort(upd->remove, upd->n_remove, sizeof(*upd->remove), ref_qsort_cmp);
    for (size_t i = 0, j = 0; i < upd->n_put && j < upd->n_remove;) {
        int c = key_cmp((int)upd->put[i]->type, upd->put[i]->id, (int)upd->remove[j]->type,
                        upd->remove[j]->id);
        if (c == 0)
            return fail(err, err_len, -EINVAL,
                        "revision %llu both puts and removes resource type %d id \"%s\"",
                        (unsigned long long)upd->revision, (int)upd->put[i]->type, upd->put[i]->id);
        if (c < 0)
            i++;
        else
            j++;
    }
    return 0;
}

/* The first index in res[lo, n) whose key is not below (type, id). */
static size_t
lower_bound(Edge__V1__Resource *const *res, size_t lo, size_t n, int type, const char *id)
{
    size_t hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp((int)res[mid]->type, res[mid]->id, type, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool
reserve_held_gone(struct dp_cpmerge *m, size_t more)
{
    if (m->n_held_gone + more <= m->cap_held_gone)
        return true;
    size_t cap = m->cap_held_gone ? m->cap_held_gone : 16;
    while (cap < m->n_held_gone + more)
        cap *= 2;
    struct gone *g = realloc(m->held_gone, cap * sizeof(*g));
    if (!g)
        return false;
    m->held_gone = g;
    m->cap_held_gone = cap;
    return true;
}

/* Copies base[from, to) into out at *n. */
static void
copy_range(const struct cfg_state *base, bool base_is_pending, size_t from, size_t to,
           struct cfg_state *out)
{
    size_t k = to - from;
    if (k == 0)
        return;
    memcpy(out->res + out->n, base->res + from, k * sizeof(*out->res));
    memcpy(out->enc + out->n, base->enc + from, k * sizeof(*out->enc));
    if (base_is_pending)
        memcpy(out->fresh + out->n, base->fresh + from, k);
    else
        memset(out->fresh + out->n, 0, k);
    out->n += k;
}

/* Builds the new pending arrays from base (the current pending or held state) and a checked
 * delta. The base resources the delta replaced or removed are freed if fresh, else listed in
 * held_gone: that part runs only once nothing can fail. */
static int
merge_delta(struct dp_cpmerge *m, const struct cfg_state *base, bool base_is_pending,
            const Edge__V1__ConfigUpdate *upd, const struct enc *put_enc, struct cfg_state *out)
{
    size_t cap = base->n + upd->n_put, k = upd->n_put + upd->n_remove;
    size_t *gone = malloc((k ? k : 1) * sizeof(*gone)); /* indexes into base */
    size_t n_gone = 0, cur = 0, p = 0, r = 0;

    out->res = malloc((cap ? cap : 1) * sizeof(*out->res));
    out->enc = malloc((cap ? cap : 1) * sizeof(*out->enc));
    out->fresh = malloc(cap ? cap : 1);
    out->n = 0;
    if (!gone || !out->res || !out->enc || !out->fresh || !reserve_held_gone(m, k)) {
        free(gone);
        free(out->res);
        free(out->enc);
        free(out->fresh);
        out->res = NULL;
        out->enc = NULL;
        out->fresh = NULL;
        return -ENOMEM;
    }
    /* Puts and removes are sorted and disjoint: walk them together, in key order. */
    while (p < upd->n_put || r < upd->n_remove) {
        bool is_put;
        if (p == upd->n_put)
            is_put = false;
        else if (r == upd->n_remove)
            is_put = true;
        else
            is_put = key_cmp((int)upd->put[p]->type, upd->put[p]->id, (int)upd->remove[r]->type,
                             upd->remove[r]->id) < 0;
        int type = is_put ? (int)upd->put[p]->type : (int)upd->remove[r]->type;
        const char *id = is_put ? upd->put[p]->id : upd->remove[r]->id;
        size_t pos = lower_bound(base->res, cur, base->n, type, id);

        copy_range(base, base_is_pending, cur, pos, out);
        cur = pos;
        if (pos < base->n && key_cmp((int)base->res[pos]->type, base->res[pos]->id, type, id) == 0)
            gone[n_gone++] = cur++; /* replaced or removed */
        if (is_put) {
            out->enc[out->n] = put_enc[p];
            out->res[out->n] = upd->put[p++];
            out->fresh[out->n++] = true;
        } else {
            r++;
        }
    }
    copy_range(base, base_is_pending, cur, base->n, out);

    for (size_t i = 0; i < n_gone; i++) {
        size_t g = gone[i];
        if (base_is_pending && base->fresh[g]) {
            edge_pb_free(base->res[g]);
            free(base->enc[g].p);
        } else if (!m->held_all_gone) {
            m->held_gone[m->n_held_gone].res = base->res[g];
            m->held_gone[m->n_held_gone++].enc = base->enc[g].p;
        }
    }
    free(gone);
    return 0;
}

static void
free_encs(struct enc *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++)
        free(e[i].p);
    free(e);
}

/* Packs every resource of the update; NULL when out of memory. */
static struct enc *
encode_puts(const Edge__V1__ConfigUpdate *upd)
{
    struct enc *e = calloc(upd->n_put ? upd->n_put : 1, sizeof(*e));
    if (!e)
        return NULL;
    for (size_t i = 0; i < upd->n_put; i++) {
        e[i].len = protobuf_c_message_get_packed_size(&upd->put[i]->base);
        e[i].p = malloc(e[i].len ? e[i].len : 1);
        if (!e[i].p) {
            free_encs(e, i);
            return NULL;
        }
        protobuf_c_message_pack(&upd->put[i]->base, e[i].p);
    }
    return e;
}

const struct dp_key_changes *
dp_cpmerge_pending_keys(const struct dp_cpmerge *m)
{
    return &m->keys;
}

/* The [*lo, *hi) block of API keys in a sorted put or remove list. */
#define KEY_TYPE EDGE__V1__RESOURCE_TYPE__RESOURCE_TYPE_KEY
#define KEY_BLOCK(arr, n, lo, hi)                                                                  \
    do {                                                                                           \
        for (lo = 0; lo < (n) && (int)(arr)[lo]->type < (int)KEY_TYPE; lo++)                       \
            ;                                                                                      \
        for (hi = lo; hi < (n) && (arr)[hi]->type == KEY_TYPE; hi++)                               \
            ;                                                                                      \
    } while (0)

/* Folds the update's key puts and removes (checked, sorted) into the pending key changes, and
 * takes them out of the update. A full update starts them over. */
static int
fold_keys(struct dp_cpmerge *m, Edge__V1__ConfigUpdate *upd)
{
    size_t pl, ph, rl, rh;
    KEY_BLOCK(upd->put, upd->n_put, pl, ph);
    KEY_BLOCK(upd->remove, upd->n_remove, rl, rh);
    size_t np = ph - pl, nr = rh - rl;
    bool reset = upd->full || m->keys.reset;
    size_t old_n = upd->full ? 0 : m->keys.n, cap = old_n + np + nr;
    struct dp_key_change *chg = malloc((cap ? cap : 1) * sizeof(*chg));
    struct keyown *own = malloc((cap ? cap : 1) * sizeof(*own));
    if (!chg || !own) {
        free(chg);
        free(own);
        return -ENOMEM;
    }
    /* Nothing fails from here. Merge the old changes with the new (new wins on one id). */
    size_t i = 0, p = pl, r = rl, n = 0;
    while (i < old_n || p < ph || r < rh) {
        const char *ip = i < old_n ? m->chg[i].id : NULL;
        const char *pp = p < ph ? upd->put[p]->id : NULL;
        const char *rp = r < rh ? upd->remove[r]->id : NULL;
        const char *min = ip;
        if (pp && (!min || strcmp(pp, min) < 0))
            min = pp;
        if (rp && (!min || strcmp(rp, min) < 0))
            min = rp;
        bool from_old = ip && strcmp(ip, min) == 0;
        bool from_put = pp && strcmp(pp, min) == 0;
        bool from_rem = rp && strcmp(rp, min) == 0;
        if (from_old) {
            if (from_put || from_rem) { /* superseded */
                edge_pb_free(m->own[i].res);
                edge_pb_free(m->own[i].ref);
            } else {
                chg[n] = m->chg[i];
                own[n++] = m->own[i];
            }
            i++;
        }
        if (from_put) {
            Edge__V1__Resource *res = upd->put[p++];
            chg[n].id = res->id;
            chg[n].key = res->body_case == EDGE__V1__RESOURCE__BODY_KEY ? res->key : NULL;
            if (!chg[n].key && reset) { /* no key body: nothing anyone can present */
                edge_pb_free(res);
                continue;
            }
            own[n].res = res; /* without a key body it removes the key */
            own[n++].ref = NULL;
        } else if (from_rem) {
            Edge__V1__ResourceRef *ref = upd->remove[r++];
            if (reset) { /* absent from a full set is removed */
                edge_pb_free(ref);
                continue;
            }
            chg[n].id = ref->id;
            chg[n].key = NULL;
            own[n].res = NULL;
            own[n++].ref = ref;
        }
    }
    if (upd->full) {
        for (size_t k = 0; k < m->keys.n; k++) {
            edge_pb_free(m->own[k].res);
            edge_pb_free(m->own[k].ref);
        }
    }
    free(m->chg);
    free(m->own);
    m->chg = chg;
    m->own = own;
    m->cap_chg = cap;
    m->keys.reset = reset;
    m->keys.changes = chg;
    m->keys.n = n;
    /* The keys belong to the pending changes now: close the gaps in the update's lists. */
    if (np) {
        memmove(upd->put + pl, upd->put + ph, (upd->n_put - ph) * sizeof(*upd->put));
        upd->n_put -= np;
    }
    if (nr) {
        memmove(upd->remove + rl, upd->remove + rh, (upd->n_remove - rh) * sizeof(*upd->remove));
        upd->n_remove -= nr;
    }
    return 0;
}

int
dp_cpmerge_update(struct dp_cpmerge *m, Edge__V1__ConfigUpdate *upd, char *err, size_t err_len)
{
    struct cfg_state *base = m->have_pending ? &m->pending : &m->held;
    bool base_is_pending = m->have_pending;
    struct cfg_state next;
    int rc;

    state_init(&next);
    if (!upd->full) {
        bool same_store = base->view.revision == 0 || strcmp(upd->store_id, base->store_id) == 0;
        if (upd->n_put == 0 && upd->n_remove == 0 && upd->revision == base->view.revision &&
            same_store) {
            edge_pb_free(upd);
            return DP_CPMERGE_CURRENT;
        }
        if (!same_store || upd->base_revision != base->view.revision) {
            rc = fail(err, err_len, -ESTALE,
                      "delta from revision %llu of store \"%s\" does not apply to revision "
                      "%llu of store \"%s\"",
                      (unsigned long long)upd->base_revision, upd->store_id,
                      (unsigned long long)base->view.revision, base->store_id);
            edge_pb_free(upd);
            return rc;
        }
    }
    rc = check_update(upd, err, err_len);
    if (rc < 0) {
        edge_pb_free(upd);
        return rc;
    }
    /* Keys go first, apart; should the rest then fail, the keys still pending are dropped
     * with the pending state by the caller's rollback, as any failed update's. */
    if (fold_keys(m, upd) < 0) {
        edge_pb_free(upd);
        return fail(err, err_len, -ENOMEM, "out of memory");
    }

    struct enc *put_enc = encode_puts(upd);
    next.store_id = strdup(upd->full ? upd->store_id : base->store_id);
    if (!next.store_id || !put_enc) {
        free(next.store_id);
        free_encs(put_enc, upd->n_put);
        edge_pb_free(upd);
        return fail(err, err_len, -ENOMEM, "out of memory");
    }
    if (upd->full) {
        size_t n = upd->n_put;
        next.res = malloc((n ? n : 1) * sizeof(*next.res));
        next.fresh = malloc(n ? n : 1);
        if (!next.res || !next.fresh) {
            free(next.res);
            free(next.fresh);
            free(next.store_id);
            free_encs(put_enc, n);
            edge_pb_free(upd);
            return fail(err, err_len, -ENOMEM, "out of memory");
        }
        if (n) /* an empty snapshot has no array at all */
            memcpy(next.res, upd->put, n * sizeof(*next.res));
        next.enc = put_enc; /* same order as put: both sorted */
        put_enc = NULL;
        memset(next.fresh, 1, n);
        next.n = n;
        /* Nothing can fail from here on. */
        if (base_is_pending) {
            for (size_t i = 0; i < base->n; i++) {
                if (base->fresh[i]) {
                    edge_pb_free(base->res[i]);
                    free(base->enc[i].p);
                }
            }
        }
        m->held_all_gone = true;
        m->n_held_gone = 0;
    } else if (merge_delta(m, base, base_is_pending, upd, put_enc, &next) < 0) {
        free(next.store_id);
        free_encs(put_enc, upd->n_put);
        edge_pb_free(upd);
        return fail(err, err_len, -ENOMEM, "out of memory");
    } else {
        free(put_enc); /* the encodings moved into next */
    }

    if (base_is_pending) {
        free(base->res);
        free(base->enc);
        free(base->fresh);
        free(base->store_id);
    }
    next.view.revision = upd->revision;
    next.view.published_at_ns = upd->published_at_ns;
    next.view.nodes_connected = upd->nodes_connected;
    state_sync_view(&next);
    m->pending = next;
    m->have_pending = true;

    /* The resources now belong to the pending state; the rest of the update goes. */
    upd->n_put = 0;
    edge_pb_free(upd);
    return 0;
}

int
dp_cpmerge_pack_pending(const struct dp_cpmerge *m, uint8_t **ret_buf, size_t *ret_len)
{
    const struct cfg_state *p = &m->pending;
    Edge__V1__ConfigUpdate head = EDGE__V1__CONFIG_UPDATE__INIT;
    /* put is field 5, length-delimited. */
    const uint8_t put_tag = (5 << 3) | 2;

    if (!m->have_pending)
        return -ENOENT;
    head.revision = p->view.revision;
    head.store_id = p->store_id;
    head.full = true;
    head.published_at_ns = p->view.published_at_ns;
    head.nodes_connected = p->view.nodes_connected;
    size_t len = protobuf_c_message_get_packed_size(&head.base);
    for (size_t i = 0; i < p->n; i++)
        len += 1 + edge_pb_varint_size(p->enc[i].len) + p->enc[i].len;
    uint8_t *buf = malloc(len ? len : 1), *w = buf;
    if (!buf)
        return -ENOMEM;
    w += protobuf_c_message_pack(&head.base, w);
    for (size_t i = 0; i < p->n; i++) {
        *w++ = put_tag;
        w = edge_pb_put_varint(w, p->enc[i].len);
        if (p->enc[i].len)
            memcpy(w, p->enc[i].p, p->enc[i].len);
        w += p->enc[i].len;
    }
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}
