/* OpenAPI 3.0/3.1 and Swagger 2.0 -> an import plan. The document is parsed once with libfyaml
 * (JSON is YAML) and walked without ever expanding schemas: only $refs the import needs (path
 * items, parameters, security) are followed, each chain bounded, so circular schemas cost
 * nothing. Every $ref in the document is still checked once (local and resolvable), so a
 * multi-file spec fails with the name of the file it wants. */
#include "importer_internal.h"
#include "pb.h"
#include "route/route.h"

#include <ctype.h>
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum up_kind { UP_DEFAULT, UP_INTEGRATION, UP_SERVER };

static bool
plan_has_upstream(const struct imp *im, const char *name)
{
    for (size_t i = 0; i < im->resp->n_upstreams; i++)
        if (strcmp(im->resp->upstreams[i]->name, name) == 0)
            return true;
    return false;
}

/* The name of an operation- or path-level server's upstream: "<api>-<host>-<port>" when that is
 * a valid name no other upstream of the plan has, else "<api>-srv-<8 hex digits of the
 * target>". Either way it depends only on the document, so a re-import finds the same one. */
static void
server_upstream_name(const struct imp *im, const char *key, const char *host, unsigned port,
                     char *name, size_t cap)
{
    char verr[128];
    (void)snprintf(name, cap, "%s-%s-%u", im->api, host, port);
    for (char *c = name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (cp_validate_name("name", name, verr, sizeof(verr)) == 0 && !plan_has_upstream(im, name))
        return;
    uint32_t h = 2166136261u;
    for (const char *c = key; *c; c++)
        h = (h ^ (unsigned char)*c) * 16777619u;
    (void)snprintf(name, cap, "%.50s-srv-%08x", im->api, h);
}

/* The name of the upstream for (host, port, tls): "<api>-default" for the document's server,
 * "<api>-int<N>" for other integration hosts, server_upstream_name() for operation- and
 * path-level servers. The same target always gets the upstream it got first. Adds the
 * upstream to the plan the first time. */
static const char *
upstream_for(struct imp *im, const char *host, unsigned port, bool tls, enum up_kind kind)
{
    char key[CP_MAX_HOST_LEN + 32], name[80];

    (void)snprintf(key, sizeof(key), "%s:%u:%d", host, port, tls ? 1 : 0);
    for (char *c = key; *c; c++) /* host names are case-insensitive */
        *c = (char)tolower((unsigned char)*c);
    for (size_t i = 0; i < im->n_up_keys; i++)
        if (strcmp(im->up_keys[i], key) == 0)
            return im->resp->upstreams[i]->name;
    if (kind == UP_DEFAULT)
        (void)snprintf(name, sizeof(name), "%.54s-default", im->api);
    else if (kind == UP_SERVER)
        server_upstream_name(im, key, host, port, name, sizeof(name));
    else
        (void)snprintf(name, sizeof(name), "%.54s-int%zu", im->api, im->n_up_keys);
    Edge__V1__Upstream *u = edge_pb_new(&edge__v1__upstream__descriptor);
    u->name = edge_pb_strdup(name);
    u->tls = tls;
    if (tls)
        u->sni = edge_pb_strdup(host);
    Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
    t->host = edge_pb_strdup(host);
    t->port = port;
    t->weight = 1;
    edge_pb_append((void ***)&u->targets, &u->n_targets, t);
    char verr[256];
    if (cp_validate_upstream(u, verr, sizeof(verr)) < 0) {
        cp_imp_warn(im, "upstream %s:%u: %s; routes using it are not imported", host, port, verr);
        edge_pb_free(u);
        return NULL;
    }
    edge_pb_append((void ***)&im->resp->upstreams, &im->resp->n_upstreams, u);
    im->up_keys = edge_xrealloc(im->up_keys, (im->n_up_keys + 1) * sizeof(*im->up_keys));
    im->up_keys[im->n_up_keys++] = strdup(key);
    return u->name;
}

/* ---- document level ------------------------------------------------------------------------ */

static int
read_servers(struct imp *im)
{
    char url[1024];

    if (im->major == 2) {
        const char *host = cp_imp_get_str(im->root, "host");
        const char *base = cp_imp_get_str(im->root, "basePath");
        struct fy_node *schemes = cp_imp_get(im->root, "schemes");
        const char *scheme = "http";
        if (schemes && fy_node_is_sequence(schemes)) {
            void *it = NULL;
            struct fy_node *s;
            scheme = NULL;
            while ((s = fy_node_sequence_iterate(schemes, &it))) {
                const char *v = cp_imp_scalar(s);
                if (v && (!scheme || strcmp(v, "https") == 0))
                    scheme = v;
            }
            if (!scheme)
                scheme = "http";
        }
        if (base && strcmp(base, "/") != 0)
            (void)snprintf(im->server_prefix, sizeof(im->server_prefix), "%s", base);
        size_t pl = strlen(im->server_prefix);
        while (pl > 0 && im->server_prefix[pl - 1] == '/')
            im->server_prefix[--pl] = '\0';
        if (!host)
            return 0;
        (void)snprintf(url, sizeof(url), "%s://%s", scheme, host);
    } else {
        struct fy_node *servers = cp_imp_get(im->root, "servers");
        struct fy_node *s0 = servers && fy_node_is_sequence(servers)
                                 ? fy_node_sequence_get_by_index(servers, 0)
                                 : NULL;
        if (!s0)
            return 0;
        cp_imp_server_url(s0, url, sizeof(url));
    }
    im->had_server = true;
    char path[CP_MAX_PATH_LEN];
    int r = cp_imp_parse_url(url, &im->server_host, &im->server_port, &im->server_tls, path,
                             sizeof(path));
    const char *where = im->major == 2 ? "#/host" : "#/servers/0/url";
    if (r < 0) {
        cp_imp_warn(im, "%s: '%s' is not an http(s) URL; no default upstream", where, url);
        return 0;
    }
    if (r == 1) {
        if (strcmp(path, "/") != 0 && path[0])
            (void)snprintf(im->server_prefix, sizeof(im->server_prefix), "%s", path);
        cp_imp_warn(im, "%s: '%s' is relative; no default upstream (give --upstream)", where, url);
        return 0;
    }
    if (im->major != 2)
        (void)snprintf(im->server_prefix, sizeof(im->server_prefix), "%s", path);
    char verr[256];
    if (cp_validate_host("host", im->server_host, verr, sizeof(verr)) < 0) {
        cp_imp_warn(im, "%s: host of '%s' is not a valid host name; no default upstream", where,
                    url);
        free(im->server_host);
        im->server_host = NULL;
    }
    return 0;
}

static void
read_schemes(struct imp *im)
{
    struct fy_node *defs = im->major == 2
                               ? cp_imp_get(im->root, "securityDefinitions")
                               : cp_imp_get(cp_imp_get(im->root, "components"), "securitySchemes");
    const char *base = im->major == 2 ? "#/securityDefinitions" : "#/components/securitySchemes";
    void *it = NULL;
    struct fy_node_pair *p;

    if (!defs || !fy_node_is_mapping(defs))
        return;
    while ((p = fy_node_mapping_iterate(defs, &it))) {
        const char *name = cp_imp_scalar(fy_node_pair_key(p));
        char where[512];
        (void)snprintf(where, sizeof(where), "%s/%s", base, name ? name : "?");
        struct fy_node *d = cp_imp_deref(im, fy_node_pair_value(p), where);
        if (!name || !d)
            continue;
        struct scheme s = {.name = name};
        const char *type = cp_imp_get_str(d, "type");
        type = type ? type : "";
        if (strcmp(type, "apiKey") == 0) {
            s.kind = SCHEME_APIKEY;
            s.in = cp_imp_get_str(d, "in");
            s.key_name = cp_imp_get_str(d, "name");
            if (!s.in || (strcmp(s.in, "header") != 0 && strcmp(s.in, "query") != 0)) {
                cp_imp_warn(im,
                            "%s: apiKey in '%s' is not supported (header or query); routes that "
                            "require it are imported without it",
                            where, s.in ? s.in : "");
                s.kind = SCHEME_UNSUPPORTED;
            }
        } else if (strcmp(type, "http") == 0 || strcmp(type, "openIdConnect") == 0 ||
                   strcmp(type, "oauth2") == 0 || strcmp(type, "basic") == 0 ||
                   strcmp(type, "mutualTLS") == 0) {
            s.kind = SCHEME_AUTH;
        } else {
            cp_imp_warn(im, "%s: security scheme type '%s' is not supported", where, type);
            s.kind = SCHEME_UNSUPPORTED;
        }
        if (cp_imp_get(d, "x-amazon-apigateway-authorizer")) {
            /* An AWS custom authorizer reads the token itself: it is not an API key. */
            cp_imp_warn(im,
                        "%s/x-amazon-apigateway-authorizer: authorizers are not imported; routes "
                        "record '%s' as an auth requirement",
                        where, name);
            s.kind = SCHEME_AUTH;
        }
        im->schemes = edge_xrealloc(im->schemes, (im->n_schemes + 1) * sizeof(*im->schemes));
        im->schemes[im->n_schemes++] = s;
    }
}

static const struct scheme *
find_scheme(struct imp *im, const char *name)
{
    for (size_t i = 0; i < im->n_schemes; i++)
        if (strcmp(im->schemes[i].name, name) == 0)
            return &im->schemes[i];
    return NULL;
}

/* ---- operations ---------------------------------------------------------------------------- */

static void
apply_security(struct imp *im, Edge__V1__Route *rt, struct fy_node *sec, const char *where)
{
    void *it = NULL;
    struct fy_node *req;

    if (!sec || !fy_node_is_sequence(sec))
        return;
    while ((req = fy_node_sequence_iterate(sec, &it))) {
        void *it2 = NULL;
        struct fy_node_pair *p;
        while ((p = fy_node_mapping_iterate(req, &it2))) {
            const char *name = cp_imp_scalar(fy_node_pair_key(p));
            const struct scheme *s = name ? find_scheme(im, name) : NULL;
            if (!s) {
                cp_imp_warn(im, "%s: security requirement '%s' names no security scheme", where,
                            name ? name : "?");
                continue;
            }
            if (s->kind == SCHEME_APIKEY) {
                if (rt->api_key_required &&
                    strcmp(rt->api_key_name, s->key_name ? s->key_name : "") != 0) {
                    cp_imp_warn(im, "%s: more than one API key scheme; '%s' is used", where,
                                rt->api_key_name);
                    continue;
                }
                rt->api_key_required = true;
                rt->api_key_in = edge_pb_strdup(s->in);
                rt->api_key_name = edge_pb_strdup(s->key_name ? s->key_name : "x-api-key");
            } else if (s->kind == SCHEME_AUTH) {
                bool seen = false;
                for (size_t i = 0; i < rt->n_auth_requirements; i++)
                    seen |= strcmp(rt->auth_requirements[i], s->name) == 0;
                if (!seen)
                    edge_pb_append((void ***)&rt->auth_requirements, &rt->n_auth_requirements,
                                   edge_pb_strdup_heap(s->name));
            }
        }
    }
}

/* Joins the server prefix and a route template into an upstream path. */
static char *
join_path(const char *prefix, const char *path)
{
    size_t n = strlen(prefix) + strlen(path) + 2;
    char *out = edge_xcalloc(1, n);

    (void)snprintf(out, n, "%s%s", prefix, strcmp(path, "/") == 0 && *prefix ? "" : path);
    if (!out[0])
        (void)snprintf(out, n, "/");
    return out;
}

/* An integration URI's authority when it is one stage variable, AWS style
 * ("http://${stageVariables.backend}/pets/{id}"): 1 with "${stageVariables.backend}" in var and
 * the rest ("/pets/{id}", trailing '/' dropped) in path; 0 when the authority has no stage
 * variable; -EINVAL when it mixes one with other text ("${stageVariables.host}:8080"). */
static int
var_authority(const char *uri, bool *ret_tls, char *var, size_t var_cap, char *path,
              size_t path_cap)
{
    static const char open[] = "${stageVariables.";
    const char *p = strstr(uri, "://");

    if (!p)
        return 0;
    const char *a = p + 3;
    size_t alen = strcspn(a, "/?#");
    const char *dollar = memchr(a, '$', alen);
    if (!dollar)
        return 0;
    const char *close = memchr(a, '}', alen);
    if (dollar != a || strncmp(a, open, sizeof(open) - 1) != 0 || !close ||
        (size_t)(close - a) + 1 != alen)
        return -EINVAL;
    size_t slen = (size_t)(p - uri);
    *ret_tls = slen == 5 && strncasecmp(uri, "https", 5) == 0;
    if (!*ret_tls && !(slen == 4 && strncasecmp(uri, "http", 4) == 0))
        return -EINVAL;
    if (alen >= var_cap)
        return -EINVAL;
    memcpy(var, a, alen);
    var[alen] = '\0';
    (void)snprintf(path, path_cap, "%s", a + alen);
    size_t pl = strlen(path);
    while (pl > 0 && path[pl - 1] == '/')
        path[--pl] = '\0';
    return 1;
}

/* An integration URI as a route's upstream reference (an upstream of the plan, or
 * "${stageVariables.NAME}" when the URI's host is one) in target and its path in path. 0, or
 * -EINVAL with a warning (w names the integration): the route is imported without it. */
static int
uri_target(struct imp *im, const char *uri, const char *w, char *target, size_t target_cap,
           char *path, size_t path_cap)
{
    char *host = NULL;
    unsigned port;
    bool tls;
    int vr = uri ? var_authority(uri, &tls, target, target_cap, path, path_cap) : 0;

    if (vr < 0) {
        cp_imp_warn(im,
                    "%s/uri: '%s': a stage variable must be the whole host[:port] "
                    "(http://${stageVariables.NAME}/...); route imported without the integration",
                    w, uri);
        return -EINVAL;
    }
    if (vr == 1) {
        if (tls)
            cp_imp_warn(im,
                        "%s/uri: '%s': with a stage variable as the host, the upstream it names "
                        "decides TLS (a host:port value is plain HTTP)",
                        w, uri);
        return 0;
    }
    if (!uri || cp_imp_parse_url(uri, &host, &port, &tls, path, path_cap) != 0) {
        cp_imp_warn(im,
                    "%s/uri: '%s' is not an http(s) URL; route imported without the integration", w,
                    uri ? uri : "");
        return -EINVAL;
    }
    const char *name = upstream_for(im, host, port, tls, UP_INTEGRATION);
    free(host);
    if (!name)
        return -EINVAL;
    (void)snprintf(target, target_cap, "%s", name);
    return 0;
}

/* x-amazon-apigateway-integration: http/http_proxy become the route's upstream and path. */
static void
aws_integration(struct imp *im, Edge__V1__Route *rt, struct fy_node *ig, const char *where)
{
    char w[MAX_PTR_LEN];
    const char *type = cp_imp_get_str(ig, "type");

    (void)snprintf(w, sizeof(w), "%s/x-amazon-apigateway-integration", where);
    if (!type || (strcasecmp(type, "http") != 0 && strcasecmp(type, "http_proxy") != 0)) {
        cp_imp_warn(im, "%s: type \"%s\" is not supported; route imported without it", w,
                    type ? type : "");
        return;
    }
    const char *uri = cp_imp_get_str(ig, "uri");
    char target[CP_MAX_PATH_LEN], path[CP_MAX_PATH_LEN];
    if (uri_target(im, uri, w, target, sizeof(target), path, sizeof(path)) < 0)
        return;
    const char *hm = cp_imp_get_str(ig, "httpMethod");
    if (hm && strcasecmp(hm, "ANY") != 0 && strcasecmp(hm, rt->method) != 0 &&
        strcmp(rt->method, "ANY") != 0)
        cp_imp_warn(im,
                    "%s/httpMethod: %s differs from the route's %s; the request's method is kept",
                    w, hm, rt->method);
    /* requestParameters: integration.request.path.X <- method.request.path.Y renames {X} in
     * the upstream path to the route's {Y}. */
    struct fy_node *rp = cp_imp_get(ig, "requestParameters");
    void *it = NULL;
    struct fy_node_pair *p;
    while (rp && (p = fy_node_mapping_iterate(rp, &it))) {
        const char *k = cp_imp_scalar(fy_node_pair_key(p)),
                   *v = cp_imp_scalar(fy_node_pair_value(p));
        static const char kp[] = "integration.request.path.", vp[] = "method.request.path.";
        if (k && v && strncmp(k, kp, sizeof(kp) - 1) == 0 && strncmp(v, vp, sizeof(vp) - 1) == 0) {
            char from[160], to[160];
            (void)snprintf(from, sizeof(from), "{%s}", k + sizeof(kp) - 1);
            (void)snprintf(to, sizeof(to), "{%s}", v + sizeof(vp) - 1);
            char *at = strstr(path, from);
            if (at && strcmp(from, to) != 0) {
                char tail[CP_MAX_PATH_LEN];
                (void)snprintf(tail, sizeof(tail), "%s", at + strlen(from));
                *at = '\0';
                size_t used = strlen(path), tl = strlen(to), rl = strlen(tail);
                if (used + tl + rl < sizeof(path)) {
                    memcpy(path + used, to, tl);
                    memcpy(path + used + tl, tail, rl + 1);
                }
            }
            continue;
        }
        cp_imp_warn(im, "%s/requestParameters: mapping '%s' is not supported; ignored", w,
                    k ? k : "?");
    }
    /* {proxy} in the URI stands for the route's greedy {proxy+}. */
    rt->integration->upstream = edge_pb_strdup(target);
    rt->integration->path = edge_pb_strdup(path[0] ? path : "/");
    struct fy_node *t = cp_imp_get(ig, "timeoutInMillis");
    if (cp_imp_scalar(t))
        rt->integration->timeout_ms = (uint32_t)strtoul(cp_imp_scalar(t), NULL, 10);
}

/* x-edge-integration: upstream (a name or "${stageVariables.NAME}") and path, or a uri as
 * AWS's integrations have it; timeout_ms. */
static void
edge_integration(struct imp *im, Edge__V1__Route *rt, struct fy_node *ig, const char *where)
{
    const char *up = cp_imp_get_str(ig, "upstream"), *path = cp_imp_get_str(ig, "path");
    const char *t = cp_imp_get_str(ig, "timeout_ms"), *uri = cp_imp_get_str(ig, "uri");
    char w[MAX_PTR_LEN], target[CP_MAX_PATH_LEN], upath[CP_MAX_PATH_LEN];

    (void)snprintf(w, sizeof(w), "%s/x-edge-integration", where);
    if (!up && uri) {
        if (uri_target(im, uri, w, target, sizeof(target), upath, sizeof(upath)) < 0)
            return;
        up = target;
        if (!path)
            path = upath[0] ? upath : "/";
    }
    if (!up) {
        cp_imp_warn(im, "%s: upstream missing; ignored", w);
        return;
    }
    rt->integration->upstream = edge_pb_strdup(up);
    rt->integration->path = edge_pb_strdup(path);
    if (t)
        rt->integration->timeout_ms = (uint32_t)strtoul(t, NULL, 10);
}

/* Same method and shape ({a} and {b} alike) as a route already in the plan? */
static bool
duplicate(struct imp *im, const Edge__V1__Route *rt, const char **ret_other)
{
    for (size_t i = 0; i < im->routes->n_routes; i++) {
        const Edge__V1__Route *o = im->routes->routes[i];
        if (strcmp(o->method, rt->method) != 0)
            continue;
        const char *a = o->path, *b = rt->path;
        while (*a && *b) {
            if (*a == '{' && *b == '{') {
                const char *ea = strchr(a, '}'), *eb = strchr(b, '}');
                if (!ea || !eb)
                    break;
                if ((ea[-1] == '+') != (eb[-1] == '+'))
                    break;
                a = ea + 1;
                b = eb + 1;
                continue;
            }
            if (*a != *b)
                break;
            a++;
            b++;
        }
        if (!*a && !*b) {
            *ret_other = o->path;
            return true;
        }
    }
    return false;
}

static bool
template_has(const char *path, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{'))
        if (strncmp(p + 1, name, n) == 0 &&
            (p[n + 1] == '}' || (p[n + 1] == '+' && p[n + 2] == '}')))
            return true;
    return false;
}

/* Path-level parameters merged with the operation's (the operation's win by name and in):
 * every merged path parameter must be a template parameter, or the document disagrees with
 * itself (a warning: the route is still made from the template). */
static void
check_params(struct imp *im, const char *path, struct fy_node *path_params,
             struct fy_node *op_params, const char *where)
{
    struct fy_node *lists[2] = {op_params, path_params};
    const char *seen_name[EDGE_ROUTE_MAX_PARAMS * 4], *seen_in[EDGE_ROUTE_MAX_PARAMS * 4];
    size_t n_seen = 0;

    for (int l = 0; l < 2; l++) {
        void *it = NULL;
        struct fy_node *pn;
        if (!lists[l] || !fy_node_is_sequence(lists[l]))
            continue;
        while ((pn = fy_node_sequence_iterate(lists[l], &it))) {
            struct fy_node *prm = cp_imp_deref(im, pn, where);
            const char *name = cp_imp_get_str(prm, "name"), *in = cp_imp_get_str(prm, "in");
            if (!prm || !name || !in)
                continue;
            bool dup = false;
            for (size_t i = 0; i < n_seen && !dup; i++)
                dup = strcmp(seen_name[i], name) == 0 && strcmp(seen_in[i], in) == 0;
            if (dup)
                continue;
            if (n_seen < sizeof(seen_name) / sizeof(seen_name[0])) {
                seen_name[n_seen] = name;
                seen_in[n_seen++] = in;
            }
            if (strcmp(in, "path") == 0 && !template_has(path, name))
                cp_imp_warn(im, "%s/parameters: path parameter '%s' is not in the template %s",
                            where, name, path);
        }
    }
}

/* The server of an operation of its own (3.x: the operation's servers, else its path item's;
 * where and path_where are their JSON pointers): true with its upstream in *ret_up (NULL for a
 * relative URL: the document's default upstream with this path) and its path in prefix;
 * false when the document's server applies. */
static bool
local_server(struct imp *im, struct fy_node *op, struct fy_node *item, const char *where,
             const char *path_where, const char **ret_up, char *prefix, size_t cap)
{
    char w[MAX_PTR_LEN + 16], url[1024], verr[256];
    struct fy_node *servers = cp_imp_get(op, "servers");

    if (im->major != 3)
        return false;
    (void)snprintf(w, sizeof(w), "%s/servers", servers ? where : path_where);
    if (!servers)
        servers = cp_imp_get(item, "servers");
    if (!servers)
        return false;
    if (!fy_node_is_sequence(servers)) {
        cp_imp_warn(im, "%s: not a list; the document's server is used", w);
        return false;
    }
    int n = fy_node_sequence_item_count(servers);
    if (n <= 0) /* an empty list means the document's servers */
        return false;
    if (n > 1)
        cp_imp_warn(im, "%s: %d servers; the first is used", w, n);
    cp_imp_server_url(fy_node_sequence_get_by_index(servers, 0), url, sizeof(url));
    char *host = NULL;
    unsigned port;
    bool tls;
    int r = cp_imp_parse_url(url, &host, &port, &tls, prefix, cap);
    if (r < 0) {
        cp_imp_warn(im, "%s/0/url: '%s' is not an http(s) URL; the document's server is used", w,
                    url);
        return false;
    }
    if (r == 1) { /* relative: the document's host, this path */
        if (strcmp(prefix, "/") == 0)
            prefix[0] = '\0';
        *ret_up = NULL;
        return true;
    }
    if (cp_validate_host("host", host, verr, sizeof(verr)) < 0) {
        cp_imp_warn(im,
                    "%s/0/url: host of '%s' is not a valid host name; the document's server "
                    "is used",
                    w, url);
        free(host);
        return false;
    }
    bool same = im->server_host && strcasecmp(host, im->server_host) == 0 &&
                port == im->server_port && tls == im->server_tls;
    *ret_up = upstream_for(im, host, port, tls, same ? UP_DEFAULT : UP_SERVER);
    free(host);
    return *ret_up != NULL;
}

static const char *const methods[] = {"get",  "put",   "post",  "delete", "options",
                                      "head", "patch", "trace", NULL};

static void
add_operation(struct imp *im, const char *path, const char *method, struct fy_node *op,
              struct fy_node *item, const char *path_where, const char *where)
{
    struct fy_node *path_params = cp_imp_get(item, "parameters");
    char verr[256];
    Edge__V1__Route *rt = edge_pb_new(&edge__v1__route__descriptor);

    check_params(im, path, path_params, cp_imp_get(op, "parameters"), where);

    rt->api = edge_pb_strdup(im->api);
    char m[16];
    size_t i;
    for (i = 0; method[i] && i + 1 < sizeof(m); i++)
        m[i] = (char)toupper((unsigned char)method[i]);
    m[i] = '\0';
    rt->method = edge_pb_strdup(strcmp(method, "x-amazon-apigateway-any-method") == 0 ? "ANY" : m);
    rt->path = edge_pb_strdup(path);
    rt->operation_id = edge_pb_strdup(cp_imp_get_str(op, "operationId"));
    rt->summary = edge_pb_strdup(cp_imp_get_str(op, "summary"));
    if (strlen(rt->summary) > CP_MAX_DESCRIPTION_LEN)
        rt->summary[CP_MAX_DESCRIPTION_LEN] = '\0';
    rt->integration = edge_pb_new(&edge__v1__integration__descriptor);

    struct fy_node *sec = cp_imp_get(op, "security");
    apply_security(im, rt, sec ? sec : im->global_security, where);

    struct fy_node *ig;
    if ((ig = cp_imp_get(op, "x-edge-integration")))
        edge_integration(im, rt, ig, where);
    else if ((ig = cp_imp_get(op, "x-amazon-apigateway-integration")))
        aws_integration(im, rt, ig, where);
    if (!rt->integration->upstream || !*rt->integration->upstream) {
        /* --upstream gives every route's upstream; otherwise the operation's own server, then
         * the document's. */
        const char *up = im->opts->upstream && *im->opts->upstream ? im->opts->upstream : NULL;
        const char *prefix = im->server_prefix;
        char lprefix[CP_MAX_PATH_LEN];
        if (!up && local_server(im, op, item, where, path_where, &up, lprefix, sizeof(lprefix)))
            prefix = lprefix;
        if (!up && im->server_host)
            up = upstream_for(im, im->server_host, im->server_port, im->server_tls, UP_DEFAULT);
        if (!up) {
            im->n_no_upstream++;
            edge_pb_free(rt);
            return;
        }
        rt->integration->upstream = edge_pb_strdup(up);
        char *p = join_path(prefix, path);
        rt->integration->path = edge_pb_strdup(p);
        free(p);
    }
    if (cp_imp_get(op, "callbacks"))
        cp_imp_warn(im, "%s/callbacks: callbacks are not imported", where);
    if (cp_imp_get(op, "x-amazon-apigateway-request-validator"))
        cp_imp_warn(im,
                    "%s/x-amazon-apigateway-request-validator: request validators are not "
                    "supported",
                    where);
    if (cp_validate_route(rt, false, verr, sizeof(verr)) < 0) {
        cp_imp_warn(im, "%s: %s; operation not imported", where, verr);
        edge_pb_free(rt);
        return;
    }
    const char *other;
    if (duplicate(im, rt, &other)) {
        cp_imp_warn(im, "%s: %s %s has the same shape as %s %s; operation not imported", where,
                    rt->method, rt->path, rt->method, other);
        edge_pb_free(rt);
        return;
    }
    im->any_upstream = true;
    edge_pb_append((void ***)&im->routes->routes, &im->routes->n_routes, rt);
}

static int
read_paths(struct imp *im)
{
    struct fy_node *paths = cp_imp_get(im->root, "paths");
    void *it = NULL;
    struct fy_node_pair *p;
    char where[MAX_PTR_LEN];

    if (im->major == 3 && cp_imp_get(im->root, "webhooks"))
        cp_imp_warn(im, "#/webhooks: webhooks are outbound and not imported");
    if (!paths) {
        if (im->major == 3 && cp_imp_get(im->root, "webhooks"))
            return 0;
        return cp_imp_fail(im, "#/paths: missing");
    }
    if (!fy_node_is_mapping(paths))
        return cp_imp_fail(im, "#/paths: must be an object");
    while ((p = fy_node_mapping_iterate(paths, &it))) {
        const char *path = cp_imp_scalar(fy_node_pair_key(p));
        if (!path || strncmp(path, "x-", 2) == 0)
            continue;
        (void)snprintf(where, sizeof(where), "#/paths");
        cp_imp_ptr_push(where, sizeof(where), path);
        struct fy_node *item = cp_imp_deref(im, fy_node_pair_value(p), where);
        if (!item)
            return -EINVAL;
        if (!fy_node_is_mapping(item)) {
            cp_imp_warn(im, "%s: not an object; skipped", where);
            continue;
        }
        if (path[0] != '/') {
            cp_imp_warn(im, "%s: path must start with '/'; skipped", where);
            continue;
        }
        char path_where[MAX_PTR_LEN];
        (void)snprintf(path_where, sizeof(path_where), "%s", where);
        void *it2 = NULL;
        struct fy_node_pair *q;
        while ((q = fy_node_mapping_iterate(item, &it2))) {
            const char *k = cp_imp_scalar(fy_node_pair_key(q));
            if (!k)
                continue;
            bool is_method = strcmp(k, "x-amazon-apigateway-any-method") == 0;
            for (size_t i = 0; !is_method && methods[i]; i++)
                is_method = strcmp(k, methods[i]) == 0;
            if (!is_method)
                continue;
            size_t mark = strlen(where);
            cp_imp_ptr_push(where, sizeof(where), k);
            struct fy_node *op = cp_imp_deref(im, fy_node_pair_value(q), where);
            if (!op)
                return -EINVAL;
            if (!fy_node_is_mapping(op)) {
                cp_imp_warn(im, "%s: not an object; skipped", where);
            } else {
                if (!cp_imp_get(op, "responses"))
                    cp_imp_warn(im, "%s: responses missing", where);
                add_operation(im, path, k, op, item, path_where, where);
            }
            where[mark] = '\0';
        }
    }
    return 0;
}

static int
parse_doc(struct imp *im)
{
    struct fy_node *v;
    const char *ver;

    if (!fy_node_is_mapping(im->root))
        return cp_imp_fail(im, "#: the document must be an object");
    if ((v = cp_imp_get(im->root, "openapi"))) {
        ver = cp_imp_scalar(v);
        if (!ver || (strncmp(ver, "3.0", 3) != 0 && strncmp(ver, "3.1", 3) != 0))
            return cp_imp_fail(im,
                               "#/openapi: unsupported version '%s' (3.0 and 3.1 are supported)",
                               ver ? ver : "");
        im->major = 3;
    } else if ((v = cp_imp_get(im->root, "swagger"))) {
        ver = cp_imp_scalar(v);
        if (!ver || strcmp(ver, "2.0") != 0)
            return cp_imp_fail(im, "#/swagger: unsupported version '%s' (2.0 is supported)",
                               ver ? ver : "");
        im->major = 2;
    } else {
        return cp_imp_fail(im, "#: missing 'openapi' or 'swagger' version field");
    }
    char ptr[MAX_PTR_LEN] = "";
    int r = cp_imp_check_refs(im, im->root, ptr, sizeof(ptr));
    if (r < 0)
        return r;

    struct fy_node *info = cp_imp_get(im->root, "info");
    const char *title = cp_imp_get_str(info, "title");
    if (!info)
        cp_imp_warn(im, "#/info: missing");
    Edge__V1__Api *api = im->resp->api;
    api->title = edge_pb_strdup(title);
    api->version = edge_pb_strdup(cp_imp_get_str(info, "version"));
    api->description = edge_pb_strdup(cp_imp_get_str(info, "description"));
    if (strlen(api->description) > CP_MAX_DESCRIPTION_LEN) {
        cp_imp_warn(im, "#/info/description: longer than %d characters; truncated",
                    CP_MAX_DESCRIPTION_LEN);
        api->description[CP_MAX_DESCRIPTION_LEN] = '\0';
    }
    for (char *c = api->description; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = ' ';
    if (im->opts->name && *im->opts->name) {
        (void)snprintf(im->api, sizeof(im->api), "%s", im->opts->name);
    } else {
        cp_importer_slug(title, im->api, sizeof(im->api));
        if (!im->api[0])
            return cp_imp_fail(im, "#/info/title: no API name can be made from '%s'; give --name",
                               title ? title : "");
    }
    api->name = edge_pb_strdup(im->api);
    char verr[256];
    if (cp_validate_name("api.name", im->api, verr, sizeof(verr)) < 0)
        return cp_imp_fail(im, "%s", verr);
    const char *src = cp_imp_get_str(im->root, "x-amazon-apigateway-api-key-source");
    if (src) {
        if (strcmp(src, "HEADER") != 0 && strcmp(src, "AUTHORIZER") != 0)
            cp_imp_warn(im,
                        "#/x-amazon-apigateway-api-key-source: '%s' is not HEADER or AUTHORIZER; "
                        "ignored",
                        src);
        else
            api->api_key_source = edge_pb_strdup(src);
    }
    static const char *const unsupported[] = {"x-amazon-apigateway-request-validators",
                                              "x-amazon-apigateway-gateway-responses",
                                              "x-amazon-apigateway-policy",
                                              "x-amazon-apigateway-binary-media-types",
                                              "x-amazon-apigateway-documentation",
                                              NULL};
    for (size_t i = 0; unsupported[i]; i++)
        if (cp_imp_get(im->root, unsupported[i]))
            cp_imp_warn(im, "#/%s: not supported; ignored", unsupported[i]);

    if ((r = read_servers(im)) < 0)
        return r;
    read_schemes(im);
    im->global_security = cp_imp_get(im->root, "security");
    if ((r = read_paths(im)) < 0)
        return r;
    if (im->n_no_upstream > 0) {
        if (!im->any_upstream && im->resp->n_warnings > 0 && im->had_server)
            return cp_imp_fail(im,
                               "no upstream: the document's server is not usable (%s); give "
                               "--upstream",
                               im->resp->warnings[0]);
        if (!im->any_upstream)
            return cp_imp_fail(im, "no upstream: the document has no servers; give --upstream");
        cp_imp_warn(im,
                    "%zu operation(s) have no upstream (no server, no integration); not imported",
                    im->n_no_upstream);
    }
    return 0;
}

/* ---- libfyaml diagnostics ------------------------------------------------------------------ */

struct diag_capture {
    char msg[256];
    bool have;
};

static void
diag_output(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    struct diag_capture *c = user;
    (void)diag;

    if (c->have || len == 0)
        return;
    /* "<memory-@0x...>:4:1: error: flow sequence without a closing bracket\n" */
    const char *p = memchr(buf, '>', len);
    const char *s = p && p + 1 < buf + len && p[1] == ':' ? p + 2 : buf;
    size_t n = (size_t)(buf + len - s);
    int line = 0, col = 0, used = 0;
    char tmp[256];
    (void)snprintf(tmp, sizeof(tmp), "%.*s", (int)n, s);
    if (sscanf(tmp, "%d:%d:%n", &line, &col, &used) >= 2 && used > 0) {
        const char *m = tmp + used;
        while (*m == ' ')
            m++;
        if (strncmp(m, "error: ", 7) == 0)
            m += 7;
        (void)snprintf(c->msg, sizeof(c->msg), "line %d, column %d: %s", line, col, m);
    } else {
        (void)snprintf(c->msg, sizeof(c->msg), "%s", tmp);
    }
    size_t l = strlen(c->msg);
    while (l > 0 && (c->msg[l - 1] == '\n' || c->msg[l - 1] == ' '))
        c->msg[--l] = '\0';
    c->have = true;
}

int
cp_importer_parse(const char *doc, size_t len, const struct cp_importer_opts *opts,
                  Edge__V1__ImportApiResponse **ret_resp, Edge__V1__ListRoutesResponse **ret_routes,
                  char *err, size_t err_len)
{
    struct imp im = {.opts = opts, .err = err, .err_len = err_len};
    const char *fname = opts->filename && *opts->filename ? opts->filename : "document";
    int r;

    if (len == 0) {
        (void)snprintf(err, err_len, "%s: empty document", fname);
        return -EINVAL;
    }
    if (len > CP_IMPORTER_MAX_DOCUMENT_BYTES) {
        (void)snprintf(err, err_len, "%s: larger than %u bytes", fname,
                       CP_IMPORTER_MAX_DOCUMENT_BYTES);
        return -EINVAL;
    }
    struct diag_capture cap = {0};
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_output;
    dcfg.user = &cap;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) {
        (void)snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    size_t i = 0;
    while (i < len && isspace((unsigned char)doc[i]))
        i++;
    struct fy_parse_cfg pcfg = {.diag = diag};
    /* Duplicate-key detection is quadratic in libfyaml 0.7 (seconds for 5,000 paths); the
     * first of duplicate keys wins. */
    pcfg.flags = FYPCF_ALLOW_DUPLICATE_KEYS |
                 ((i < len && doc[i] == '{') ? FYPCF_JSON_FORCE : FYPCF_JSON_NONE);
    struct fy_document *fyd = fy_document_build_from_string(&pcfg, doc, len);
    if (!fyd || !fy_document_root(fyd)) {
        (void)snprintf(err, err_len, "%s: %s", fname,
                       cap.have ? cap.msg : "not a YAML or JSON document");
        fy_document_destroy(fyd);
        fy_diag_destroy(diag);
        return -EINVAL;
    }
    im.root = fy_document_root(fyd);
    im.resp = edge_pb_new(&edge__v1__import_api_response__descriptor);
    im.resp->api = edge_pb_new(&edge__v1__api__descriptor);
    im.routes = edge_pb_new(&edge__v1__list_routes_response__descriptor);
    r = parse_doc(&im);
    if (r < 0) {
        edge_pb_free(im.resp);
        edge_pb_free(im.routes);
    } else {
        *ret_resp = im.resp;
        *ret_routes = im.routes;
    }
    for (size_t k = 0; k < im.n_up_keys; k++)
        free(im.up_keys[k]);
    free(im.up_keys);
    free(im.schemes);
    free(im.server_host);
    fy_document_destroy(fyd);
    fy_diag_destroy(diag);
    return r;
}
