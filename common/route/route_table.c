/* The route table: a segment trie built once, then read by any number of threads.
 *
 * Each node stands for a position after some segments. Its children are kept in precedence
 * order -- literal children (sorted, and hashed when there are many; at most one can match a
 * segment), then partial-segment children (sorted by route_partial_cmp), then one
 * whole-segment parameter child, then one greedy child -- and lookup is a depth-first walk that
 * tries them in that order and backtracks on failure. The first complete match is therefore the
 * template that wins at the first segment where the matching templates differ (DESIGN.md §3). The
 * walk visits each node at most once per lookup (a node's depth fixes the segment it consumes), so
 * a lookup costs at most the size of the trie, never an exponential search. The walk itself is
 * in route_lookup.c. */
#include "route.h"
#include "route_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct edge_route_builder {
    /* Allocated up front so that finishing cannot fail half-way. */
    struct edge_route_table *table;
};

static struct edge_route__node *
node_new(void)
{
    struct edge_route__node *n = calloc(1, sizeof(*n));

    if (n)
        n->any_idx = -1;
    return n;
}

static struct edge_route__node *
node_free(struct edge_route__node *n)
{
    if (!n)
        return NULL;
    for (size_t i = 0; i < n->n_lits; i++)
        node_free(n->lits[i].child);
    for (size_t i = 0; i < n->n_partials; i++)
        node_free(n->partials[i]);
    node_free(n->param);
    node_free(n->greedy);
    for (size_t i = 0; i < n->n_entries; i++)
        free(n->entries[i].tmpl);
    free(n->entries);
    free(n->lits);
    free(n->lit_index);
    free(n->partials);
    free(n->pieces);
    free(n->lit);
    free(n);
    return NULL;
}

static int
lit_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
    if (a_len != b_len)
        return a_len < b_len ? -1 : 1;
    return a_len ? memcmp(a, b, a_len) : 0;
}

static size_t
pieces_lit_total(const struct edge_route__piece *p, unsigned n)
{
    size_t total = 0;

    for (unsigned i = 0; i < n; i++)
        total += p[i].lit_len;
    return total;
}

/* Precedence among partial segments, a total order (0 only for the same shape): more literal
 * bytes win ("{id}.json" beats "{id}.js" beats "{id}s"); then fewer parameters; then the shapes
 * are compared piece by piece (a literal piece sorts before a parameter, shorter literals
 * first, then bytes) -- arbitrary but deterministic. */
static int
route_partial_cmp(const struct edge_route__piece *a, unsigned na, const struct edge_route__piece *b,
                  unsigned nb)
{
    size_t ta = pieces_lit_total(a, na), tb = pieces_lit_total(b, nb);
    unsigned pa = 0, pb = 0;

    if (ta != tb)
        return ta > tb ? -1 : 1;
    for (unsigned i = 0; i < na; i++)
        pa += a[i].is_param;
    for (unsigned i = 0; i < nb; i++)
        pb += b[i].is_param;
    if (pa != pb)
        return pa < pb ? -1 : 1;
    for (unsigned i = 0; i < na && i < nb; i++) {
        int c;

        if (a[i].is_param != b[i].is_param)
            return a[i].is_param ? 1 : -1;
        c = lit_cmp(a[i].lit, a[i].lit_len, b[i].lit, b[i].lit_len);
        if (c)
            return c;
    }
    if (na != nb)
        return na < nb ? -1 : 1;
    return 0;
}

/* Inserts child at index idx of *arr, growing it. 0 or -ENOMEM. */
static int
array_insert(struct edge_route__node ***arr, size_t *n, size_t *cap, size_t idx,
             struct edge_route__node *child)
{
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        struct edge_route__node **na = realloc(*arr, ncap * sizeof(*na));

        if (!na)
            return -ENOMEM;
        *arr = na;
        *cap = ncap;
    }
    memmove(*arr + idx + 1, *arr + idx, (*n - idx) * sizeof(**arr));
    (*arr)[idx] = child;
    (*n)++;
    return 0;
}

/* Binary search: returns the index of the literal child equal to (s, len) or, with *found
 * false, the index where it would go. */
