/* Where an import's routes go: the document's servers (or Swagger's host/basePath/schemes),
 * operation- and path-level servers, x-edge-integration and x-amazon-apigateway-integration
 * URIs (stage variables included), and the upstreams they add to the plan. */
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

int
cp_imp_read_servers(struct imp *im)
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
void
cp_imp_aws_integration(struct imp *im, Edge__V1__Route *rt, struct fy_node *ig, const char *where)
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
void
cp_imp_edge_integration(struct imp *im, Edge__V1__Route *rt, struct fy_node *ig, const char *where)
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

/* The server of an operation of its own (3.x: the operation's servers, else its path item's;
 * where and path_where are their JSON pointers): true with its upstream in *ret_up (NULL for a
 * relative URL: the document's default upstream with this path) and its path in prefix;
 * false when the document's server applies. */
bool
cp_imp_local_server(struct imp *im, struct fy_node *op, struct fy_node *item, const char *where,
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

const char *
cp_imp_default_upstream(struct imp *im)
{
    return upstream_for(im, im->server_host, im->server_port, im->server_tls, UP_DEFAULT);
}
