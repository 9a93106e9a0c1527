/* TestRoute: which route would answer METHOD PATH, and why (`edgectl route test`).
 *
 * It runs the data plane's own matcher (common/route) over the API's current routes or over
 * what a stage serves, so the answer is the one a node would give; nothing is sent anywhere. */
#include "api_internal.h"
#include "cp.h"
#include "pb.h"
#include "route.h"
#include "validate.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TEST_PATH_MAX 8192

static const char *
header_value(const Edge__V1__TestRouteRequest *in, const char *name)
{
    for (size_t i = 0; i < in->n_headers; i++)
        if (strcasecmp(in->headers[i]->name, name) == 0)
            return in->headers[i]->value;
    return NULL;
}

/* A route takes part when its host and header matches hold for this request. */
static bool
route_applies(const Edge__V1__Route *r, const Edge__V1__TestRouteRequest *in)
{
    if (r->host[0]) {
        const char *host = header_value(in, "host");
        char bare[256];
        if (!host)
            return false;
        snprintf(bare, sizeof(bare), "%s", host);
        char *colon = strrchr(bare, ':');
        if (colon && !strchr(bare, ']'))
            *colon = '\0';
        if (strcasecmp(bare, r->host) != 0)
            return false;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        const char *v = header_value(in, r->headers[i]->name);
        if (!v || strcmp(v, r->headers[i]->value) != 0)
            return false;
    }
    return true;
}

static unsigned
specificity(const Edge__V1__Route *r)
{
    return (r->host[0] ? 2u : 0u) + (r->n_headers ? 1u : 0u);
}

static int
by_specificity(const void *a, const void *b)
{
    unsigned sa = specificity(*(Edge__V1__Route *const *)a);
    unsigned sb = specificity(*(Edge__V1__Route *const *)b);
    return sa == sb ? 0 : sa > sb ? -1 : 1;
}

/* Loads the routes the request would be matched against: owned by *ret_holder. */
static int
load_routes(struct cp_ctx *cp, const Edge__V1__TestRouteRequest *in, ProtobufCMessage **ret_holder,
            Edge__V1__Route ***ret_routes, size_t *ret_n, Edge__V1__Stage **ret_stage, char *why,
            size_t why_len, struct edge_rpc_status *st)
{
    struct cp_store_err e = {0};

    if (!in->stage[0]) {
        Edge__V1__ListRoutesResponse *list;
        Edge__V1__Api *api;
        if (cp_store_api_get(cp->store, in->api, &api, &e) < 0 ||
            cp_store_route_list(cp->store, in->api, &list, &e) < 0) {
            cp_api_store_fail(st, &e);
            return -1;
        }
        edge_pb_free(api);
        *ret_holder = &list->base;
        *ret_routes = list->routes;
        *ret_n = list->n_routes;
        snprintf(why, why_len, "the API's current routes (not yet deployed)");
        return 0;
    }
    Edge__V1__Stage *stage;
    if (cp_store_stage_get(cp->store, in->api, in->stage, &stage, &e) < 0) {
        cp_api_store_fail(st, &e);
        return -1;
    }
    if (!stage->deployment_id[0]) {
        edge_pb_free(stage);
        *ret_holder = NULL;
        *ret_routes = NULL;
        *ret_n = 0;
        snprintf(why, why_len, "stage \"%s\" has no deployment", in->stage);
        return 0;
    }
    Edge__V1__Deployment *d;
    int r = cp_store_deployment_get(cp->store, in->api, stage->deployment_id, &d, &e);
    snprintf(why, why_len, "deployment %s of stage \"%s\"", stage->deployment_id, in->stage);
    if (stage->canary && stage->canary->deployment_id[0] && stage->canary->percent > 0) {
        size_t n = strlen(why);
        snprintf(why + n, why_len - n, " (its canary %s answers %g%% of requests)",
                 stage->canary->deployment_id, stage->canary->percent);
    }
    if (r < 0) {
        edge_pb_free(stage);
        cp_api_store_fail(st, &e);
        return -1;
    }
    *ret_stage = stage; /* its variables go into the upstream path */
    *ret_holder = &d->base;
    *ret_routes = d->routes;
    *ret_n = d->n_routes;
    return 0;
}