size_t
edge_route__lit_search(const struct edge_route__node *n, const char *s, size_t len, bool *found)
{
    size_t lo = 0, hi = n->n_lits;
    uint64_t prefix = edge_route__lit_prefix(s, len);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct edge_route__lit *l = &n->lits[mid];
        int c;

        if (l->len != len)
            c = l->len < len ? -1 : 1;
        else if (l->prefix != prefix)
            c = l->prefix < prefix ? -1 : 1;
        else
            c = len > 8 ? memcmp(l->child->lit + 8, s + 8, len - 8) : 0;
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static struct edge_route__node *
child_literal(struct edge_route__node *n, const struct edge_route__seg *seg)
{
    bool found;
    size_t idx = edge_route__lit_search(n, seg->lit, seg->lit_len, &found);
    struct edge_route__node *c;

    if (found)
        return n->lits[idx].child;
    c = node_new();
    if (!c)
        return NULL;
    c->lit = malloc(seg->lit_len + 1);
    if (!c->lit)
        return node_free(c);
    memcpy(c->lit, seg->lit, seg->lit_len);
    c->lit[seg->lit_len] = '\0';
    c->lit_len = seg->lit_len;
    if (n->n_lits == n->cap_lits) {
        size_t ncap = n->cap_lits ? n->cap_lits * 2 : 4;
        struct edge_route__lit *nl = realloc(n->lits, ncap * sizeof(*nl));

        if (!nl)
            return node_free(c);
        n->lits = nl;
        n->cap_lits = ncap;
    }
    memmove(n->lits + idx + 1, n->lits + idx, (n->n_lits - idx) * sizeof(*n->lits));
    n->lits[idx].len = c->lit_len;
    n->lits[idx].prefix = edge_route__lit_prefix(c->lit, c->lit_len);
    n->lits[idx].child = c;
    n->n_lits++;
    return c;
}

static struct edge_route__node *
child_partial(struct edge_route__node *n, const struct edge_route__tmpl *t,
              const struct edge_route__seg *seg)
{
    const struct edge_route__piece *p = &t->pieces[seg->first_piece];
    size_t lo = 0, hi = n->n_partials, total, off = 0;
    struct edge_route__node *c;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct edge_route__node *m = n->partials[mid];
        int r = route_partial_cmp(m->pieces, m->n_pieces, p, seg->n_pieces);

        if (r == 0)
            return n->partials[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    c = node_new();
    if (!c)
        return NULL;
    total = pieces_lit_total(p, seg->n_pieces);
    c->lit = malloc(total + 1);
    c->pieces = calloc(seg->n_pieces, sizeof(*c->pieces));
    if (!c->lit || !c->pieces)
        return node_free(c);
    for (unsigned i = 0; i < seg->n_pieces; i++) {
        c->pieces[i].is_param = p[i].is_param;
        c->n_params += p[i].is_param;
        if (!p[i].is_param) {
            memcpy(c->lit + off, p[i].lit, p[i].lit_len);
            c->pieces[i].lit = c->lit + off;
            c->pieces[i].lit_len = p[i].lit_len;
            off += p[i].lit_len;
        }
    }
    c->lit[total] = '\0';
    c->lit_len = total;
    c->n_pieces = seg->n_pieces;
    if (array_insert(&n->partials, &n->n_partials, &n->cap_partials, lo, c) < 0)
        return node_free(c);
    return c;
}

static struct edge_route__node *
child_single(struct edge_route__node **slot)
{
    if (!*slot)
        *slot = node_new();
    return *slot;
}

struct edge_route_builder *
edge_route_builder_new(void)
{
    struct edge_route_builder *b = calloc(1, sizeof(*b));

    if (!b)
        return NULL;
    b->table = calloc(1, sizeof(*b->table));
    if (!b->table || !(b->table->root = node_new())) {
        free(b->table);
        free(b);
        return NULL;
    }
    return b;
}

void
edge_route_builder_free(struct edge_route_builder *b)
{
    if (!b)
        return;
    edge_route_table_free(b->table);
    free(b);
}

void
edge_route_table_free(struct edge_route_table *t)
{
    if (!t)
        return;
    node_free(t->root);
    free(t);
}

static int
add_entry(struct edge_route__node *n, const char *method, const char *path,
          const struct edge_route__tmpl *t, void *data, char *err, size_t err_len)
{
    size_t mlen = strlen(method), idx;
    struct edge_route__entry *e;

    for (idx = 0; idx < n->n_entries; idx++) {
        int c = strcmp(n->entries[idx].method, method);

        if (c == 0) {
            if (err && err_len > 0)
                (void)snprintf(err, err_len, "route: %s %s duplicates %s %s", method, path, method,
                               n->entries[idx].tmpl);
            return -EEXIST;
        }
        if (c > 0)
            break;
    }
    if (n->n_entries == n->cap_entries) {
        size_t ncap = n->cap_entries ? n->cap_entries * 2 : 2;
        struct edge_route__entry *ne = realloc(n->entries, ncap * sizeof(*ne));

        if (!ne)
            return -ENOMEM;
        n->entries = ne;
        n->cap_entries = ncap;
    }
    e = &n->entries[idx];
    memmove(e + 1, e, (n->n_entries - idx) * sizeof(*e));
    memset(e, 0, sizeof(*e));
    e->tmpl = strdup(path);
    if (!e->tmpl) {
        memmove(e, e + 1, (n->n_entries - idx) * sizeof(*e));
        return -ENOMEM;
    }
    memcpy(e->method, method, mlen + 1);
    e->method_len = mlen;
    e->data = data;
    e->n_names = t->n_params;
    memcpy(e->name_off, t->name_off, sizeof(e->name_off));
    memcpy(e->name_len, t->name_len, sizeof(e->name_len));
    n->n_entries++;
    n->any_idx = -1;
    for (size_t i = 0; i < n->n_entries; i++) {
        if (strcmp(n->entries[i].method, "ANY") == 0)
            n->any_idx = (int)i;
    }
    return 0;
}

int
edge_route_builder_add(struct edge_route_builder *b, const char *method, const char *path,
                       void *data, char *err, size_t err_len)
{
    struct edge_route__tmpl *t;
    struct edge_route__node *n;
    int r;

    if (err && err_len > 0)
        err[0] = '\0';
    if (!b || !method) {
        if (err && err_len > 0)
            (void)snprintf(err, err_len, "route: missing builder or method");
        return -EINVAL;
    }
    if (edge_route_method_validate(method) < 0) {
        if (err && err_len > 0)
            (void)snprintf(err, err_len, "method: must be 1 to %d upper-case letters A-Z or ANY",
                           EDGE_ROUTE__MAX_METHOD_BYTES);
        return -EINVAL;
    }
    /* Too big for the stack of a worker thread; this runs at build time, not per request. */
    t = malloc(sizeof(*t));
    if (!t)
        return -ENOMEM;
    r = edge_route__parse(path, t, err, err_len);
    if (r < 0)
        goto out;
    n = b->table->root;
    for (unsigned i = 0; i < t->n_segs && n; i++) {
        const struct edge_route__seg *seg = &t->segs[i];

        switch (seg->kind) {
        case EDGE_ROUTE__LITERAL:
            n = child_literal(n, seg);
            break;
        case EDGE_ROUTE__PARTIAL:
            n = child_partial(n, t, seg);
            break;
        case EDGE_ROUTE__PARAM:
            n = child_single(&n->param);
            break;
        case EDGE_ROUTE__GREEDY:
            n = child_single(&n->greedy);
            break;
        }
    }
    r = n ? add_entry(n, method, path, t, data, err, err_len) : -ENOMEM;
out:
    free(t);
    return r;
}

/* Fills the Allow value: the configured methods, sorted, whole names only (a path with more
 * methods than fit in the field lists those that fit). HEAD is listed only if configured. */
/* Builds the hash index of a node with many literal children. Without memory the node keeps
 * the binary search: slower, same answers. */
static void
index_literals(struct edge_route__node *n)
{
    size_t size = 16;

    if (n->n_lits < EDGE_ROUTE__LIT_INDEX_MIN || n->n_lits >= UINT32_MAX / 4)
        return;
    while (size < n->n_lits * 2)
        size *= 2;
    n->lit_index = malloc(size * sizeof(*n->lit_index));
    if (!n->lit_index)
        return;
    memset(n->lit_index, 0xff, size * sizeof(*n->lit_index));
    n->lit_index_mask = size - 1;
    for (size_t i = 0; i < n->n_lits; i++) {
        size_t h = edge_route__lit_hash(n->lits[i].child->lit, n->lits[i].len);

        while (n->lit_index[h & n->lit_index_mask] != UINT32_MAX)
            h++;
        n->lit_index[h & n->lit_index_mask] = (uint32_t)i;
    }
}

static void
finish_node(struct edge_route__node *n)
{
    size_t used = 0;

    index_literals(n);
    n->allow[0] = '\0';
    for (size_t i = 0; i < n->n_entries; i++) {
        size_t need = n->entries[i].method_len + (used ? 2 : 0);

        if (used + need + 1 > sizeof(n->allow))
            break;
        used += (size_t)snprintf(n->allow + used, sizeof(n->allow) - used, "%s%s", used ? ", " : "",
                                 n->entries[i].method);
    }
    for (size_t i = 0; i < n->n_lits; i++)
        finish_node(n->lits[i].child);
    for (size_t i = 0; i < n->n_partials; i++)
        finish_node(n->partials[i]);
    if (n->param)
        finish_node(n->param);
    if (n->greedy)
        finish_node(n->greedy);
}

struct edge_route_table *
edge_route_builder_finish(struct edge_route_builder *b)
{
    struct edge_route_table *t;

    if (!b)
        return NULL;
    t = b->table;
    free(b);
    finish_node(t->root);
    return t;
}
