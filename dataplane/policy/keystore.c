/* The node's API keys (see keystore.h).
 *
 * A record is eight 64-bit words, written and read with relaxed atomics: w[0..3] the secret's
 * SHA-256, w[4] expires_at, w[5] the id hash, w[6] the 48-bit id, w[7] the sequence number
 * (high 32 bits, odd while the writer is inside) and the plan set and enabled bit (low 32).
 * A free record is all zero but for its sequence number.
 *
 * Index slots hold record + 1; 0 is empty, SLOT_TOMB a removed key (probes go past it). The
 * writer keeps tombstones plus keys at or below half the slots, rebuilding (and growing) the
 * index past that. */
#include "policy/keystore.h"

#include "policy/buckets.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define REC_CHUNK_SHIFT 14 /* 16,384 records (1 MiB) a chunk */
#define REC_CHUNK       (1u << REC_CHUNK_SHIFT)
#define REC_CHUNKS_MAX  (1u << 17) /* 2^31 records */
#define PS_CHUNK        16384u     /* words of plan sets a chunk */
#define PS_CHUNKS_MAX   4096u
#define SLOT_TOMB       UINT32_MAX

struct rec {
    _Atomic uint64_t w[8];
};

struct dp_keyindex {
    atomic_uint refs;
    struct dp_keystore *ks;
    size_t mask;
    _Atomic uint32_t slot[];
};

/* Writer-only map of 64-bit keys to 32-bit values (ids to records, plan sets to offsets). */
struct u64map {
    uint64_t *keys; /* 0: empty; keys are never 0 (callers or in 1) */
    uint32_t *vals;
    size_t mask, n, tombs;
};
#define MAP_TOMB UINT64_MAX

/* Writer-only index of records by id: slots hold record + 1 (0 empty, SLOT_TOMB removed). */
struct idmap {
    uint32_t *slot;
    size_t mask, n, tombs;
};

struct dp_keystore {
    _Atomic(struct rec *) recs[REC_CHUNKS_MAX];
    _Atomic(uint32_t *) ps[PS_CHUNKS_MAX];
    struct dp_keyindex *ix; /* current; the store's own reference */
    /* Writer only. */
    size_t n_recs;  /* records ever used (free ones included) */
    uint32_t *free; /* free record numbers */
    size_t n_free, cap_free;
    uint8_t *marked; /* reset: bit per record */
    size_t cap_marked;
    bool resetting;
    size_t n_keys, ix_used;   /* live keys; index slots not empty (keys + tombstones) */
    struct idmap by_id;       /* id -> record (compared through the record's id word) */
    struct u64map planset_of; /* content hash -> plan set offset */
    uint32_t ps_used;         /* words used in the plan set chunks */
    char **plan_names;
    uint32_t n_plan_names, cap_plan_names;
};

/* ---- writer-side map ----------------------------------------------------------------- */

