/* libFuzzer target for the route matcher. The input is text: lines up to the first empty line
 * are routes ("METHOD /template", or just "/template" for GET), validated and added to a table;
 * the lines after it are requests ("METHOD /raw/path" or "/raw/path") looked up in it. Each
 * template is also looked up as a request path. Checks, beyond the sanitizers:
 *   - edge_route_builder_add agrees with edge_route_template_validate and _method_validate;
 *   - a lookup answers 200/400/404/405/414 with a consistent match (parameter values inside the
 *     scratch buffer, non-empty, a valid template, a non-empty Allow with 405);
 *   - expanding the matched template with its own parameters succeeds, and when the template
 *     has no greedy parameter, looking the expansion up again answers the same route with the
 *     same parameter values (the decoded segments are the same, so the same templates match);
 *   - a brute-force oracle (oracle.c: every route tried alone, the best rank wins) agrees with
 *     the trie on status, route, parameters and Allow. */
#include "oracle.h"
#include "route.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES   128
#define MAX_LOOKUPS  128
#define SCRATCH_SIZE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct line {
    const char *p;
    size_t len;
};

static char *
cstr(const char *p, size_t len)
{
    char *s = malloc(len + 1);

    if (!s)
        abort();
    memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* Splits "METHOD rest" (METHOD without '/'); a line starting with '/' is "GET line". */
static void
split_method(struct line l, struct line *method, struct line *rest)
{
    const char *sp = memchr(l.p, ' ', l.len);

    if ((l.len > 0 && l.p[0] == '/') || !sp) {
        method->p = "GET";
        method->len = 3;
        *rest = l;
        return;
    }
    method->p = l.p;
    method->len = (size_t)(sp - l.p);
    rest->p = sp + 1;
    rest->len = l.len - method->len - 1;
}

static void
check_oracle(struct oracle *o, struct line method, struct line path,
             const struct edge_route_match *m)
{
    struct edge_route_match want;

    oracle_lookup(o, method.p, method.len, path.p, path.len, &want);
    if (want.status != m->status || want.route != m->route)
        abort();
    if (m->status == 405 && strcmp(want.allow, m->allow) != 0)
        abort();
    if (m->status != 200)
        return;
    if (strcmp(want.path_template, m->path_template) != 0 || want.n_params != m->n_params)
        abort();
    for (unsigned i = 0; i < m->n_params; i++) {
        const struct edge_route_param *a = &want.params[i], *b = &m->params[i];

        if (a->name_len != b->name_len || memcmp(a->name, b->name, a->name_len) != 0 ||
            a->value_len != b->value_len || memcmp(a->value, b->value, a->value_len) != 0)
            abort();
    }
}

static void
check_match(const struct edge_route_table *t, struct oracle *o, struct line method,
            struct line path)
{
    static char scratch[SCRATCH_SIZE], scratch2[SCRATCH_SIZE];
    char *buf = scratch;
    struct edge_route_match m, m2;
    char out[2 * SCRATCH_SIZE], err[128];
    int r;

    if (edge_route_lookup(t, method.p, method.len, path.p, path.len, buf, SCRATCH_SIZE, &m) != 0)
        abort();
    if (m.status != 414)
        check_oracle(o, method, path, &m);
    switch (m.status) {
    case 200:
        break;
    case 405:
        if (m.allow[0] == '\0' || m.route || m.n_params)
            abort();
        return;
    case 400:
    case 404:
    case 414:
        if (m.route || m.n_params || m.allow[0])
            abort();
        return;
    default:
        abort();
    }
    if (!m.route || !m.path_template || m.n_params > EDGE_ROUTE_MAX_PARAMS)
        abort();
    if (edge_route_template_validate(m.path_template, err, sizeof(err)) != 0)
        abort();
    for (unsigned i = 0; i < m.n_params; i++) {
        const struct edge_route_param *p = &m.params[i];

        if (p->value_len == 0 || p->value < buf || p->value + p->value_len > buf + SCRATCH_SIZE ||
            p->name_len == 0)
            abort();
    }
    r = edge_route_expand(m.path_template, &m, out, sizeof(out));
    if (r < 0 && r != -ENOSPC)
        abort();
    if (r < 0 || strstr(m.path_template, "+}"))
        return;
    /* Round trip: the expansion names the same route with the same values. */
    {
        struct line p2 = {out, (size_t)r};

        if (edge_route_lookup(t, method.p, method.len, p2.p, p2.len, scratch2, SCRATCH_SIZE, &m2) !=
            0)
            abort();
        if (m2.status != 200 && m2.status != 414)
            abort();
        if (m2.status == 414)
            return;
        if (m2.route != m.route || m2.n_params != m.n_params)
            abort();
        for (unsigned i = 0; i < m.n_params; i++) {
            if (m2.params[i].value_len != m.params[i].value_len ||
                memcmp(m2.params[i].value, m.params[i].value, m.params[i].value_len) != 0)
                abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct line lines[MAX_ROUTES + MAX_LOOKUPS];
    size_t n_lines = 0, n_routes = 0, pos = 0;
    struct edge_route_builder *b;
    struct edge_route_table *t;
    struct oracle *o;
    bool in_routes = true;

    while (pos < size && n_lines < MAX_ROUTES + MAX_LOOKUPS) {
        const uint8_t *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;

        if (in_routes && len == 0) {
            in_routes = false;
        } else if (!in_routes || n_routes < MAX_ROUTES) {
            lines[n_lines].p = (const char *)data + pos;
            lines[n_lines].len = len;
            n_lines++;
            if (in_routes)
                n_routes++;
        }
        pos += len + 1;
    }

    b = edge_route_builder_new();
    o = oracle_new();
    if (!b || !o)
        abort();
    for (size_t i = 0; i < n_routes; i++) {
        struct line method, path;
        char *m, *p, err[160];
        int valid, r;

        split_method(lines[i], &method, &path);
        m = cstr(method.p, method.len);
        p = cstr(path.p, path.len);
        valid = edge_route_template_validate(p, err, sizeof(err));
        if (valid != 0 && (valid != -EINVAL || err[0] == '\0'))
            abort();
        r = edge_route_builder_add(b, m, p, (void *)(uintptr_t)(i + 1), err, sizeof(err));
        if (valid != 0 || edge_route_method_validate(m) != 0) {
            if (r != -EINVAL)
                abort();
        } else if (r != 0 && r != -EEXIST) {
            abort();
        }
        if (r == 0)
            oracle_add(o, m, p, (void *)(uintptr_t)(i + 1));
        free(m);
        free(p);
    }
    t = edge_route_builder_finish(b);
    if (!t)
        abort();
    for (size_t i = 0; i < n_lines; i++) {
        struct line method, path;

        split_method(lines[i], &method, &path);
        check_match(t, o, method, path);
    }
    edge_route_table_free(t);
    oracle_free(o);
    return 0;
}
