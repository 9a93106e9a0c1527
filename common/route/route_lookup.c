/* Route lookup: the request path is decoded into the caller's scratch buffer, then the trie
 * built by route_table.c is walked depth first in precedence order (see there). Nothing here
 * allocates, locks or writes to the table. */
#include "route.h"
#include "route_internal.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct lookup_ctx {
    const char *buf; /* the decoded path after the leading '/', segments joined by '/' */
    size_t buf_len;
    size_t n_segs; /* all segments of the request, even beyond those recorded below */
    size_t seg_off[EDGE_ROUTE_MAX_SEGMENTS];
    size_t seg_len[EDGE_ROUTE_MAX_SEGMENTS];
    const char *cap[EDGE_ROUTE_MAX_PARAMS];
    size_t cap_len[EDGE_ROUTE_MAX_PARAMS];
};

/* Matches a partial segment: the leading literal is anchored at the start, the trailing
 * literal at the end, and in between each parameter takes the shortest non-empty run that is
 * followed by the next literal, left to right, without backtracking inside the segment. So
 * "{a}.{b}" on "x.y.z" gives a="x", b="y.z", and "{name}.json" on "a.json.json" gives
 * name="a.json". Every parameter must be non-empty. */
static bool
match_partial(const struct edge_route__node *n, const char *s, size_t len, struct lookup_ctx *ctx,
              unsigned ncap)
{
    const struct edge_route__piece *p = n->pieces;
    unsigned first = 0, last = n->n_pieces - 1;
    size_t pos = 0, end = len;

    if (!p[first].is_param) {
        if (len < p[first].lit_len || memcmp(s, p[first].lit, p[first].lit_len) != 0)
            return false;
        pos = p[first].lit_len;
        first++;
    }
    if (!p[last].is_param) {
        if (end - pos < p[last].lit_len ||
            memcmp(s + end - p[last].lit_len, p[last].lit, p[last].lit_len) != 0)
            return false;
        end -= p[last].lit_len;
        last--;
    }
    /* Now pieces first..last are: param (literal param)*. */
    for (unsigned k = first; k <= last; k += 2) {
        const char *hit;

        if (pos >= end)
            return false;
        if (k == last) {
            ctx->cap[ncap] = s + pos;
            ctx->cap_len[ncap++] = end - pos;
            break;
        }
        hit = memmem(s + pos + 1, end - pos - 1, p[k + 1].lit, p[k + 1].lit_len);
        if (!hit)
            return false;
        ctx->cap[ncap] = s + pos;
        ctx->cap_len[ncap++] = (size_t)(hit - (s + pos));
        pos = (size_t)(hit - s) + p[k + 1].lit_len;
    }
    return true;
}

static const struct edge_route__node *
walk(const struct edge_route__node *n, size_t i, unsigned ncap, struct lookup_ctx *ctx)
{
    const struct edge_route__node *r;
    const char *s;
    size_t len;

    if (i == ctx->n_segs)
        return n->n_entries ? n : NULL;
    if (i >= EDGE_ROUTE_MAX_SEGMENTS)
        return NULL; /* deeper than any template */
    s = ctx->buf + ctx->seg_off[i];
    len = ctx->seg_len[i];
    if (n->lit_index) {
        for (size_t h = edge_route__lit_hash(s, len);; h++) {
            uint32_t idx = n->lit_index[h & n->lit_index_mask];
            const struct edge_route__lit *l;

            if (idx == UINT32_MAX)
                break;
            l = &n->lits[idx];
            if (l->len == len && memcmp(l->child->lit, s, len) == 0) {
                if ((r = walk(l->child, i + 1, ncap, ctx)))
                    return r;
                break;
            }
        }
    } else if (n->n_lits) {
        bool found;
        size_t idx = edge_route__lit_search(n, s, len, &found);

        if (found && (r = walk(n->lits[idx].child, i + 1, ncap, ctx)))
            return r;
    }
    for (size_t k = 0; k < n->n_partials; k++) {
        const struct edge_route__node *c = n->partials[k];

        if (match_partial(c, s, len, ctx, ncap) && (r = walk(c, i + 1, ncap + c->n_params, ctx)))
            return r;
    }
    if (n->param && len > 0) {
        ctx->cap[ncap] = s;
        ctx->cap_len[ncap] = len;
        if ((r = walk(n->param, i + 1, ncap + 1, ctx)))
            return r;
    }
    if (n->greedy && n->greedy->n_entries && ctx->buf_len > ctx->seg_off[i]) {
        ctx->cap[ncap] = s;
        ctx->cap_len[ncap] = ctx->buf_len - ctx->seg_off[i];
        return n->greedy;
    }
    return NULL;
}

