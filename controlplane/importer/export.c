/* An API's routes -> OpenAPI 3.0. The document is built as JSON (jansson) and, for YAML,
 * re-emitted by libfyaml, so both formats carry the same content. Everything the importer
 * reads back is written: operationId, summary, path parameters, apiKey schemes, auth
 * requirements and x-edge-integration, so export -> import gives the same routes. */
#include "importer.h"
#include "pb.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *
s_or(const char *s, const char *def)
{
    return s && *s ? s : def;
}

/* {id}, {name}.json and {proxy+} -> path parameters (greedy ones without the '+'). */
static json_t *
path_params(const char *path)
{
    json_t *arr = json_array();

    for (const char *p = strchr(path, '{'); p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        if (!close)
            break;
        size_t n = (size_t)(close - p - 1);
        if (n > 0 && p[n] == '+')
            n--;
        json_t *name = json_stringn(p + 1, n);
        (void)json_array_append_new(arr,
                                    json_pack("{s:o, s:s, s:b, s:{s:s}}", "name", name, "in",
                                              "path", "required", 1, "schema", "type", "string"));
    }
    return arr;
}

/* The security scheme name for an API key location, added to schemes on first use. */
static const char *
key_scheme(json_t *schemes, const Edge__V1__Route *r, char *buf, size_t cap)
{
    const char *in = s_or(r->api_key_in, "header"), *name = s_or(r->api_key_name, "x-api-key");
    const char *k;
    json_t *v;
    int n = 0;

    json_object_foreach(schemes, k, v)
    {
        const char *t = json_string_value(json_object_get(v, "type"));
        if (t && strcmp(t, "apiKey") == 0) {
            n++;
            if (strcmp(json_string_value(json_object_get(v, "in")), in) == 0 &&
                strcmp(json_string_value(json_object_get(v, "name")), name) == 0) {
                (void)snprintf(buf, cap, "%s", k);
                return buf;
            }
        }
    }
    if (n == 0)
        (void)snprintf(buf, cap, "api_key");
    else
        (void)snprintf(buf, cap, "api_key_%d", n + 1);
    (void)json_object_set_new(
        schemes, buf, json_pack("{s:s, s:s, s:s}", "type", "apiKey", "in", in, "name", name));
    return buf;
}

static json_t *
build(const Edge__V1__Api *api, Edge__V1__Route *const *routes, size_t n_routes,
      Edge__V1__Upstream *const *upstreams, size_t n_upstreams, const char *server_url)
{
    json_t *doc = json_object();
    json_t *info = json_pack("{s:s, s:s}", "title", s_or(api->title, api->name), "version",
                             s_or(api->version, "1.0.0"));
    if (api->description && *api->description)
        (void)json_object_set_new(info, "description", json_string(api->description));
    (void)json_object_set_new(doc, "openapi", json_string("3.0.3"));
    (void)json_object_set_new(doc, "info", info);

    char url[600] = "";
    if (server_url) {
        (void)snprintf(url, sizeof(url), "%s", server_url);
    } else if (n_routes > 0 && routes[0]->integration) {
        for (size_t i = 0; i < n_upstreams; i++) {
            const Edge__V1__Upstream *u = upstreams[i];
            if (strcmp(u->name, routes[0]->integration->upstream) != 0 || u->n_targets == 0)
                continue;
            const Edge__V1__Target *t = u->targets[0];
            bool v6 = strchr(t->host, ':') != NULL;
            unsigned def = u->tls ? 443 : 80;
            char port[16] = "";
            if (t->port != def)
                (void)snprintf(port, sizeof(port), ":%u", t->port);
            (void)snprintf(url, sizeof(url), "%s://%s%s%s%s", u->tls ? "https" : "http",
                           v6 ? "[" : "", t->host, v6 ? "]" : "", port);
        }
    }
    if (url[0])
        (void)json_object_set_new(doc, "servers", json_pack("[{s:s}]", "url", url));
    if (api->api_key_source && *api->api_key_source)
        (void)json_object_set_new(doc, "x-amazon-apigateway-api-key-source",
                                  json_string(api->api_key_source));

    json_t *paths = json_object(), *schemes = json_object();
    for (size_t i = 0; i < n_routes; i++) {
        const Edge__V1__Route *r = routes[i];
        json_t *item = json_object_get(paths, r->path);
        if (!item) {
            item = json_object();
            (void)json_object_set_new(paths, r->path, item);
        }
        char method[32];
        if (strcmp(r->method, "ANY") == 0) {
            (void)snprintf(method, sizeof(method), "x-amazon-apigateway-any-method");
        } else {
            size_t k;
            for (k = 0; r->method[k] && k + 1 < sizeof(method); k++)
                method[k] = (char)tolower((unsigned char)r->method[k]);
            method[k] = '\0';
        }
        json_t *op = json_object();
        if (r->operation_id && *r->operation_id)
            (void)json_object_set_new(op, "operationId", json_string(r->operation_id));
        if (r->summary && *r->summary)
            (void)json_object_set_new(op, "summary", json_string(r->summary));
        json_t *params = path_params(r->path);
        if (json_array_size(params) > 0)
            (void)json_object_set_new(op, "parameters", params);
        else
            json_decref(params);
        if (r->api_key_required || r->n_auth_requirements > 0) {
            json_t *req = json_object();
            char buf[64];
            if (r->api_key_required)
                (void)json_object_set_new(req, key_scheme(schemes, r, buf, sizeof(buf)),
                                          json_array());
            for (size_t k = 0; k < r->n_auth_requirements; k++) {
                const char *name = r->auth_requirements[k];
                (void)json_object_set_new(req, name, json_array());
                if (!json_object_get(schemes, name))
                    (void)json_object_set_new(
                        schemes, name, json_pack("{s:s, s:s}", "type", "http", "scheme", "bearer"));
            }
            (void)json_object_set_new(op, "security", json_pack("[o]", req));
        }
        (void)json_object_set_new(op, "responses",
                                  json_pack("{s:{s:s}}", "default", "description", "response"));
        if (r->integration) {
            json_t *ig = json_pack("{s:s}", "upstream", s_or(r->integration->upstream, ""));
            if (r->integration->path && *r->integration->path)
                (void)json_object_set_new(ig, "path", json_string(r->integration->path));
            if (r->integration->timeout_ms)
                (void)json_object_set_new(ig, "timeout_ms",
                                          json_integer(r->integration->timeout_ms));
            (void)json_object_set_new(op, "x-edge-integration", ig);
        }
        (void)json_object_set_new(item, method, op);
    }
    (void)json_object_set_new(doc, "paths", paths);
    if (json_object_size(schemes) > 0)
        (void)json_object_set_new(doc, "components",
                                  json_pack("{s:o}", "securitySchemes", schemes));
    else
        json_decref(schemes);
    return doc;
}

