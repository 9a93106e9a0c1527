/* Path template syntax: parsing and validation (see route.h for the rules). */
#include "route.h"
#include "route_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int __attribute__((format(printf, 3, 4)))
fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err && err_len > 0) {
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

int
edge_route__hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t
edge_route__utf8_check(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            if (c == 0xE0)
                lo = 0xA0; /* overlong */
            else if (c == 0xED)
                hi = 0x9F; /* UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            if (c == 0xF0)
                lo = 0x90; /* overlong */
            else if (c == 0xF4)
                hi = 0x8F; /* above U+10FFFF */
        } else {
            return i; /* continuation byte, C0/C1 (overlong) or F5..FF */
        }
        if (len - i < n || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k < n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return i;
        }
        i += n;
    }
    return len;
}

static bool
is_name_start(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool
is_name_char(unsigned char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* State of the segment being parsed. */
struct seg_state {
    size_t start;       /* offset of the segment's first byte in the template */
    unsigned n_params;  /* parameters seen in this segment */
    bool greedy;        /* the segment holds a greedy parameter */
    bool last_is_param; /* the previous piece was a parameter (to reject "{a}{b}") */
    unsigned first_piece;
    size_t lit_start;   /* offset in buf of the literal piece being accumulated */
    size_t lit_raw_off; /* offset in the template where that literal began */
};

/* Closes the literal piece being accumulated, if any; validates its UTF-8. */
static int
end_literal(struct edge_route__tmpl *t, struct seg_state *s, char *err, size_t err_len)
{
    size_t len = t->buf_used - s->lit_start;
    size_t bad;

    if (len == 0)
        return 0;
    bad = edge_route__utf8_check((const unsigned char *)t->buf + s->lit_start, len);
    if (bad != len)
        return fail(err, err_len, "path: invalid UTF-8 in the literal at offset %zu",
                    s->lit_raw_off);
    /* Bounded by construction (see EDGE_ROUTE__MAX_PIECES); checked anyway, cheaply. */
    if (t->n_pieces >= EDGE_ROUTE__MAX_PIECES + 1)
        return fail(err, err_len, "path: too many pieces in partial segments");
    t->pieces[t->n_pieces].is_param = false;
    t->pieces[t->n_pieces].lit = t->buf + s->lit_start;
    t->pieces[t->n_pieces].lit_len = len;
    t->n_pieces++;
    s->last_is_param = false;
    return 0;
}

/* Turns the pieces gathered for the segment into a LITERAL, PARAM, GREEDY or PARTIAL one. */
static int
end_segment(struct edge_route__tmpl *t, struct seg_state *s, size_t end, bool last, char *err,
            size_t err_len)
{
    struct edge_route__seg *seg;
    unsigned n;
    int r;

    if (end == s->start && !last)
        return fail(err, err_len, "path: empty segment at offset %zu", s->start);
    if (s->greedy && !last)
        return fail(err, err_len, "path: a greedy parameter must be the last segment (offset %zu)",
                    s->start);
    if (t->n_segs >= EDGE_ROUTE_MAX_SEGMENTS)
        return fail(err, err_len, "path: more than %d segments", EDGE_ROUTE_MAX_SEGMENTS);
    r = end_literal(t, s, err, err_len);
    if (r < 0)
        return r;
    seg = &t->segs[t->n_segs++];
    memset(seg, 0, sizeof(*seg));
    n = t->n_pieces - s->first_piece;
    seg->n_params = s->n_params;
    if (s->n_params == 0) {
        seg->kind = EDGE_ROUTE__LITERAL;
        if (n == 1) {
            seg->lit = t->pieces[s->first_piece].lit;
            seg->lit_len = t->pieces[s->first_piece].lit_len;
        } else {
            seg->lit = t->buf + t->buf_used; /* empty: the trailing slash or "/" */
        }
        t->n_pieces = s->first_piece; /* literal segments keep no pieces */
    } else if (n == 1) {
        seg->kind = s->greedy ? EDGE_ROUTE__GREEDY : EDGE_ROUTE__PARAM;
        t->n_pieces = s->first_piece;
    } else {
        seg->kind = EDGE_ROUTE__PARTIAL;
        seg->first_piece = s->first_piece;
        seg->n_pieces = n;
    }
    return 0;
}

/* Parses "{name}" or "{name+}" starting at path[*i] == '{'; advances *i past the '}'. */
static int
parse_param(const char *path, size_t *i, struct edge_route__tmpl *t, struct seg_state *s, char *err,
            size_t err_len)
{
    size_t open = *i, j = open + 1, name_end;
    bool greedy = false;
    int r;

    for (;; j++) {
        unsigned char c = (unsigned char)path[j];

        if (c == '}')
            break;
        if (c == '\0' || c == '/')
            return fail(err, err_len, "path: unclosed '{' at offset %zu", open);
        if (c == '{')
            return fail(err, err_len, "path: '{' inside a parameter name at offset %zu", j);
    }
    name_end = j;
    if (name_end > open + 1 && path[name_end - 1] == '+') {
        greedy = true;
        name_end--;
    }
    if (name_end == open + 1)
        return fail(err, err_len, "path: empty parameter name at offset %zu", open);
    if (!is_name_start((unsigned char)path[open + 1]))
        return fail(err, err_len,
                    "path: parameter name must start with a letter or '_' "
                    "at offset %zu",
                    open + 1);
    for (size_t k = open + 2; k < name_end; k++) {
        if (!is_name_char((unsigned char)path[k]))
            return fail(err, err_len, "path: invalid character in parameter name at offset %zu", k);
    }
    for (unsigned p = 0; p < t->n_params; p++) {
        if (t->name_len[p] == name_end - open - 1 &&
            memcmp(path + t->name_off[p], path + open + 1, name_end - open - 1) == 0)
            return fail(err, err_len, "path: duplicate parameter '%.*s' at offset %zu",
                        (int)(name_end - open - 1), path + open + 1, open);
    }
    if (t->n_params >= EDGE_ROUTE_MAX_PARAMS)
        return fail(err, err_len, "path: more than %d parameters", EDGE_ROUTE_MAX_PARAMS);
    r = end_literal(t, s, err, err_len); /* the literal before this parameter, if any */
    if (r < 0)
        return r;
    if (s->last_is_param)
        return fail(err, err_len,
                    "path: adjacent parameters at offset %zu need a literal between them", open);
    if (t->n_pieces >= EDGE_ROUTE__MAX_PIECES + 1)
        return fail(err, err_len, "path: too many pieces in partial segments");
    t->pieces[t->n_pieces].is_param = true;
    t->pieces[t->n_pieces].lit = NULL;
    t->pieces[t->n_pieces].lit_len = 0;
    t->n_pieces++;
    t->name_off[t->n_params] = (uint16_t)(open + 1);
    t->name_len[t->n_params] = (uint16_t)(name_end - open - 1);
    t->n_params++;
    s->n_params++;
    s->last_is_param = true;
    if (greedy)
        s->greedy = true;
    /* A greedy parameter stands alone in its segment: "x{p+}" would be ambiguous. */
    if (greedy && (open != s->start || (path[j + 1] != '/' && path[j + 1] != '\0')))
        return fail(err, err_len, "path: a greedy parameter must be a whole segment (offset %zu)",
                    open);
    *i = j + 1;
    return 0;
}

int
edge_route__parse(const char *path, struct edge_route__tmpl *t, char *err, size_t err_len)
{
    struct seg_state s;
    size_t len, i;
    int r;

    if (err && err_len > 0)
        err[0] = '\0';
    if (!path)
        return fail(err, err_len, "path: missing");
    len = strnlen(path, EDGE_ROUTE__MAX_TEMPLATE_BYTES + 1);
    if (len == 0)
        return fail(err, err_len, "path: empty");
    if (len > EDGE_ROUTE__MAX_TEMPLATE_BYTES)
        return fail(err, err_len, "path: longer than %d bytes", EDGE_ROUTE__MAX_TEMPLATE_BYTES);
    if (path[0] != '/')
        return fail(err, err_len, "path: must start with '/'");

    t->n_segs = 0;
    t->n_pieces = 0;
    t->n_params = 0;
    t->buf_used = 0;
    memset(&s, 0, sizeof(s));
    s.start = 1;
    s.lit_raw_off = 1;
    for (i = 1;;) {
        unsigned char c = (unsigned char)path[i];

        if (c == '\0' || c == '/') {
            r = end_segment(t, &s, i, c == '\0', err, err_len);
            if (r < 0)
                return r;
            if (c == '\0')
                return 0;
            i++;
            memset(&s, 0, sizeof(s));
            s.start = i;
            s.first_piece = t->n_pieces;
            s.lit_start = t->buf_used;
            s.lit_raw_off = i;
            continue;
        }
        if (c == '{') {
            r = parse_param(path, &i, t, &s, err, err_len);
            if (r < 0)
                return r;
            s.lit_start = t->buf_used;
            s.lit_raw_off = i;
            continue;
        }
        if (c == '}')
            return fail(err, err_len, "path: unmatched '}' at offset %zu", i);
        if (c == ' ')
            return fail(err, err_len, "path: space at offset %zu", i);
        if (c == '?' || c == '#')
            return fail(err, err_len, "path: '%c' at offset %zu (not part of a path)", c, i);
        if (c < 0x20 || c == 0x7F)
            return fail(err, err_len, "path: control character 0x%02x at offset %zu", c, i);
        if (c == '%') {
            int hi = edge_route__hexval((unsigned char)path[i + 1]);
            int lo = hi < 0 ? -1 : edge_route__hexval((unsigned char)path[i + 2]);

            if (hi < 0 || lo < 0)
                return fail(err, err_len, "path: invalid percent-encoding at offset %zu", i);
            if (hi == 0 && lo == 0)
                return fail(err, err_len, "path: percent-encoded NUL at offset %zu", i);
            c = (unsigned char)(hi << 4 | lo);
            i += 3;
        } else {
            i++;
        }
        t->buf[t->buf_used++] = (char)c;
    }
}

int
edge_route_template_validate(const char *path, char *err, size_t err_len)
{
    struct edge_route__tmpl t;

    return edge_route__parse(path, &t, err, err_len);
}

int
edge_route_method_validate(const char *method)
{
    size_t n = 0;

    if (!method)
        return -EINVAL;
    for (; method[n]; n++) {
        if (method[n] < 'A' || method[n] > 'Z' || n >= EDGE_ROUTE__MAX_METHOD_BYTES)
            return -EINVAL;
    }
    return n > 0 ? 0 : -EINVAL;
}