/* ${stageVariables.NAME} replaced as a node does it when it compiles the stage; -ENOENT with
 * the undefined name in missing. */
static int
expand_stage_vars(const char *tmpl, const Edge__V1__Stage *stage, char *out, size_t out_len,
                  char *missing, size_t missing_len)
{
    static const char var[] = "${stageVariables.";
    size_t o = 0;

    for (const char *p = tmpl; *p;) {
        const char *v = strstr(p, var), *end = v ? strchr(v, '}') : NULL;
        size_t lit = v && end ? (size_t)(v - p) : strlen(p);
        if (o + lit >= out_len)
            return -ENOSPC;
        memcpy(out + o, p, lit);
        o += lit;
        if (!v || !end)
            break;
        const char *name = v + sizeof(var) - 1, *value = NULL;
        size_t len = (size_t)(end - name);
        for (size_t i = 0; stage && i < stage->n_variables && !value; i++)
            if (strlen(stage->variables[i]->key) == len &&
                memcmp(stage->variables[i]->key, name, len) == 0)
                value = stage->variables[i]->value;
        if (!value) {
            snprintf(missing, missing_len, "%.*s", (int)len, name);
            return -ENOENT;
        }
        size_t vlen = strlen(value);
        if (o + vlen >= out_len)
            return -ENOSPC;
        memcpy(out + o, value, vlen);
        o += vlen;
        p = end + 1;
    }
    out[o] = '\0';
    return 0;
}

/* The upstream a route's reference gives in this stage, as a node resolves it
 * (dataplane/snapshot): an upstream's name, or "${stageVariables.NAME}" whose value names an
 * upstream or gives a literal target ("host:port", "http://host[:port]"). Fills *ret_up (owned)
 * or host and *ret_port, and says how in note; 0 when there is nothing to show (an unknown
 * upstream, no stage to take a variable from), -ENXIO with the variable in missing when the
 * stage does not define it, -EINVAL when its value is neither (nodes answer 500). */
static int
resolve_upstream(struct cp_ctx *cp, const char *ref, const Edge__V1__Stage *stage,
                 Edge__V1__Upstream **ret_up, char *host, size_t host_len, unsigned *ret_port,
                 char *note, size_t note_len, char *missing, size_t missing_len)
{
    static const char var[] = "${stageVariables.";
    const size_t var_len = sizeof(var) - 1;
    struct cp_store_err e = {0};
    size_t n = strlen(ref);
    const char *name = ref;

    note[0] = '\0';
    if (n > var_len + 1 && strncmp(ref, var, var_len) == 0 && ref[n - 1] == '}') {
        const char *vname = ref + var_len;
        size_t vlen = n - var_len - 1;
        snprintf(missing, missing_len, "%.*s", (int)vlen, vname);
        if (!stage) {
            snprintf(note, note_len, "; its upstream is stage variable \"%s\", resolved per stage",
                     missing);
            return 0;
        }
        name = NULL;
        for (size_t i = 0; i < stage->n_variables && !name; i++)
            if (strlen(stage->variables[i]->key) == vlen &&
                memcmp(stage->variables[i]->key, vname, vlen) == 0)
                name = stage->variables[i]->value;
        if (!name)
            return -ENXIO;
        if (cp_store_upstream_get(cp->store, name, ret_up, &e) == 0) {
            snprintf(note, note_len, "; upstream \"%s\" from stage variable \"%s\"", name, missing);
            return 0;
        }
        uint16_t port16 = 0;
        if (edge_route_parse_target(name, host, host_len, &port16) == 0) {
            *ret_port = port16;
            snprintf(note, note_len, "; upstream %s (a literal target) from stage variable \"%s\"",
                     name, missing);
            return 0;
        }
        return -EINVAL;
    }
    if (cp_store_upstream_get(cp->store, name, ret_up, &e) < 0)
        *ret_up = NULL;
    return 0;
}