static const struct edge_route__entry *
pick_method(const struct edge_route__node *n, const char *method, size_t method_len)
{
    const struct edge_route__entry *get = NULL;

    for (size_t i = 0; i < n->n_entries; i++) {
        const struct edge_route__entry *e = &n->entries[i];

        if (e->method_len == method_len && memcmp(e->method, method, method_len) == 0)
            return e;
        if (e->method_len == 3 && memcmp(e->method, "GET", 3) == 0)
            get = e;
    }
    /* HEAD is GET without a body: a GET route serves it unless HEAD has a route of its own. */
    if (get && method_len == 4 && memcmp(method, "HEAD", 4) == 0)
        return get;
    return n->any_idx >= 0 ? &n->entries[n->any_idx] : NULL;
}

static void
result(struct edge_route_match *ret, int status)
{
    ret->status = status;
    ret->route = NULL;
    ret->path_template = NULL;
    ret->n_params = 0;
    ret->allow[0] = '\0';
}

/* Splits and decodes path into scratch and ctx. Returns 0 or the HTTP status to answer. */
static int
decode_path(const char *path, size_t path_len, char *scratch, size_t scratch_len,
            struct lookup_ctx *ctx)
{
    /* The decoded path is never longer than the raw one, so with enough scratch (the usual
     * case) the per-byte bound check can go; and pure ASCII needs no UTF-8 check. */
    bool bounded = path_len == 0 || scratch_len < path_len - 1;
    unsigned char high = 0;
    size_t o = 0;

    if (path_len == 0 || path[0] != '/')
        return 400;
    ctx->n_segs = 1;
    ctx->seg_off[0] = 0;
    for (size_t j = 1; j < path_len; j++) {
        unsigned char c = (unsigned char)path[j];

        if (c == '/') {
            if (ctx->n_segs <= EDGE_ROUTE_MAX_SEGMENTS)
                ctx->seg_len[ctx->n_segs - 1] = o - ctx->seg_off[ctx->n_segs - 1];
            if (ctx->n_segs < EDGE_ROUTE_MAX_SEGMENTS)
                ctx->seg_off[ctx->n_segs] = o + 1;
            ctx->n_segs++;
        } else if (c == '%') {
            int hi = j + 2 < path_len ? edge_route__hexval((unsigned char)path[j + 1]) : -1;
            int lo = hi < 0 ? -1 : edge_route__hexval((unsigned char)path[j + 2]);

            if (hi < 0 || lo < 0)
                return 400;
            c = (unsigned char)(hi << 4 | lo);
            if (c == 0)
                return 400;
            j += 2;
        } else if (c == 0) {
            return 400;
        }
        if (bounded && o == scratch_len)
            return 414;
        high |= c;
        scratch[o++] = (char)c;
    }
    if (ctx->n_segs <= EDGE_ROUTE_MAX_SEGMENTS)
        ctx->seg_len[ctx->n_segs - 1] = o - ctx->seg_off[ctx->n_segs - 1];
    if ((high & 0x80) && edge_route__utf8_check((const unsigned char *)scratch, o) != o)
        return 400;
    ctx->buf = o ? scratch : ""; /* scratch may be NULL when nothing was decoded */
    ctx->buf_len = o;
    return 0;
}

int
edge_route_lookup(const struct edge_route_table *t, const char *method, size_t method_len,
                  const char *path, size_t path_len, char *scratch, size_t scratch_len,
                  struct edge_route_match *ret)
{
    struct lookup_ctx ctx;
    const struct edge_route__node *n;
    const struct edge_route__entry *e;
    int status;

    if (!t || !ret || (!method && method_len) || (!path && path_len) || (!scratch && scratch_len))
        return -EINVAL;
    status = decode_path(path, path_len, scratch, scratch_len, &ctx);
    if (status) {
        result(ret, status);
        return 0;
    }
    n = walk(t->root, 0, 0, &ctx);
    if (!n) {
        result(ret, 404);
        return 0;
    }
    e = pick_method(n, method, method_len);
    if (!e) {
        result(ret, 405);
        memcpy(ret->allow, n->allow, sizeof(ret->allow));
        return 0;
    }
    result(ret, 200);
    ret->route = e->data;
    ret->path_template = e->tmpl;
    ret->n_params = e->n_names;
    for (unsigned k = 0; k < e->n_names; k++) {
        ret->params[k].name = e->tmpl + e->name_off[k];
        ret->params[k].name_len = e->name_len[k];
        ret->params[k].value = ctx.cap[k];
        ret->params[k].value_len = ctx.cap_len[k];
    }
    return 0;
}
