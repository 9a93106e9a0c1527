/* Document helpers for the importer: messages, node access, JSON pointers and $ref
 * resolution (never expanding schemas, so circular ones cost nothing), URLs. */
#include "importer_internal.h"
#include "pb.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
cp_imp_fail(struct imp *im, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(im->err, im->err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

void
cp_imp_warn(struct imp *im, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    if (im->resp->n_warnings >= CP_IMPORTER_MAX_WARNINGS)
        return;
    va_start(ap, fmt);
    (void)vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < im->resp->n_warnings; i++)
        if (strcmp(im->resp->warnings[i], buf) == 0)
            return; /* one per cause: an unusable host shared by many operations */
    if (im->resp->n_warnings + 1 == CP_IMPORTER_MAX_WARNINGS)
        (void)snprintf(buf, sizeof(buf), "more than %d warnings; the rest are not listed",
                       CP_IMPORTER_MAX_WARNINGS - 1);
    edge_pb_append((void ***)&im->resp->warnings, &im->resp->n_warnings, edge_pb_strdup_heap(buf));
}

/* ---- node helpers ------------------------------------------------------------------------- */

struct fy_node *
cp_imp_get(struct fy_node *map, const char *key)
{
    if (!map || !fy_node_is_mapping(map))
        return NULL;
    return fy_node_mapping_lookup_value_by_string(map, key, FY_NT);
}

const char *
cp_imp_scalar(struct fy_node *n)
{
    if (!n || !fy_node_is_scalar(n))
        return NULL;
    return fy_node_get_scalar0(n);
}

const char *
cp_imp_get_str(struct fy_node *map, const char *key)
{
    return cp_imp_scalar(cp_imp_get(map, key));
}

/* Appends a JSON pointer segment (escaped: ~ -> ~0, / -> ~1) to ptr. */
void
cp_imp_ptr_push(char *ptr, size_t cap, const char *seg)
{
    size_t n = strlen(ptr);

    if (n + 1 < cap)
        ptr[n++] = '/';
    for (; *seg && n + 2 < cap; seg++) {
        if (*seg == '~' || *seg == '/') {
            ptr[n++] = '~';
            ptr[n++] = *seg == '~' ? '0' : '1';
        } else {
            ptr[n++] = *seg;
        }
    }
    ptr[n < cap ? n : cap - 1] = '\0';
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Resolves a local reference "#/a/b~1c" against the root; NULL when it names nothing. */
static struct fy_node *
ptr_resolve(struct imp *im, const char *ref)
{
    struct fy_node *n = im->root;
    char seg[512];

    if (ref[0] != '#')
        return NULL;
    const char *p = ref + 1;
    while (*p) {
        if (*p != '/')
            return NULL;
        p++;
        size_t o = 0;
        while (*p && *p != '/' && o + 1 < sizeof(seg)) {
            int c = (unsigned char)*p;
            if (c == '~' && (p[1] == '0' || p[1] == '1')) {
                c = p[1] == '0' ? '~' : '/';
                p += 2;
            } else if (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                c = hexval(p[1]) * 16 + hexval(p[2]);
                p += 3;
            } else {
                p++;
            }
            seg[o++] = (char)c;
        }
        seg[o] = '\0';
        if (fy_node_is_mapping(n)) {
            n = cp_imp_get(n, seg);
        } else if (fy_node_is_sequence(n)) {
            char *end;
            long i = strtol(seg, &end, 10);
            n = (*end || i < 0) ? NULL : fy_node_sequence_get_by_index(n, (int)i);
        } else {
            n = NULL;
        }
        if (!n)
            return NULL;
    }
    return n;
}

/* Follows n's $ref chain (if any). where names n for messages. NULL with err filled when a
 * reference is external, dangling or circular. */
struct fy_node *
cp_imp_deref(struct imp *im, struct fy_node *n, const char *where)
{
    for (int hop = 0; n; hop++) {
        const char *ref = cp_imp_get_str(n, "$ref");
        if (!ref)
            return n;
        if (hop >= MAX_REF_HOPS) {
            (void)cp_imp_fail(im, "%s: circular $ref '%s'", where, ref);
            return NULL;
        }
        if (ref[0] != '#') {
            (void)cp_imp_fail(im,
                              "%s: $ref '%s' points at another document; only local references "
                              "(#/...) are supported: bundle the spec into one file first",
                              where, ref);
            return NULL;
        }
        struct fy_node *t = ptr_resolve(im, ref);
        if (!t) {
            (void)cp_imp_fail(im, "%s: unresolvable $ref '%s'", where, ref);
            return NULL;
        }
        n = t;
    }
    return n;
}

/* Checks every "$ref": <string> in the document once. Keys under "example(s)" are data, not
 * references (GitHub's SCIM examples carry "$ref" URLs). */
int
cp_imp_check_refs(struct imp *im, struct fy_node *n, char *ptr, size_t cap)
{
    size_t mark = strlen(ptr);
    void *it = NULL;

    if (fy_node_is_sequence(n)) {
        struct fy_node *c;
        int i = 0;
        while ((c = fy_node_sequence_iterate(n, &it))) {
            char idx[16];
            (void)snprintf(idx, sizeof(idx), "%d", i++);
            cp_imp_ptr_push(ptr, cap, idx);
            int r = cp_imp_check_refs(im, c, ptr, cap);
            ptr[mark] = '\0';
            if (r < 0)
                return r;
        }
        return 0;
    }
    if (!fy_node_is_mapping(n))
        return 0;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(n, &it))) {
        const char *k = cp_imp_scalar(fy_node_pair_key(p));
        struct fy_node *v = fy_node_pair_value(p);
        if (!k)
            continue;
        if (strcmp(k, "$ref") == 0 && cp_imp_scalar(v)) {
            const char *ref = cp_imp_scalar(v);
            if (ref[0] != '#')
                return cp_imp_fail(
                    im,
                    "#%s: $ref '%s' points at another document; only local "
                    "references (#/...) are supported: bundle the spec into one file "
                    "first",
                    ptr, ref);
            if (!ptr_resolve(im, ref))
                return cp_imp_fail(im, "#%s: unresolvable $ref '%s'", ptr, ref);
            continue;
        }
        if (strcmp(k, "example") == 0 || strcmp(k, "examples") == 0 ||
            strcmp(k, "x-examples") == 0 || strcmp(k, "enum") == 0 || strcmp(k, "default") == 0)
            continue;
        if (fy_node_is_scalar(v))
            continue;
        cp_imp_ptr_push(ptr, cap, k);
        int r = cp_imp_check_refs(im, v, ptr, cap);
        ptr[mark] = '\0';
        if (r < 0)
            return r;
    }
    return 0;
}