/* 0, or -ENOENT with the undefined stage variable of the path in missing (a node answers 500),
 * or resolve_upstream()'s -ENXIO / -EINVAL (500 as well). */
static int
set_upstream_url(struct cp_ctx *cp, Edge__V1__TestRouteResponse *out, const Edge__V1__Route *route,
                 const Edge__V1__Stage *stage, const struct edge_route_match *m, const char *path,
                 size_t path_len, const char *query, char *note, size_t note_len, char *missing,
                 size_t missing_len)
{
    char ipath[TEST_PATH_MAX + 256], host[256] = "";
    int vr = 0;
    unsigned port = 0;
    Edge__V1__Upstream *up = NULL;
    char upath[TEST_PATH_MAX + 256], url[TEST_PATH_MAX + 512];
    const Edge__V1__Integration *ig = route->integration;

    note[0] = '\0';
    if (!ig || !ig->upstream[0])
        return 0;
    int ur = resolve_upstream(cp, ig->upstream, stage, &up, host, sizeof(host), &port, note,
                              note_len, missing, missing_len);
    if (ur < 0)
        return ur;
    if (up && up->n_targets > 0) {
        snprintf(host, sizeof(host), "%s", up->targets[0]->host);
        port = up->targets[0]->port;
    }
    bool tls = up && up->tls;
    edge_pb_free(up);
    if (!host[0])
        return 0;
    if (ig->path[0]) {
        vr = stage ? expand_stage_vars(ig->path, stage, ipath, sizeof(ipath), missing, missing_len)
                   : -EINVAL; /* no stage: shown as written */
        if (vr < 0)
            snprintf(ipath, sizeof(ipath), "%s", ig->path);
        if (edge_route_expand(ipath, m, upath, sizeof(upath)) < 0)
            snprintf(upath, sizeof(upath), "%s", ipath);
    } else {
        snprintf(upath, sizeof(upath), "%.*s", (int)path_len, path);
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(url, sizeof(url), "%s://%s%s%s:%u%s%s%s", tls ? "https" : "http", v6 ? "[" : "", host,
             v6 ? "]" : "", port, upath, query ? "?" : "", query ? query : "");
    out->upstream_url = edge_pb_strdup(url);
    return vr == -ENOENT ? -ENOENT : 0;
}

void
cp_api_test_route(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__TestRouteRequest *in = (const Edge__V1__TestRouteRequest *)req;
    ProtobufCMessage *holder = NULL;
    Edge__V1__Stage *stage = NULL;
    Edge__V1__Route **routes = NULL;
    size_t n_routes = 0;
    char err[256], source[192], reason[512], scratch[TEST_PATH_MAX];
    struct edge_route_match m;

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err) ||
        (in->stage[0] &&
         cp_api_invalid(st, cp_validate_name("stage", in->stage, err, sizeof(err)), err)))
        return;
    if (edge_route_method_validate(in->method) != 0 || strcmp(in->method, "ANY") == 0) {
        edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "method: must be an HTTP method in upper case (GET, POST, ...)");
        return;
    }
    size_t plen = strlen(in->path);
    if (plen == 0 || in->path[0] != '/' || plen >= TEST_PATH_MAX) {
        edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "path: must start with '/' and be under %d bytes", TEST_PATH_MAX);
        return;
    }
    if (load_routes(cp, in, &holder, &routes, &n_routes, &stage, source, sizeof(source), st) != 0)
        return;

    /* Host- and header-specific routes go in first, so that they win over a generic route of
     * the same shape (the builder keeps the first of two equivalent templates). */
    Edge__V1__Route **cand = edge_xcalloc(n_routes ? n_routes : 1, sizeof(*cand));
    size_t n_cand = 0;
    for (size_t i = 0; i < n_routes; i++)
        if (route_applies(routes[i], in))
            cand[n_cand++] = routes[i];
    qsort(cand, n_cand, sizeof(*cand), by_specificity);
    struct edge_route_builder *b = edge_route_builder_new();
    for (size_t i = 0; i < n_cand; i++)
        (void)edge_route_builder_add(b, cand[i]->method, cand[i]->path, cand[i], err, sizeof(err));
    struct edge_route_table *t = edge_route_builder_finish(b);
    if (!t) {
        free(cand);
        edge_pb_free(holder);
        edge_pb_free(stage);
        edge_rpc_fail(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }

    const char *q = strchr(in->path, '?');
    size_t path_len = q ? (size_t)(q - in->path) : plen;
    (void)edge_route_lookup(t, in->method, strlen(in->method), in->path, path_len, scratch,
                            sizeof(scratch), &m);

    Edge__V1__TestRouteResponse *out = edge_pb_new(&edge__v1__test_route_response__descriptor);
    out->status = (uint32_t)m.status;
    switch (m.status) {
    case 200: {
        const Edge__V1__Route *r = m.route;
        out->route = edge_pb_dup(&r->base);
        for (unsigned i = 0; i < m.n_params; i++) {
            Edge__V1__PathParam *p = edge_pb_new(&edge__v1__path_param__descriptor);
            p->name = edge_pb_strndup(m.params[i].name, m.params[i].name_len);
            p->value = edge_pb_strndup(m.params[i].value, m.params[i].value_len);
            edge_pb_append((void ***)&out->params, &out->n_params, p);
        }
        char missing[80] = "", note[256];
        int ur = set_upstream_url(cp, out, r, stage, &m, in->path, path_len, q ? q + 1 : NULL, note,
                                  sizeof(note), missing, sizeof(missing));
        snprintf(reason, sizeof(reason), "%s %s answers (route %s) in %s%s%s%s", r->method, r->path,
                 r->id, source, r->host[0] ? ", for host " : "", r->host, note);
        size_t n = strlen(reason);
        if (ur == -ENXIO)
            snprintf(reason + n, sizeof(reason) - n,
                     "; but its upstream is stage variable \"%s\", which the stage does not "
                     "define: nodes answer 500",
                     missing);
        else if (ur == -ENOENT)
            snprintf(reason + n, sizeof(reason) - n,
                     "; but its integration path uses stage variable \"%s\", which the stage "
                     "does not define: nodes answer 500",
                     missing);
        else if (ur == -EINVAL)
            snprintf(reason + n, sizeof(reason) - n,
                     "; but its upstream is stage variable \"%s\", whose value names no upstream "
                     "and is not host:port or http://host[:port]: nodes answer 500",
                     missing);
        break;
    }
    case 405: {
        char *save = NULL, *allow = strdup(m.allow);
        for (char *tok = allow ? strtok_r(allow, ", ", &save) : NULL; tok;
             tok = strtok_r(NULL, ", ", &save))
            edge_pb_append((void ***)&out->allow, &out->n_allow, edge_pb_strdup_heap(tok));
        free(allow);
        snprintf(reason, sizeof(reason),
                 "%s matches a path of %s, which has no %s route (Allow: %s)", in->path, source,
                 in->method, m.allow);
        break;
    }
    case 400:
        snprintf(reason, sizeof(reason),
                 "the path is not valid: bad percent-encoding or invalid UTF-8 in a segment");
        break;
    case 414:
        snprintf(reason, sizeof(reason), "the path is too long");
        break;
    default:
        snprintf(reason, sizeof(reason), "no route of %s matches %.*s", source, (int)path_len,
                 in->path);
        break;
    }
    out->reason = edge_pb_strdup(reason);
    edge_route_table_free(t);
    free(cand);
    edge_pb_free(holder);
    edge_pb_free(stage);
    *ret_resp = &out->base;
}