/* A growable output buffer for the YAML writer. */
struct ybuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void
yput(struct ybuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void
yputs(struct ybuf *b, const char *s)
{
    yput(b, s, strlen(s));
}

static void
yindent(struct ybuf *b, int depth)
{
    for (int i = 0; i < depth; i++)
        yput(b, "  ", 2);
}

/* A scalar in flow form: strings double-quoted with JSON escapes (valid YAML 1.2, and never
 * re-typed: "1.0" stays a string), numbers, booleans and null as JSON writes them. */
static void
yscalar(struct ybuf *b, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        b->oom = true;
        return;
    }
    yputs(b, s);
    free(s);
}

/* A key that reads the same unquoted: identifier-like and not a YAML 1.1 boolean or null. */
static bool
yplain_key(const char *k)
{
    static const char *const special[] = {"y",     "n",    "yes",   "no",   "on",  "off", "true",
                                          "false", "null", "Y",     "N",    "Yes", "No",  "On",
                                          "Off",   "True", "False", "Null", "YES", "NO",  "ON",
                                          "OFF",   "TRUE", "FALSE", "NULL"};
    if (!isalpha((unsigned char)k[0]) && k[0] != '_')
        return false;
    for (const char *p = k; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
            return false;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (strcmp(k, special[i]) == 0)
            return false;
    return true;
}

static bool
ycontainer(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

/* Block-style YAML of a JSON tree. libfyaml's emitter is not used: in 0.7 it leaks on long
 * scalars (found by the importer's fuzz target) and its plain-scalar choice changes types. */
static void
yemit(struct ybuf *b, const json_t *v, int depth)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item)
        {
            yindent(b, depth);
            if (yplain_key(k)) {
                yputs(b, k);
            } else {
                json_t *key = json_string(k);
                yscalar(b, key);
                json_decref(key);
            }
            if (ycontainer(item)) {
                yputs(b, ":\n");
                yemit(b, item, depth + 1);
            } else {
                yputs(b, ": ");
                yscalar(b, item);
                yputs(b, "\n");
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            yindent(b, depth);
            if (ycontainer(item)) {
                yputs(b, "-\n");
                yemit(b, item, depth + 1);
            } else {
                yputs(b, "- ");
                yscalar(b, item);
                yputs(b, "\n");
            }
        }
    }
}

int
cp_importer_export(const Edge__V1__Api *api, Edge__V1__Route *const *routes, size_t n_routes,
                   Edge__V1__Upstream *const *upstreams, size_t n_upstreams, const char *server_url,
                   bool json, char **ret_doc, size_t *ret_len, char *err, size_t err_len)
{
    json_t *doc = build(api, routes, n_routes, upstreams, n_upstreams, server_url);

    if (!json) {
        struct ybuf b = {0};
        yemit(&b, doc, 0);
        json_decref(doc);
        if (b.oom || !b.p) {
            free(b.p);
            (void)snprintf(err, err_len, "out of memory");
            return -ENOMEM;
        }
        *ret_doc = b.p;
        *ret_len = b.len;
        return 0;
    }
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (!text) {
        (void)snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    size_t n = strlen(text);
    char *out = realloc(text, n + 2);
    if (!out) {
        free(text);
        (void)snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    *ret_doc = out;
    *ret_len = n + 1;
    return 0;
}
