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

/* ---- document level and operations
 * ---------------------------------------------------------------------------- */

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
        cp_imp_edge_integration(im, rt, ig, where);
    else if ((ig = cp_imp_get(op, "x-amazon-apigateway-integration")))
        cp_imp_aws_integration(im, rt, ig, where);
    if (!rt->integration->upstream || !*rt->integration->upstream) {
        /* --upstream gives every route's upstream; otherwise the operation's own server, then
         * the document's. */
        const char *up = im->opts->upstream && *im->opts->upstream ? im->opts->upstream : NULL;
        const char *prefix = im->server_prefix;
        char lprefix[CP_MAX_PATH_LEN];
        if (!up &&
            cp_imp_local_server(im, op, item, where, path_where, &up, lprefix, sizeof(lprefix)))
            prefix = lprefix;
        if (!up && im->server_host)
            up = cp_imp_default_upstream(im);
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

    if ((r = cp_imp_read_servers(im)) < 0)
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
