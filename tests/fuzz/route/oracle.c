/* Brute-force reference matcher (see oracle.h). Written for obviousness, not speed. */
#include "oracle.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { K_LIT = 0, K_PARTIAL = 1, K_PARAM = 2, K_GREEDY = 3 };

struct opiece {
    bool is_param;
    const char *lit; /* in the route's dec */
    size_t lit_len;
};

struct oseg {
    int kind;
    const char *lit; /* K_LIT: decoded, in the route's dec */
    size_t lit_len;
    unsigned n_pieces;
    struct opiece *pieces;
};

struct oroute {
    char method[40];
    char *tmpl;
    void *id;
    unsigned n_segs;
    struct oseg segs[EDGE_ROUTE_MAX_SEGMENTS];
    unsigned n_names;
    const char *names[EDGE_ROUTE_MAX_PARAMS];
    size_t name_lens[EDGE_ROUTE_MAX_PARAMS];
    char dec[2048]; /* decoded literals */
    size_t dec_used;
};

struct oracle {
    struct oroute **routes;
    size_t n_routes;
    char *buf; /* decoded request */
    size_t buf_cap;
};

static int
hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) with %xx into out; false on bad escapes or %00. */
static bool
pct_decode(const char *s, size_t n, char *out, size_t *ret_len)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return false;
            if (hexv(s[i + 1]) < 0 || hexv(s[i + 2]) < 0)
                return false;
            out[o] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            if (out[o] == 0)
                return false;
            o++;
            i += 2;
        } else {
            if (s[i] == 0)
                return false;
            out[o++] = s[i];
        }
    }
    *ret_len = o;
    return true;
}

/* Decodes code points and checks each is the shortest form, not a surrogate, <= U+10FFFF. */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t len;

        if (s[i] < 0x80) {
            i++;
            continue;
        } else if ((s[i] & 0xE0) == 0xC0) {
            len = 2;
            cp = s[i] & 0x1F;
        } else if ((s[i] & 0xF0) == 0xE0) {
            len = 3;
            cp = s[i] & 0x0F;
        } else if ((s[i] & 0xF8) == 0xF0) {
            len = 4;
            cp = s[i] & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

struct oracle *
oracle_new(void)
{
    return calloc(1, sizeof(struct oracle));
}

void
oracle_free(struct oracle *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n_routes; i++) {
        for (unsigned s = 0; s < o->routes[i]->n_segs; s++)
            free(o->routes[i]->segs[s].pieces);
        free(o->routes[i]->tmpl);
        free(o->routes[i]);
    }
    free(o->routes);
    free(o->buf);
    free(o);
}

