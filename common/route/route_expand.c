/* Upstream path templates: "/v1/pets/{id}" filled in from a match's parameters. */
#include "route.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

/* Bytes copied as they are: RFC 3986 unreserved characters plus the pchar sub-delimiters that
 * no common server gives a meaning inside a path. ';' (path parameters, "..;/" tricks), '&',
 * '=', '+' (form and query syntax) are encoded, as are '/', '?', '#' and '%'. */
static bool
is_plain(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c && strchr("-._~!$'()*,:@", c) != NULL;
}

struct out {
    char *p;
    size_t len, cap; /* cap excludes the NUL */
    bool full;
};

static void
put(struct out *o, const char *s, size_t n)
{
    if (o->full || n > o->cap - o->len) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* Writes one segment's worth of value, encoded. A value that is exactly "." or ".." is
 * written as %2E / %2E%2E so that the upstream never sees a dot segment it would resolve. */
static void
put_segment(struct out *o, const char *v, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    bool dots = (n == 1 && v[0] == '.') || (n == 2 && v[0] == '.' && v[1] == '.');

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];

        if (is_plain(c) && !(dots && c == '.')) {
            put(o, (const char *)&c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};

            put(o, e, 3);
        }
    }
}

/* Whether the matched template declares name as greedy ("{name+}"). */
static bool
declared_greedy(const char *path_template, const char *name, size_t name_len)
{
    for (const char *p = path_template ? strchr(path_template, '{') : NULL; p;
         p = strchr(p + 1, '{')) {
        if (strncmp(p + 1, name, name_len) == 0 && p[1 + name_len] == '+' && p[2 + name_len] == '}')
            return true;
    }
    return false;
}

int
edge_route_expand(const char *tmpl, const struct edge_route_match *m, char *out, size_t out_len)
{
    struct out o;
    const char *p;

    if (!tmpl || !m || (!out && out_len))
        return -EINVAL;
    if (out_len == 0)
        return -ENOSPC;
    o.p = out;
    o.len = 0;
    o.cap = out_len - 1;
    o.full = false;
    for (p = tmpl; *p;) {
        const char *close, *name;
        const struct edge_route_param *prm = NULL;
        size_t name_len;
        bool greedy;

        if (*p != '{') {
            size_t run = strcspn(p, "{");

            put(&o, p, run);
            p += run;
            continue;
        }
        close = strchr(p, '}');
        if (!close)
            return -EINVAL;
        name = p + 1;
        name_len = (size_t)(close - name);
        greedy = name_len > 0 && name[name_len - 1] == '+';
        if (greedy)
            name_len--;
        for (unsigned i = 0; i < m->n_params && i < EDGE_ROUTE_MAX_PARAMS; i++) {
            if (m->params[i].name_len == name_len &&
                memcmp(m->params[i].name, name, name_len) == 0) {
                prm = &m->params[i];
                break;
            }
        }
        if (!prm)
            return -ENOENT;
        /* A greedy value keeps its '/' whether the upstream template says "{proxy}" or
         * "{proxy+}"; each of its segments is encoded on its own. */
        if (prm->value_len == 0) {
            /* nothing to write */
        } else if (greedy || declared_greedy(m->path_template, name, name_len)) {
            const char *v = prm->value, *end = prm->value + prm->value_len;

            for (;;) {
                const char *slash = memchr(v, '/', (size_t)(end - v));
                const char *seg_end = slash ? slash : end;

                put_segment(&o, v, (size_t)(seg_end - v));
                if (!slash)
                    break;
                put(&o, "/", 1);
                v = slash + 1;
            }
        } else {
            put_segment(&o, prm->value, prm->value_len);
        }
        p = close + 1;
    }
    if (o.full)
        return -ENOSPC;
    if (o.len > INT_MAX)
        return -EOVERFLOW;
    out[o.len] = '\0';
    return (int)o.len;
}