/* ---- names, URLs --------------------------------------------------------------------------- */

void
cp_importer_slug(const char *title, char *out, size_t out_len)
{
    size_t o = 0;
    bool dash = false;

    for (const char *p = title ? title : ""; *p && o + 1 < out_len && o < 55; p++) {
        unsigned char c = (unsigned char)*p;
        if (isalnum(c)) {
            if (dash && o > 0)
                out[o++] = '-';
            dash = false;
            if (o + 1 < out_len)
                out[o++] = (char)tolower(c);
        } else if (c == '.' || c == '_') {
            if (o > 0 && !dash)
                out[o++] = (char)c;
        } else {
            dash = true;
        }
    }
    while (o > 0 && !isalnum((unsigned char)out[o - 1]))
        o--;
    out[o] = '\0';
}

/* Splits "scheme://host[:port][/path]". Returns 0, 1 for a relative URL (only the path is
 * set), or -EINVAL. host is an owned copy (free()). */
int
cp_imp_parse_url(const char *url, char **ret_host, unsigned *ret_port, bool *ret_tls, char *path,
                 size_t path_cap)
{
    const char *p = strstr(url, "://");
    path[0] = '\0';
    if (!p) {
        if (url[0] == '/' || url[0] == '\0') {
            (void)snprintf(path, path_cap, "%s", url);
            return 1;
        }
        return -EINVAL;
    }
    size_t slen = (size_t)(p - url);
    bool tls;
    if (slen == 5 && strncasecmp(url, "https", 5) == 0)
        tls = true;
    else if (slen == 4 && strncasecmp(url, "http", 4) == 0)
        tls = false;
    else
        return -EINVAL;
    const char *h = p + 3;
    const char *slash = strchr(h, '/');
    size_t hlen = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hlen);
    if (h[0] == '[') { /* IPv6 literal */
        const char *rb = memchr(h, ']', hlen);
        colon = rb && rb + 1 < h + hlen && rb[1] == ':' ? rb + 1 : NULL;
    }
    unsigned port = tls ? 443 : 80;
    size_t host_len = colon ? (size_t)(colon - h) : hlen;
    if (colon) {
        char *end;
        unsigned long v = strtoul(colon + 1, &end, 10);
        if (end != h + hlen || v == 0 || v > 65535)
            return -EINVAL;
        port = (unsigned)v;
    }
    if (host_len == 0)
        return -EINVAL;
    const char *hs = h;
    if (hs[0] == '[') { /* IPv6 literal: keep what is inside the brackets */
        const char *rb = memchr(hs, ']', host_len);
        hs++;
        host_len = rb ? (size_t)(rb - hs) : host_len - 1;
        if (host_len == 0)
            return -EINVAL;
    }
    char *host = edge_xcalloc(1, host_len + 1);
    memcpy(host, hs, host_len);
    (void)snprintf(path, path_cap, "%s", slash ? slash : "");
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        path[--pl] = '\0';
    *ret_host = host;
    *ret_port = port;
    *ret_tls = tls;
    return 0;
}

/* Substitutes {var} in a 3.x server URL with the variables' defaults. */
void
cp_imp_server_url(struct fy_node *server, char *out, size_t cap)
{
    const char *url = cp_imp_get_str(server, "url");
    struct fy_node *vars = cp_imp_get(server, "variables");
    size_t o = 0;

    for (const char *p = url ? url : ""; *p && o + 1 < cap; p++) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        if (close) {
            char name[128];
            size_t n = (size_t)(close - p - 1);
            if (n < sizeof(name)) {
                memcpy(name, p + 1, n);
                name[n] = '\0';
                const char *def = cp_imp_get_str(cp_imp_get(vars, name), "default");
                if (def) {
                    o += (size_t)snprintf(out + o, cap - o, "%s", def);
                    if (o >= cap)
                        o = cap - 1;
                    p = close;
                    continue;
                }
            }
        }
        out[o++] = *p;
    }
    out[o] = '\0';
}