/* The template is known to be valid: split on '/', classify each segment. */
void
oracle_add(struct oracle *o, const char *method, const char *tmpl, void *id)
{
    struct oroute *r = calloc(1, sizeof(*r));
    const char *p;

    if (!r)
        abort();
    strncpy(r->method, method, sizeof(r->method) - 1);
    r->tmpl = strdup(tmpl);
    r->id = id;
    p = r->tmpl + 1;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        struct oseg *s = &r->segs[r->n_segs++];

        if (!memchr(p, '{', n)) {
            s->kind = K_LIT;
            s->lit = r->dec + r->dec_used;
            if (!pct_decode(p, n, r->dec + r->dec_used, &s->lit_len))
                abort();
            r->dec_used += s->lit_len;
        } else if (p[0] == '{' && p[n - 1] == '}' && !memchr(p + 1, '{', n - 1)) {
            s->kind = p[n - 2] == '+' ? K_GREEDY : K_PARAM;
            r->names[r->n_names] = p + 1;
            r->name_lens[r->n_names++] = n - 2 - (s->kind == K_GREEDY);
        } else {
            size_t i = 0;

            s->kind = K_PARTIAL;
            s->pieces = calloc(2 * EDGE_ROUTE_MAX_PARAMS + 1, sizeof(*s->pieces));
            while (i < n) {
                struct opiece *pc = &s->pieces[s->n_pieces++];

                if (p[i] == '{') {
                    const char *close = memchr(p + i, '}', n - i);

                    pc->is_param = true;
                    r->names[r->n_names] = p + i + 1;
                    r->name_lens[r->n_names++] = (size_t)(close - (p + i + 1));
                    i = (size_t)(close - p) + 1;
                } else {
                    const char *open = memchr(p + i, '{', n - i);
                    size_t run = open ? (size_t)(open - (p + i)) : n - i;

                    pc->lit = r->dec + r->dec_used;
                    if (!pct_decode(p + i, run, r->dec + r->dec_used, &pc->lit_len))
                        abort();
                    r->dec_used += pc->lit_len;
                    i += run;
                }
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    o->routes = realloc(o->routes, (o->n_routes + 1) * sizeof(*o->routes));
    o->routes[o->n_routes++] = r;
}

static size_t
lit_total(const struct oseg *s)
{
    size_t t = 0;

    for (unsigned i = 0; i < s->n_pieces; i++)
        t += s->pieces[i].lit_len;
    return t;
}

static unsigned
params_in(const struct oseg *s)
{
    unsigned n = 0;

    for (unsigned i = 0; i < s->n_pieces; i++)
        n += s->pieces[i].is_param;
    return n;
}

/* The documented order among partial segments (route.h). */
static int
partial_cmp(const struct oseg *a, const struct oseg *b)
{
    if (lit_total(a) != lit_total(b))
        return lit_total(a) > lit_total(b) ? -1 : 1;
    if (params_in(a) != params_in(b))
        return params_in(a) < params_in(b) ? -1 : 1;
    for (unsigned i = 0; i < a->n_pieces && i < b->n_pieces; i++) {
        const struct opiece *x = &a->pieces[i], *y = &b->pieces[i];

        if (x->is_param != y->is_param)
            return x->is_param ? 1 : -1;
        if (x->lit_len != y->lit_len)
            return x->lit_len < y->lit_len ? -1 : 1;
        if (x->lit_len && memcmp(x->lit, y->lit, x->lit_len))
            return memcmp(x->lit, y->lit, x->lit_len) < 0 ? -1 : 1;
    }
    if (a->n_pieces != b->n_pieces)
        return a->n_pieces < b->n_pieces ? -1 : 1;
    return 0;
}

static int
rank_cmp(const struct oroute *a, const struct oroute *b)
{
    for (unsigned i = 0; i < a->n_segs && i < b->n_segs; i++) {
        const struct oseg *x = &a->segs[i], *y = &b->segs[i];

        if (x->kind != y->kind)
            return x->kind < y->kind ? -1 : 1;
        if (x->kind == K_PARTIAL && partial_cmp(x, y))
            return partial_cmp(x, y);
        if (x->kind == K_GREEDY)
            return 0;
    }
    return 0; /* both matched the same segments: the same shape */
}

struct capture {
    const char *p[EDGE_ROUTE_MAX_PARAMS];
    size_t n[EDGE_ROUTE_MAX_PARAMS];
    unsigned count;
};

/* Partial segment: prefix anchored, suffix anchored, shortest runs left to right. */
static bool
match_partial(const struct oseg *s, const char *v, size_t n, struct capture *c)
{
    unsigned first = 0, last = s->n_pieces - 1;
    size_t pos = 0, end = n;

    if (!s->pieces[0].is_param) {
        if (n < s->pieces[0].lit_len || memcmp(v, s->pieces[0].lit, s->pieces[0].lit_len))
            return false;
        pos = s->pieces[0].lit_len;
        first = 1;
    }
    if (!s->pieces[last].is_param) {
        size_t l = s->pieces[last].lit_len;

        if (end - pos < l || memcmp(v + end - l, s->pieces[last].lit, l))
            return false;
        end -= l;
        last--;
    }
    for (unsigned k = first; k <= last; k += 2) {
        size_t q;

        if (pos >= end)
            return false;
        if (k == last) {
            c->p[c->count] = v + pos;
            c->n[c->count++] = end - pos;
            return true;
        }
        /* The first place after at least one byte where the next literal fits before end. */
        for (q = pos + 1; q + s->pieces[k + 1].lit_len <= end; q++) {
            if (memcmp(v + q, s->pieces[k + 1].lit, s->pieces[k + 1].lit_len) == 0)
                break;
        }
        if (q + s->pieces[k + 1].lit_len > end)
            return false;
        c->p[c->count] = v + pos;
        c->n[c->count++] = q - pos;
        pos = q + s->pieces[k + 1].lit_len;
    }
    return true;
}

static bool
match_route(const struct oroute *r, const char *buf, size_t buf_len, const size_t *off,
            const size_t *len, size_t n_segs, struct capture *c)
{
    c->count = 0;
    for (unsigned i = 0; i < r->n_segs; i++) {
        const struct oseg *s = &r->segs[i];

        if (i >= n_segs)
            return false;
        switch (s->kind) {
        case K_LIT:
            if (len[i] != s->lit_len || memcmp(buf + off[i], s->lit, s->lit_len))
                return false;
            break;
        case K_PARAM:
            if (len[i] == 0)
                return false;
            c->p[c->count] = buf + off[i];
            c->n[c->count++] = len[i];
            break;
        case K_PARTIAL:
            if (!match_partial(s, buf + off[i], len[i], c))
                return false;
            break;
        case K_GREEDY:
            if (buf_len - off[i] == 0)
                return false;
            c->p[c->count] = buf + off[i];
            c->n[c->count++] = buf_len - off[i];
            return true;
        }
    }
    return r->n_segs == n_segs;
}

static int
str_cmp_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
oracle_lookup(struct oracle *o, const char *method, size_t method_len, const char *path,
              size_t path_len, struct edge_route_match *ret)
{
    size_t *off, *len, n_segs = 0, buf_len = 0, start;
    const struct oroute *best = NULL;
    struct capture cap, best_cap;

    memset(ret, 0, sizeof(*ret));
    if (path_len == 0 || path[0] != '/') {
        ret->status = 400;
        return;
    }
    if (o->buf_cap < path_len) {
        o->buf = realloc(o->buf, path_len);
        o->buf_cap = path_len;
    }
    off = calloc(path_len + 1, sizeof(*off));
    len = calloc(path_len + 1, sizeof(*len));
    /* Decode segment by segment, joining them with '/'. */
    start = 1;
    for (size_t i = 1;; i++) {
        if (i == path_len || path[i] == '/') {
            size_t n;

            if (n_segs)
                o->buf[buf_len++] = '/';
            off[n_segs] = buf_len;
            if (!pct_decode(path + start, i - start, o->buf + buf_len, &n) ||
                !utf8_ok((const unsigned char *)o->buf + buf_len, n)) {
                ret->status = 400;
                goto out;
            }
            len[n_segs++] = n;
            buf_len += n;
            start = i + 1;
            if (i == path_len)
                break;
        }
    }
    if (!utf8_ok((const unsigned char *)o->buf, buf_len)) {
        ret->status = 400;
        goto out;
    }
    /* Best path first: the minimal rank among all matching routes. */
    for (size_t i = 0; i < o->n_routes; i++) {
        if (match_route(o->routes[i], o->buf, buf_len, off, len, n_segs, &cap) &&
            (!best || rank_cmp(o->routes[i], best) < 0)) {
            best = o->routes[i];
            best_cap = cap;
        }
    }
    if (!best) {
        ret->status = 404;
        goto out;
    }
    {
        const struct oroute *exact = NULL, *get = NULL, *any = NULL, *pick;
        const char *methods[64];
        size_t n_methods = 0, used = 0;

        for (size_t i = 0; i < o->n_routes; i++) {
            const struct oroute *r = o->routes[i];

            if (rank_cmp(r, best) != 0 || !match_route(r, o->buf, buf_len, off, len, n_segs, &cap))
                continue;
            if (strlen(r->method) == method_len && memcmp(r->method, method, method_len) == 0)
                exact = r;
            if (strcmp(r->method, "GET") == 0)
                get = r;
            if (strcmp(r->method, "ANY") == 0)
                any = r;
            if (n_methods < 64)
                methods[n_methods++] = r->method;
        }
        pick = exact                                                        ? exact
               : (get && method_len == 4 && memcmp(method, "HEAD", 4) == 0) ? get
                                                                            : any;
        if (!pick) {
            ret->status = 405;
            qsort(methods, n_methods, sizeof(methods[0]), str_cmp_ptr);
            for (size_t i = 0; i < n_methods; i++) {
                size_t need = strlen(methods[i]) + (used ? 2 : 0);

                if (used + need + 1 > sizeof(ret->allow))
                    break;
                if (used) {
                    memcpy(ret->allow + used, ", ", 2);
                    used += 2;
                }
                memcpy(ret->allow + used, methods[i], strlen(methods[i]) + 1);
                used += strlen(methods[i]);
            }
            goto out;
        }
        /* Same shape: the captures of any route of the path are the same. */
        (void)match_route(pick, o->buf, buf_len, off, len, n_segs, &best_cap);
        ret->status = 200;
        ret->route = pick->id;
        ret->path_template = pick->tmpl;
        ret->n_params = best_cap.count;
        for (unsigned k = 0; k < best_cap.count; k++) {
            ret->params[k].name = pick->names[k];
            ret->params[k].name_len = pick->name_lens[k];
            ret->params[k].value = best_cap.p[k];
            ret->params[k].value_len = best_cap.n[k];
        }
    }
out:
    free(off);
    free(len);
}