static int
map_grow(struct u64map *m, size_t want)
{
    size_t n = 16;
    while (n < want * 2)
        n <<= 1;
    uint64_t *keys = calloc(n, sizeof(*keys));
    uint32_t *vals = malloc(n * sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -ENOMEM;
    }
    for (size_t i = 0; m->keys && i <= m->mask; i++) {
        uint64_t k = m->keys[i];
        if (k == 0 || k == MAP_TOMB)
            continue;
        size_t j = (size_t)dp_policy_mix(k, 0x6d) & (n - 1);
        while (keys[j])
            j = (j + 1) & (n - 1);
        keys[j] = k;
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->mask = n - 1;
    m->tombs = 0;
    return 0;
}

static uint32_t *
map_find(const struct u64map *m, uint64_t key)
{
    if (!m->keys)
        return NULL;
    for (size_t i = (size_t)dp_policy_mix(key, 0x6d) & m->mask; m->keys[i]; i = (i + 1) & m->mask)
        if (m->keys[i] == key)
            return &m->vals[i];
    return NULL;
}

/* Room for one more: call before map_add, which cannot fail then. */
static int
map_reserve(struct u64map *m)
{
    if (m->keys && (m->n + m->tombs + 1) * 2 <= m->mask + 1)
        return 0;
    return map_grow(m, m->n + 1);
}

static void
map_add(struct u64map *m, uint64_t key, uint32_t val)
{
    size_t i = (size_t)dp_policy_mix(key, 0x6d) & m->mask;
    while (m->keys[i] && m->keys[i] != MAP_TOMB)
        i = (i + 1) & m->mask;
    if (m->keys[i] == MAP_TOMB)
        m->tombs--;
    m->keys[i] = key;
    m->vals[i] = val;
    m->n++;
}

static void
map_done(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

/* ---- writer-side id index (after the records: it reads their id word) -------------- */

static struct rec *rec_at(struct dp_keystore *ks, uint32_t r);

static uint64_t
rec_id(struct dp_keystore *ks, uint32_t r)
{
    return atomic_load_explicit(&rec_at(ks, r)->w[6], memory_order_relaxed);
}

static uint32_t *
idmap_find(struct dp_keystore *ks, uint64_t id48)
{
    struct idmap *m = &ks->by_id;
    if (!m->slot)
        return NULL;
    for (size_t i = (size_t)dp_policy_mix(id48, 0x6964) & m->mask; m->slot[i];
         i = (i + 1) & m->mask)
        if (m->slot[i] != SLOT_TOMB && rec_id(ks, m->slot[i] - 1) == id48)
            return &m->slot[i];
    return NULL;
}

static void
idmap_place(struct dp_keystore *ks, uint32_t *slot, size_t mask, uint32_t r)
{
    size_t i = (size_t)dp_policy_mix(rec_id(ks, r), 0x6964) & mask;
    while (slot[i] && slot[i] != SLOT_TOMB)
        i = (i + 1) & mask;
    slot[i] = r + 1;
}

/* Room for one more id. */
static int
idmap_reserve(struct dp_keystore *ks)
{
    struct idmap *m = &ks->by_id;
    if (m->slot && (m->n + m->tombs + 1) * 2 <= m->mask + 1)
        return 0;
    size_t n = 16;
    while (n < (m->n + 1) * 2 + 2)
        n <<= 1;
    uint32_t *slot = calloc(n, sizeof(*slot));
    if (!slot)
        return -ENOMEM;
    for (size_t i = 0; m->slot && i <= m->mask; i++)
        if (m->slot[i] && m->slot[i] != SLOT_TOMB)
            idmap_place(ks, slot, n - 1, m->slot[i] - 1);
    free(m->slot);
    m->slot = slot;
    m->mask = n - 1;
    m->tombs = 0;
    return 0;
}

/* ---- ids ----------------------------------------------------------------------------- */

static int
id_parse(const char *id, uint64_t *ret)
{
    if (!id || id[0] != 'k' || id[1] != '-' || strlen(id) != DP_KEY_ID_LEN)
        return -EINVAL;
    uint64_t v = 0;
    for (int i = 2; i < DP_KEY_ID_LEN; i++) {
        char c = id[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return -EINVAL;
        v = v << 4 | d;
    }
    *ret = v;
    return 0;
}

static void
id_format(uint64_t v, char out[DP_KEY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    out[0] = 'k';
    out[1] = '-';
    for (int i = DP_KEY_ID_LEN - 1; i >= 2; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
    out[DP_KEY_ID_LEN] = '\0';
}

/* ---- records ------------------------------------------------------------------------- */

static struct rec *
rec_at(struct dp_keystore *ks, uint32_t r)
{
    return &atomic_load_explicit(&ks->recs[r >> REC_CHUNK_SHIFT],
                                 memory_order_acquire)[r & (REC_CHUNK - 1)];
}

static void
rec_write(struct rec *r, const uint64_t w[7], uint32_t tail)
{
    uint64_t seq = atomic_load_explicit(&r->w[7], memory_order_relaxed) >> 32;
    atomic_store_explicit(&r->w[7], (seq + 1) << 32, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (int i = 0; i < 7; i++)
        atomic_store_explicit(&r->w[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&r->w[7], ((seq + 2) & 0xffffffffu) << 32 | tail, memory_order_release);
}

/* A consistent copy of a record (readers). */
static void
rec_read(const struct rec *r, uint64_t w[8])
{
    for (unsigned spins = 0;; spins++) {
        uint64_t t1 = atomic_load_explicit(&r->w[7], memory_order_acquire);
        if (!((t1 >> 32) & 1)) {
            for (int i = 0; i < 7; i++)
                w[i] = atomic_load_explicit(&r->w[i], memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
            if (atomic_load_explicit(&r->w[7], memory_order_relaxed) == t1) {
                w[7] = t1;
                return;
            }
        }
        if (spins > 64)
            sched_yield(); /* the writer was preempted inside: let it finish */
    }
}

static void
rec_to_key(const uint64_t w[8], struct dp_key *k)
{
    id_format(w[6], k->id);
    k->expires_at = (int64_t)w[4];
    k->id_hash = w[5];
    k->planset = (uint32_t)(w[7] & 0xffffffffu) >> 1;
    k->enabled = w[7] & 1;
}

/* ---- index --------------------------------------------------------------------------- */

static struct dp_keyindex *
index_new(struct dp_keystore *ks, size_t keys)
{
    size_t n = 16;
    while (n < keys * 2 + 2)
        n <<= 1;
    struct dp_keyindex *ix = calloc(1, sizeof(*ix) + n * sizeof(ix->slot[0]));
    if (!ix)
        return NULL;
    atomic_init(&ix->refs, 1);
    ix->ks = ks;
    ix->mask = n - 1;
    return ix;
}

static size_t
slot_of(const uint8_t sha256[32])
{
    uint64_t h;
    memcpy(&h, sha256, sizeof(h)); /* uniform already */
    return (size_t)h;
}

/* Writer: the slot holding record r for sha256, or NULL. */
static _Atomic uint32_t *
index_slot_of(struct dp_keyindex *ix, const uint8_t sha256[32], uint32_t r)
{
    for (size_t i = slot_of(sha256) & ix->mask;; i = (i + 1) & ix->mask) {
        uint32_t v = atomic_load_explicit(&ix->slot[i], memory_order_relaxed);
        if (v == 0)
            return NULL;
        if (v == r + 1)
            return &ix->slot[i];
    }
}

/* Writer: publishes record r under sha256 (room is there: see index_reserve). */
static void
index_insert(struct dp_keystore *ks, struct dp_keyindex *ix, const uint8_t sha256[32], uint32_t r)
{
    for (size_t i = slot_of(sha256) & ix->mask;; i = (i + 1) & ix->mask) {
        uint32_t v = atomic_load_explicit(&ix->slot[i], memory_order_relaxed);
        if (v == 0 || v == SLOT_TOMB) {
            if (v == 0 && ix == ks->ix)
                ks->ix_used++;
            atomic_store_explicit(&ix->slot[i], r + 1, memory_order_release);
            return;
        }
    }
}

static void
rec_sha(struct dp_keystore *ks, uint32_t r, uint8_t sha256[32])
{
    struct rec *rc = rec_at(ks, r);
    for (int i = 0; i < 4; i++) {
        uint64_t v = atomic_load_explicit(&rc->w[i], memory_order_relaxed);
        memcpy(sha256 + 8 * i, &v, 8);
    }
}

/* Writer: room for one more key in the index, rebuilding it past half full. */
static int
index_reserve(struct dp_keystore *ks)
{
    if ((ks->ix_used + 1) * 2 <= ks->ix->mask + 1)
        return 0;
    struct dp_keyindex *ix = index_new(ks, ks->n_keys + 1); /* doubles when only keys fill it */
    if (!ix)
        return -ENOMEM;
    size_t used = 0;
    for (size_t i = 0; i <= ks->ix->mask; i++) {
        uint32_t v = atomic_load_explicit(&ks->ix->slot[i], memory_order_relaxed);
        if (v == 0 || v == SLOT_TOMB)
            continue;
        uint8_t sha[32];
        rec_sha(ks, v - 1, sha);
        index_insert(ks, ix, sha, v - 1);
        used++;
    }
    struct dp_keyindex *old = ks->ix;
    ks->ix = ix;
    ks->ix_used = used;
    dp_keyindex_unref(old); /* snapshots that hold it keep it */
    return 0;
}

/* ---- plan sets ----------------------------------------------------------------------- */

static const uint32_t *
ps_words(const struct dp_keystore *ks, uint32_t off)
{
    uint32_t *c =
        atomic_load_explicit(&((struct dp_keystore *)ks)->ps[off / PS_CHUNK], memory_order_acquire);
    return c + off % PS_CHUNK;
}

/* The plan set of these sorted, distinct plan name ids: [n, ids...] at the returned offset.
 * Offset 0 is the empty set. */
static int
planset_of(struct dp_keystore *ks, const uint32_t *ids, size_t n, uint32_t *ret)
{
    if (n == 0) {
        *ret = 0;
        return 0;
    }
    uint64_t h = dp_policy_mix(0x7073, n);
    for (size_t i = 0; i < n; i++)
        h = dp_policy_mix(h, ids[i]);
    h |= 1; /* never 0 */
    if (h == MAP_TOMB)
        h--;
    /* Equal hashes of different sets: probe on with a salted hash. */
    for (uint64_t salt = 0;; salt++) {
        uint64_t key = salt ? (dp_policy_mix(h, salt) | 1) : h;
        if (key == MAP_TOMB)
            key--;
        uint32_t *v = map_find(&ks->planset_of, key);
        if (!v)
            break;
        const uint32_t *w = ps_words(ks, *v);
        if (w[0] == n && memcmp(w + 1, ids, n * sizeof(*ids)) == 0) {
            *ret = *v;
            return 0;
        }
        h = key;
    }
    uint32_t need = (uint32_t)n + 1;
    uint32_t off = ks->ps_used;
    if (off / PS_CHUNK != (off + need - 1) / PS_CHUNK)
        off = (off / PS_CHUNK + 1) * PS_CHUNK; /* a set never spans two chunks */
    if (off / PS_CHUNK >= PS_CHUNKS_MAX || off > (UINT32_MAX >> 1))
        return -ENOSPC;
    if (map_reserve(&ks->planset_of) < 0)
        return -ENOMEM;
    uint32_t *c = atomic_load_explicit(&ks->ps[off / PS_CHUNK], memory_order_relaxed);
    if (!c) {
        c = calloc(PS_CHUNK, sizeof(*c));
        if (!c)
            return -ENOMEM;
        atomic_store_explicit(&ks->ps[off / PS_CHUNK], c, memory_order_release);
    }
    c[off % PS_CHUNK] = (uint32_t)n;
    memcpy(c + off % PS_CHUNK + 1, ids, n * sizeof(*ids));
    map_add(&ks->planset_of, h, off);
    ks->ps_used = off + need;
    *ret = off;
    return 0;
}

int
dp_keystore_plan_id(struct dp_keystore *ks, const char *name, uint32_t *ret_id)
{
    for (uint32_t i = 0; i < ks->n_plan_names; i++)
        if (strcmp(ks->plan_names[i], name) == 0) {
            *ret_id = i;
            return 0;
        }
    if (ks->n_plan_names == ks->cap_plan_names) {
        uint32_t cap = ks->cap_plan_names ? ks->cap_plan_names * 2 : 8;
        char **p = realloc(ks->plan_names, cap * sizeof(*p));
        if (!p)
            return -ENOMEM;
        ks->plan_names = p;
        ks->cap_plan_names = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return -ENOMEM;
    ks->plan_names[ks->n_plan_names] = copy;
    *ret_id = ks->n_plan_names++;
    return 0;
}

uint32_t
dp_keystore_plan_ids(const struct dp_keystore *ks)
{
    return ks->n_plan_names;
}

const char *
dp_keystore_plan_name(const struct dp_keystore *ks, uint32_t id)
{
    return id < ks->n_plan_names ? ks->plan_names[id] : NULL;
}

static int
u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the store ----------------------------------------------------------------------- */

int
dp_keystore_new(struct dp_keystore **ret)
{
    struct dp_keystore *ks = calloc(1, sizeof(*ks));
    if (!ks)
        return -ENOMEM;
    ks->ix = index_new(ks, 0);
    uint32_t *ps0 = calloc(PS_CHUNK, sizeof(*ps0)); /* word 0: the empty set */
    if (!ks->ix || !ps0) {
        free(ks->ix);
        free(ps0);
        free(ks);
        return -ENOMEM;
    }
    atomic_init(&ks->ps[0], ps0);
    ks->ps_used = 1;
    *ret = ks;
    return 0;
}

void
dp_keystore_free(struct dp_keystore *ks)
{
    if (!ks)
        return;
    dp_keyindex_unref(ks->ix);
    for (size_t i = 0; i < REC_CHUNKS_MAX && ks->recs[i]; i++)
        free(ks->recs[i]);
    for (size_t i = 0; i < PS_CHUNKS_MAX; i++)
        free(ks->ps[i]);
    for (uint32_t i = 0; i < ks->n_plan_names; i++)
        free(ks->plan_names[i]);
    free(ks->plan_names);
    free(ks->free);
    free(ks->marked);
    free(ks->by_id.slot);
    map_done(&ks->planset_of);
    free(ks);
}

static void
mark(struct dp_keystore *ks, uint32_t r)
{
    if (ks->resetting)
        ks->marked[r >> 3] |= (uint8_t)(1u << (r & 7));
}

/* A record number for a new key, its chunk allocated. */
static int
rec_alloc(struct dp_keystore *ks, uint32_t *ret)
{
    if (ks->n_free) {
        *ret = ks->free[--ks->n_free];
        return 0;
    }
    if (ks->n_recs >= (size_t)REC_CHUNKS_MAX * REC_CHUNK - 1)
        return -ENOSPC;
    uint32_t r = (uint32_t)ks->n_recs;
    size_t c = r >> REC_CHUNK_SHIFT;
    if (!ks->recs[c]) {
        struct rec *chunk = calloc(REC_CHUNK, sizeof(*chunk));
        if (!chunk)
            return -ENOMEM;
        atomic_store_explicit(&ks->recs[c], chunk, memory_order_release);
    }
    if (ks->resetting && (r >> 3) >= ks->cap_marked) {
        size_t cap = ks->cap_marked * 2 > (r >> 3) + 1 ? ks->cap_marked * 2 : (r >> 3) + 1;
        uint8_t *m = realloc(ks->marked, cap);
        if (!m)
            return -ENOMEM;
        memset(m + ks->cap_marked, 0, cap - ks->cap_marked);
        ks->marked = m;
        ks->cap_marked = cap;
    }
    /* The free list can take every record back without growing at remove time. */
    if (ks->n_recs + 1 > ks->cap_free) {
        size_t cap = ks->cap_free ? ks->cap_free * 2 : 1024;
        uint32_t *f = realloc(ks->free, cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        ks->free = f;
        ks->cap_free = cap;
    }
    ks->n_recs++;
    *ret = r;
    return 0;
}

int
dp_keystore_put(struct dp_keystore *ks, const char *id, const uint8_t sha256[32], bool enabled,
                int64_t expires_at, const char *const *plans, size_t n_plans)
{
    uint64_t id48;
    if (id_parse(id, &id48) < 0 || n_plans > DP_KEY_MAX_PLANS)
        return -EINVAL;
    uint32_t ids[DP_KEY_MAX_PLANS];
    size_t n = 0;
    for (size_t i = 0; i < n_plans; i++) {
        int e = dp_keystore_plan_id(ks, plans[i], &ids[n]);
        if (e < 0)
            return e;
        n++;
    }
    qsort(ids, n, sizeof(*ids), u32_cmp);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (d == 0 || ids[d - 1] != ids[i])
            ids[d++] = ids[i];
    uint32_t ps;
    int e = planset_of(ks, ids, d, &ps);
    if (e < 0)
        return e;

    uint64_t w[7];
    memcpy(w, sha256, 32);
    w[4] = (uint64_t)expires_at;
    w[5] = dp_policy_hash_str(0x6b65, id);
    w[6] = id48;
    uint32_t tail = ps << 1 | (enabled ? 1u : 0u);

    /* Another key with this secret hash: the first stays. */
    struct dp_key other;
    uint32_t *have = idmap_find(ks, id48);
    if (dp_keyindex_find(ks->ix, sha256, &other) && strcmp(other.id, id) != 0)
        return -EEXIST;

    if (have) {
        uint32_t r = *have - 1;
        uint8_t old[32];
        rec_sha(ks, r, old);
        bool moved = memcmp(old, sha256, 32) != 0;
        if (moved && (e = index_reserve(ks)) < 0)
            return e;
        rec_write(rec_at(ks, r), w, tail);
        if (moved) {
            _Atomic uint32_t *s = index_slot_of(ks->ix, old, r);
            if (s)
                atomic_store_explicit(s, SLOT_TOMB, memory_order_release);
            index_insert(ks, ks->ix, sha256, r);
        }
        mark(ks, r);
        return 0;
    }
    uint32_t r;
    if ((e = idmap_reserve(ks)) < 0 || (e = index_reserve(ks)) < 0 || (e = rec_alloc(ks, &r)) < 0)
        return e;
    rec_write(rec_at(ks, r), w, tail);
    index_insert(ks, ks->ix, sha256, r);
    idmap_place(ks, ks->by_id.slot, ks->by_id.mask, r);
    ks->by_id.n++;
    ks->n_keys++;
    mark(ks, r);
    return 0;
}

static void
remove_rec(struct dp_keystore *ks, uint32_t *idslot)
{
    uint32_t r = *idslot - 1;
    uint8_t sha[32];
    rec_sha(ks, r, sha);
    _Atomic uint32_t *s = index_slot_of(ks->ix, sha, r);
    if (s)
        atomic_store_explicit(s, SLOT_TOMB, memory_order_release);
    static const uint64_t zero[7];
    rec_write(rec_at(ks, r), zero, 0);
    *idslot = SLOT_TOMB;
    ks->by_id.n--;
    ks->by_id.tombs++;
    ks->free[ks->n_free++] = r;
    ks->n_keys--;
}

int
dp_keystore_remove(struct dp_keystore *ks, const char *id)
{
    uint64_t id48;
    if (id_parse(id, &id48) < 0)
        return -ENOENT;
    uint32_t *have = idmap_find(ks, id48);
    if (!have)
        return -ENOENT;
    remove_rec(ks, have);
    return 0;
}

void
dp_keystore_reset_begin(struct dp_keystore *ks)
{
    size_t bytes = (ks->n_recs >> 3) + 1;
    uint8_t *m = realloc(ks->marked, bytes);
    if (m) {
        memset(m, 0, bytes);
        ks->marked = m;
        ks->cap_marked = bytes;
        ks->resetting = true;
    }
}

size_t
dp_keystore_reset_end(struct dp_keystore *ks)
{
    if (!ks->resetting)
        return 0; /* no room for the marks: keys that went stay until the next reset */
    size_t gone = 0;
    for (size_t i = 0; ks->by_id.slot && i <= ks->by_id.mask; i++) {
        uint32_t v = ks->by_id.slot[i];
        if (v == 0 || v == SLOT_TOMB)
            continue;
        uint32_t r = v - 1;
        if (!(ks->marked[r >> 3] & (1u << (r & 7)))) {
            remove_rec(ks, &ks->by_id.slot[i]);
            gone++;
        }
    }
    ks->resetting = false;
    free(ks->marked);
    ks->marked = NULL;
    ks->cap_marked = 0;
    return gone;
}

size_t
dp_keystore_count(const struct dp_keystore *ks)
{
    return ks ? ks->n_keys : 0;
}

int
dp_keystore_each(const struct dp_keystore *ks, dp_keystore_each_fn fn, void *ctx)
{
    for (size_t i = 0; ks->by_id.slot && i <= ks->by_id.mask; i++) {
        uint32_t v = ks->by_id.slot[i];
        if (v == 0 || v == SLOT_TOMB)
            continue;
        const struct rec *r = rec_at((struct dp_keystore *)ks, v - 1);
        uint64_t w[8];
        for (int j = 0; j < 8; j++)
            w[j] = atomic_load_explicit(&r->w[j], memory_order_relaxed);
        struct dp_key key;
        rec_to_key(w, &key);
        uint8_t sha[32];
        memcpy(sha, w, 32);
        const uint32_t *ps = ps_words(ks, key.planset);
        int e = fn(ctx, &key, sha, ps + 1, ps[0]);
        if (e)
            return e;
    }
    return 0;
}

struct dp_keyindex *
dp_keystore_index_ref(struct dp_keystore *ks)
{
    atomic_fetch_add_explicit(&ks->ix->refs, 1, memory_order_relaxed);
    return ks->ix;
}

struct dp_keyindex *
dp_keyindex_unref(struct dp_keyindex *ix)
{
    if (ix && atomic_fetch_sub_explicit(&ix->refs, 1, memory_order_acq_rel) == 1)
        free(ix);
    return NULL;
}

/* ---- readers ------------------------------------------------------------------------- */

bool
dp_keyindex_find(const struct dp_keyindex *ix, const uint8_t sha256[32], struct dp_key *ret)
{
    if (!ix)
        return false;
    for (size_t i = slot_of(sha256) & ix->mask, n = 0; n <= ix->mask; i = (i + 1) & ix->mask, n++) {
        uint32_t v = atomic_load_explicit(&ix->slot[i], memory_order_acquire);
        if (v == 0)
            return false;
        if (v == SLOT_TOMB)
            continue;
        uint64_t w[8];
        rec_read(rec_at(ix->ks, v - 1), w);
        if (memcmp(w, sha256, 32) == 0) {
            rec_to_key(w, ret);
            return true;
        }
    }
    return false;
}

const uint32_t *
dp_keyindex_planset(const struct dp_keyindex *ix, uint32_t planset, size_t *ret_n)
{
    const uint32_t *w = ps_words(ix->ks, planset);
    *ret_n = w[0];
    return w + 1;
}
