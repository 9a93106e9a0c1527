/* The request head, once complete: domain and route lookup, policies, the upstream pick and the
 * upstream request head (hop-by-hop headers dropped, X-Forwarded-*, Via, X-Request-Id). */
#include "core/worker.h"
#include "http/h1.h"
#include "http/h1_parse.h"
#include "http/proxy_internal.h"
#include "log.h"
#include "policy/policy.h"
#include "route.h"

#include <errno.h>
#include <llhttp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- request head: routing and the upstream request ----------------------------------------- */

static bool
method_idempotent(int m)
{
    return m == HTTP_GET || m == HTTP_HEAD || m == HTTP_OPTIONS || m == HTTP_PUT ||
           m == HTTP_DELETE || m == HTTP_TRACE;
}

static bool
route_extra_match(const struct dp_route *rt, const struct dp_h1_head *h, const char *base,
                  const char *host, size_t host_len)
{
    if (rt->host && (strlen(rt->host) != host_len || memcmp(rt->host, host, host_len) != 0))
        return false;
    for (size_t i = 0; i < rt->n_headers; i++) {
        bool ok = false;
        for (unsigned j = 0; j < h->n && !ok; j++) {
            const struct dp_h1_field *f = &h->f[j];
            ok = dp_h1_strcaseeq(base + f->name_off, f->name_len, rt->headers[i].name,
                                 rt->headers[i].name_len) &&
                 f->val_len == rt->headers[i].value_len &&
                 memcmp(base + f->val_off, rt->headers[i].value, f->val_len) == 0;
        }
        if (!ok)
            return false;
    }
    return true;
}

/* 16 hex digits of the worker's seed and 8 of its request count: unique per node run
 * without a shared counter. */
static void
make_req_id(struct dp_worker *w, char out[static 25])
{
    static const char digits[] = "0123456789abcdef";
    uint32_t lo = (uint32_t)++w->req_seq;
    memcpy(out, w->id_prefix, 16);
    for (int i = 23; i >= 16; i--, lo >>= 4)
        out[i] = digits[lo & 15];
    out[24] = '\0';
}

/* Writes every value of the end-to-end fields with token tok, each followed by ", ": a list
 * split over several lines is one list (RFC 9110 5.3), and a proxy extends it whole. */
static int
out_list_values(struct dp_buf *out, const struct dp_h1_head *h, const char *base,
                enum dp_h1_tok tok)
{
    for (unsigned i = 0; i < h->n; i++) {
        const struct dp_h1_field *f = &h->f[i];
        if (f->tok != tok || f->val_len == 0 ||
            dp_h1_is_hop(tok, base + f->name_off, f->name_len, &h->conn))
            continue;
        OUT(base + f->val_off, f->val_len);
        OUT(", ", 2);
    }
    return 0;
}

/* Writes the upstream request head for r into out. */
static int
build_upstream_head(struct dp_req *r, const char *base, const char *upath, size_t upath_len,
                    const char *host, size_t host_len, const char *key_id, struct dp_buf *out)
{
    struct dp_h1_head *h = &r->head;
    struct dp_conn *c = r->c;
    OUTS(r->method);
    OUT(" ", 1);
    OUT(upath, upath_len);
    OUTS(" HTTP/1.1\r\n");
    bool have_host = false;
    for (unsigned i = 0; i < h->n; i++) {
        const struct dp_h1_field *f = &h->f[i];
        const char *name = base + f->name_off, *val = base + f->val_off;
        enum dp_h1_tok tok = f->tok;
        if (dp_h1_is_hop(tok, name, f->name_len, &h->conn))
            continue;
        switch (tok) {
        case DP_H1_EXPECT:
        case DP_H1_X_FORWARDED_PROTO:
        case DP_H1_X_FORWARDED_HOST:
        case DP_H1_X_REQUEST_ID:
            continue;
        case DP_H1_X_FORWARDED_FOR: /* extended below, every line of it */
        case DP_H1_VIA:
            continue;
        case DP_H1_CONTENT_LENGTH:
            if (r->req_chunked)
                continue;
            break;
        case DP_H1_HOST:
            have_host = true;
            break;
        case DP_H1_X_API_KEY_ID:      /* only the gateway says which key a request carries */
        case DP_H1_X_EDGE_DEPLOYMENT: /* nor which deployment answers (no posing as the canary) */
            continue;
        default:
            break;
        }
        if (out_field(out, name, f->name_len, val, f->val_len) < 0)
            return -ENOSPC;
    }
    if (!have_host && host_len) {
        OUTS("Host: ");
        OUT(host, host_len);
        OUT("\r\n", 2);
    }
    char ip[64];
    dp_proxy_peer_ip(c, ip, sizeof(ip));
    OUTS("X-Forwarded-For: ");
    if (out_list_values(out, h, base, DP_H1_X_FORWARDED_FOR) < 0)
        return -ENOSPC;
    OUTS(ip);
    OUTS("\r\nX-Forwarded-Proto: http\r\n");
    if (host_len) {
        OUTS("X-Forwarded-Host: ");
        OUT(host, host_len);
        OUT("\r\n", 2);
    }
    OUTS("Via: ");
    if (out_list_values(out, h, base, DP_H1_VIA) < 0)
        return -ENOSPC;
    OUTS(r->head.http_minor == 0 ? "1.0 edge\r\n" : "1.1 edge\r\n");
    OUTS("X-Request-Id: ");
    OUTS(r->req_id);
    OUTS("\r\nX-Edge-Deployment: ");
    OUTS(r->route->deployment_id);
    OUT("\r\n", 2);
    if (key_id) {
        OUTS("X-Api-Key-Id: ");
        OUTS(key_id);
        OUT("\r\n", 2);
    }
    if (r->req_chunked)
        OUTS("Transfer-Encoding: chunked\r\n");
    OUT("\r\n", 2);
    return 0;
}

/* The head is complete: route the request, open the upstream side and queue the head. Returns
 * 0 to go on with the body, or -1 when an error response has been queued. */
int
dp_proxy_req_on_head(struct dp_conn *c)
{
    struct dp_req *r = c->req;
    struct dp_h1_head *h = &r->head;
    const char *base = h->base;
    llhttp_t *p = &c->parser;
    int m = llhttp_get_method(p);
    const char *mname = llhttp_method_name((llhttp_method_t)m);
    size_t mlen = strlen(mname);
    if (mlen >= sizeof(r->method))
        mlen = sizeof(r->method) - 1;
    memcpy(r->method, mname, mlen);
    r->method[mlen] = '\0';
    r->is_head = m == HTTP_HEAD;
    r->idempotent = method_idempotent(m);
    r->client_keep_alive = llhttp_should_keep_alive(p) && !h->conn.close;
    h->http_minor = p->http_minor;
    r->client_minor = p->http_minor;
    r->head_parsed = true;
    if (p->upgrade)
        r->client_keep_alive = false;
    r->has_body = (p->flags & F_CHUNKED) || p->content_length > 0;
    const char *url = base + h->url_off;
    size_t url_len = h->url_len;
    if (c->w->cfg->access_log_fd >= 0) { /* the only reader; the head is gone by then */
        size_t pl = url_len < sizeof(r->path_log) - 1 ? url_len : sizeof(r->path_log) - 1;
        memcpy(r->path_log, url, pl);
        r->path_log[pl] = '\0';
    }

    if (m == HTTP_CONNECT) {
        r->has_body = true;
        dp_proxy_req_fail(r, 501, "CONNECT is not supported", NULL);
        return -1;
    }
    int bad = dp_h1_head_check(h, base, p);
    if (bad) {
        r->has_body = true; /* framing cannot be trusted: close after the answer */
        dp_proxy_req_fail(r, bad, bad == 413 ? "request body too large" : "bad request", NULL);
        return -1;
    }
    r->req_chunked = (p->flags & F_CHUNKED) != 0;
    r->expect_continue = h->expect_continue;
    if (r->req_id[0])
        ; /* checked again after a lease wait: keep the id it was given */
    else if (h->req_id_len && h->req_id_len < sizeof(r->req_id)) {
        memcpy(r->req_id, base + h->req_id_off, h->req_id_len);
        r->req_id[h->req_id_len] = '\0';
    } else {
        make_req_id(c->w, r->req_id);
    }

    /* Target: origin-form "/p?q", or absolute-form "http://host/p?q" (its host wins). */
    const char *host = base + h->host_off;
    size_t host_len = h->host_len;
    if (url_len >= 7 && dp_h1_strcaseeq(url, 7, "http://", 7)) {
        const char *a = url + 7, *e = url + url_len;
        const char *slash = memchr(a, '/', (size_t)(e - a));
        host = a;
        host_len = (size_t)((slash ? slash : e) - a);
        url = slash ? slash : "/";
        url_len = slash ? (size_t)(e - slash) : 1;
    } else if (url_len == 0 || url[0] != '/') {
        dp_proxy_req_fail(r, 400, "unsupported request target", NULL);
        return -1;
    }
    if (host_len == 0 && h->http_minor >= 1) {
        dp_proxy_req_fail(r, 400, "missing Host header", NULL);
        return -1;
    }
    char lhost[256];
    size_t lhost_len = 0;
    if (dp_h1_host_normalize(host, host_len, lhost, sizeof(lhost), &lhost_len) < 0) {
        dp_proxy_req_fail(r, 400, "invalid Host header", NULL);
        return -1;
    }
    const char *q = memchr(url, '?', url_len);
    size_t path_len = q ? (size_t)(q - url) : url_len;
    /* The matcher takes ".." as a plain segment; passed on, an upstream would resolve it
     * outside the route that matched ("/public/../private"). */
    if (dp_h1_path_has_dot_segment(url, path_len)) {
        dp_proxy_req_fail(r, 400, "dot segment in the path", NULL);
        return -1;
    }
    size_t query_len = q ? url_len - path_len : 0;

    if (!r->hold) {
        dp_proxy_req_fail(r, 503, "no configuration loaded", NULL);
        return -1;
    }
    const struct dp_snapshot *s = r->hold->snap;
    struct dp_resolved res;
    const struct dp_deployment *dep = NULL; /* the stage's deployment or its canary */
    if (dp_snapshot_resolve(s, lhost, lhost_len, url, path_len, &res) < 0 ||
        !(dep = dp_release_pick(res.stage, &c->peer, &c->w->rng))) {
        dp_proxy_req_fail(r, 404, "no route", NULL);
        return -1;
    }
    const char *rest = url + res.rest_off;
    size_t rest_len = path_len - res.rest_off;
    if (rest_len == 0) {
        rest = "/";
        rest_len = 1;
    }
    char scratch[8192]; /* >= any path the head limit (max_uri_bytes) lets through */
    struct edge_route_match match;
    edge_route_lookup(dep->table, r->method, strlen(r->method), rest, rest_len, scratch,
                      sizeof(scratch), &match);
    if (match.status == 405) {
        char extra[200];
        snprintf(extra, sizeof(extra), "Allow: %s\r\n", match.allow);
        dp_proxy_req_fail(r, 405, "method not allowed", extra);
        return -1;
    }
    if (match.status != 200) {
        dp_proxy_req_fail(r, match.status,
                          match.status == 404   ? "no route"
                          : match.status == 414 ? "URI too long"
                                                : "bad request path",
                          NULL);
        return -1;
    }
    const struct dp_route *rt = match.route;
    if (!route_extra_match(rt, h, base, lhost, lhost_len)) {
        dp_proxy_req_fail(r, 404, "no route", NULL);
        return -1;
    }
    if (rt->error) {
        dp_proxy_req_fail(r, 500, rt->error, NULL);
        return -1;
    }
    r->route = rt;
    r->up = rt->upstream;
    if (r->up->tls) {
        dp_proxy_req_fail(r, 502, "TLS to upstreams is not supported yet", NULL);
        return -1;
    }
    r->body_limit = rt->max_body_bytes ? rt->max_body_bytes : c->w->cfg->max_body_bytes;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > r->body_limit) {
        dp_proxy_req_fail(r, 413, "request body too large", NULL);
        return -1;
    }
    /* DESIGN §3: authentication (API key), then usage plan throttles and quota. Routes with
     * neither keys nor throttles skip it (no clock reads). */
    const char *key_id = NULL;
    struct dp_policy_verdict pv; /* key_id points into it */
    if (rt->policy.key_required || dp_throttle_on(&rt->policy.throttle) ||
        dp_throttle_on(&res.stage->throttle)) {
        const char *key = NULL;
        size_t key_len = 0;
        if (rt->policy.key_required)
            (void)dp_policy_find_key(&rt->policy, h, base, q ? q : "", query_len, &key, &key_len);
        struct timespec mono;
        clock_gettime(CLOCK_MONOTONIC, &mono);
        dp_policy_check(s, res.stage, rt, key, key_len,
                        (uint64_t)mono.tv_sec * 1000000000ULL + (uint64_t)mono.tv_nsec,
                        (int64_t)time(NULL), r->policy_flags & DP_POLICY_NO_LEASE, &pv);
        if (pv.status == DP_POLICY_PARKED) {
            dp_proxy_req_park(r);
            return 1;
        }
        if (pv.status) {
            dp_proxy_req_fail(r, pv.status, pv.message, pv.headers[0] ? pv.headers : NULL);
            return -1;
        }
        key_id = pv.key ? pv.key->id : NULL;
        _Static_assert(sizeof(r->rl_headers) == sizeof(pv.headers), "RateLimit header room");
        if (pv.throttled)
            memcpy(r->rl_headers, pv.headers, sizeof(r->rl_headers));
    }

    char upath[8192];
    size_t upath_len;
    if (rt->int_path) {
        int n = edge_route_expand(rt->int_path, &match, upath, sizeof(upath) - query_len - 1);
        if (n < 0) {
            dp_proxy_req_fail(r, n == -ENOSPC ? 414 : 500, "cannot build the upstream path", NULL);
            return -1;
        }
        upath_len = (size_t)n;
    } else {
        if (rest_len + query_len >= sizeof(upath)) {
            dp_proxy_req_fail(r, 414, "URI too long", NULL);
            return -1;
        }
        memcpy(upath, rest, rest_len);
        upath_len = rest_len;
    }
    if (query_len) {
        memcpy(upath + upath_len, q, query_len);
        upath_len += query_len;
    }

    struct dp_buf ob = {0};
    if (dp_buf_acquire(&ob, &c->w->bufs) < 0) {
        DP_STAT_INC(c->w->stats.alloc_failures);
        dp_proxy_req_fail(r, 503, "out of memory", NULL);
        return -1;
    }
    if (build_upstream_head(r, base, upath, upath_len, host, host_len, key_id, &ob) < 0) {
        dp_buf_release(&ob, &c->w->bufs, true);
        dp_proxy_req_fail(r, 431, "request header fields too large", NULL);
        return -1;
    }
    r->head_len = dp_buf_len(&ob);
    r->phase = PH_BODY;
    if (dp_upconn_connect(r, &ob) < 0)
        return -1;
    if (r->expect_continue && r->has_body && dp_buf_acquire(&c->out, &c->w->bufs) == 0)
        (void)dp_buf_append(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    return 0;
}
