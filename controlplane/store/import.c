/* The transactional write of an OpenAPI import: the API (created or updated), the upstreams
 * the document needs, and the routes added, changed or removed, all in one BEGIN IMMEDIATE
 * transaction with one revision and one audit row. A dry run performs the same writes and
 * rolls them back, so the plan it returns is exactly what a real import would do (limits,
 * conflicts and missing upstreams included). */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The template with parameter names dropped ("/pets/{id}" -> "/pets/{}"), as routes.c
 * computes it for the UNIQUE (api, host, method, shape) constraint. Owned. */
static char *
import_shape(const char *path)
{
    size_t n = strlen(path);
    char *out = edge_xcalloc(1, n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        const char *close = path[i] == '{' ? strchr(path + i, '}') : NULL;
        if (!close) {
            out[o++] = path[i];
            continue;
        }
        bool greedy = close > path + i + 1 && close[-1] == '+';
        memcpy(out + o, greedy ? "{+}" : "{}", greedy ? 3 : 2);
        o += greedy ? 3 : 2;
        i = (size_t)(close - path);
    }
    out[o] = '\0';
    return out;
}

static char *
auth_json(const Edge__V1__Route *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < r->n_auth_requirements; i++)
        (void)json_array_append_new(arr, json_string(r->auth_requirements[i]));
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!s) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return s;
}

static const char *
str(const char *s)
{
    return s ? s : "";
}

/* What differs between the stored route and the document's, as "field: old -> new; ...".
 * Empty when they are the same. */
static void
route_diff(const Edge__V1__Route *a, const Edge__V1__Route *b, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
#define DIFF_STR(label, x, y)                                                                      \
    if (strcmp(str(x), str(y)) != 0 && o < cap)                                                    \
    o += (size_t)snprintf(out + o, cap - o, "%s%s: '%s' -> '%s'", o ? "; " : "", label, str(x),    \
                          str(y))
    DIFF_STR("path", a->path, b->path);
    DIFF_STR("upstream", a->integration->upstream, b->integration->upstream);
    DIFF_STR("integration.path", a->integration->path, b->integration->path);
    if (a->integration->timeout_ms != b->integration->timeout_ms && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "%stimeout_ms: %u -> %u", o ? "; " : "",
                              a->integration->timeout_ms, b->integration->timeout_ms);
    if (a->api_key_required != b->api_key_required && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "%sapi_key_required: %s -> %s", o ? "; " : "",
                              a->api_key_required ? "true" : "false",
                              b->api_key_required ? "true" : "false");
    DIFF_STR("api_key_in", a->api_key_in, b->api_key_in);
    DIFF_STR("api_key_name", a->api_key_name, b->api_key_name);
    DIFF_STR("operation_id", a->operation_id, b->operation_id);
    DIFF_STR("summary", a->summary, b->summary);
    bool auth_same = a->n_auth_requirements == b->n_auth_requirements;
    for (size_t i = 0; auth_same && i < a->n_auth_requirements; i++)
        auth_same = strcmp(a->auth_requirements[i], b->auth_requirements[i]) == 0;
    if (!auth_same && o < cap)
        o += (size_t)snprintf(out + o, cap - o, "%sauth_requirements changed", o ? "; " : "");
#undef DIFF_STR
    if (o >= cap && cap > 0)
        out[cap - 1] = '\0';
}

static void
add_change(Edge__V1__ImportApiResponse *resp, const char *action, const Edge__V1__Route *r,
           const char *detail)
{
    Edge__V1__RouteChange *c = edge_pb_new(&edge__v1__route_change__descriptor);

    c->action = edge_pb_strdup(action);
    c->route = edge_pb_dup(&r->base);
    if (!c->route) {
        fputs("out of memory\n", stderr);
        abort();
    }
    c->detail = edge_pb_strdup(detail);
    edge_pb_append((void ***)&resp->changes, &resp->n_changes, c);
}

static int
write_api(struct cp_store *st, const Edge__V1__Api *api, Edge__V1__ImportMode mode, int64_t *ret_id,
          struct cp_store_err *err)
{
    int64_t id, now = cp_store_now();
    struct cp_store_err e2;
    int r = cp_db_api_id(st, api->name, &id, &e2);
    sqlite3_stmt *s;

    if (r == 0 && mode == EDGE__V1__IMPORT_MODE__IMPORT_MODE_CREATE)
        return cp_store_fail(err, -EEXIST,
                             "api '%s' already exists (import with mode overwrite or merge)",
                             api->name);
    if (r < 0 && r != -ENOENT) {
        *err = e2;
        return r;
    }
    if (r == -ENOENT) {
        s = cp_db_stmt(st, "INSERT INTO apis (name, description, created_at, updated_at, title,"
                           " version, api_key_source) VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)");
        if (!s)
            return cp_db_fail(st, err, "import api");
        (void)cp_db_bind_text(s, 1, api->name);
        (void)cp_db_bind_text(s, 2, api->description);
        (void)sqlite3_bind_int64(s, 3, now);
    } else {
        s = cp_db_stmt(st, "UPDATE apis SET description = ?2, updated_at = ?3, title = ?4,"
                           " version = ?5, api_key_source = ?6 WHERE name = ?1");
        if (!s)
            return cp_db_fail(st, err, "import api");
        (void)cp_db_bind_text(s, 1, api->name);
        (void)cp_db_bind_text(s, 2, api->description);
        (void)sqlite3_bind_int64(s, 3, now);
    }
    (void)cp_db_bind_text(s, 4, api->title);
    (void)cp_db_bind_text(s, 5, api->version);
    (void)cp_db_bind_text(s, 6, api->api_key_source);
    r = cp_db_step_done(st, s, "import api", err);
    if (r < 0)
        return r;
    return cp_db_api_id(st, api->name, ret_id, err);
}

/* Creates the upstreams the import needs that do not exist yet; existing ones are kept as
 * they are (an operator may have tuned them). */
static int
write_upstreams(struct cp_store *st, const Edge__V1__ImportApiResponse *resp,
                struct cp_store_err *err)
{
    int64_t now = cp_store_now();

    for (size_t i = 0; i < resp->n_upstreams; i++) {
        const Edge__V1__Upstream *u = resp->upstreams[i];
        int64_t id;
        struct cp_store_err e2;
        if (cp_db_upstream_id(st, u->name, &id, &e2) == 0)
            continue;
        sqlite3_stmt *s = cp_db_stmt(
            st, "INSERT INTO upstreams (name, lb, connect_timeout_ms, timeout_ms, retries,"
                " pool_size, tls, sni, hc_set, hc_path, hc_interval_ms, hc_timeout_ms,"
                " hc_healthy, hc_unhealthy, created_at, updated_at)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, '', 0, 0, 0, 0, ?9, ?9)");
        if (!s)
            return cp_db_fail(st, err, "import upstream");
        (void)cp_db_bind_text(s, 1, u->name);
        (void)sqlite3_bind_int(s, 2, (int)u->lb);
        (void)sqlite3_bind_int64(s, 3, u->connect_timeout_ms);
        (void)sqlite3_bind_int64(s, 4, u->timeout_ms);
        (void)sqlite3_bind_int64(s, 5, u->retries);
        (void)sqlite3_bind_int64(s, 6, u->pool_size);
        (void)sqlite3_bind_int(s, 7, u->tls ? 1 : 0);
        (void)cp_db_bind_text(s, 8, u->sni);
        (void)sqlite3_bind_int64(s, 9, now);
        int r = cp_db_step_done(st, s, "import upstream", err);
        if (r < 0)
            return r;
        id = sqlite3_last_insert_rowid(st->db);
        for (size_t t = 0; t < u->n_targets; t++) {
            s = cp_db_stmt(st, "INSERT INTO upstream_targets (upstream_id, pos, host, port, "
                               "weight) VALUES (?, ?, ?, ?, ?)");
            if (!s)
                return cp_db_fail(st, err, "import upstream");
            (void)sqlite3_bind_int64(s, 1, id);
            (void)sqlite3_bind_int64(s, 2, (int64_t)t);
            (void)cp_db_bind_text(s, 3, u->targets[t]->host);
            (void)sqlite3_bind_int64(s, 4, u->targets[t]->port);
            (void)sqlite3_bind_int64(s, 5, u->targets[t]->weight ? u->targets[t]->weight : 1);
            if ((r = cp_db_step_done(st, s, "import upstream", err)) < 0)
                return r;
        }
    }
    return 0;
}

/* INSERT (id new) or UPDATE (id of an existing route) of one route. */
static int
write_route(struct cp_store *st, int64_t api_id, const Edge__V1__Route *in, const char *id,
            bool update, const char *shape, struct cp_store_err *err)
{
    int64_t upstream_id;
    int r = cp_db_route_upstream(st, in->integration->upstream, &upstream_id, err);

    if (r < 0)
        return r;
    sqlite3_stmt *s;
    if (update)
        s = cp_db_stmt(st, "UPDATE routes SET method = ?1, path = ?2, shape = ?3,"
                           " upstream_id = ?4, integration_path = ?5, integration_timeout_ms = ?6,"
                           " api_key_required = ?7, operation_id = ?8, summary = ?9,"
                           " api_key_in = ?10, api_key_name = ?11, auth_requirements = ?12,"
                           " updated_at = ?13, upstream_ref = ?16 WHERE id = ?14");
    else
        s = cp_db_stmt(st, "INSERT INTO routes (method, path, shape, upstream_id,"
                           " integration_path, integration_timeout_ms, api_key_required,"
                           " operation_id, summary, api_key_in, api_key_name, auth_requirements,"
                           " updated_at, id, api_id, host, headers, authorizer, max_body_bytes,"
                           " created_at, upstream_ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                           " ?9, ?10, ?11, ?12, ?13, ?14, ?15, '', '[]', '', 0, ?13, ?16)");
    if (!s)
        return cp_db_fail(st, err, "import route");
    char *auth = auth_json(in);
    (void)cp_db_bind_text(s, 1, in->method);
    (void)cp_db_bind_text(s, 2, in->path);
    (void)cp_db_bind_text(s, 3, shape);
    if (upstream_id) /* 0: a stage variable, kept in upstream_ref */
        (void)sqlite3_bind_int64(s, 4, upstream_id);
    else
        (void)sqlite3_bind_null(s, 4);
    (void)cp_db_bind_text(s, 16, upstream_id ? "" : in->integration->upstream);
    (void)cp_db_bind_text(s, 5, in->integration->path);
    (void)sqlite3_bind_int64(s, 6, in->integration->timeout_ms);
    (void)sqlite3_bind_int(s, 7, in->api_key_required ? 1 : 0);
    (void)cp_db_bind_text(s, 8, in->operation_id);
    (void)cp_db_bind_text(s, 9, in->summary);
    (void)cp_db_bind_text(s, 10, in->api_key_in);
    (void)cp_db_bind_text(s, 11, in->api_key_name);
    (void)cp_db_bind_text(s, 12, auth);
    (void)sqlite3_bind_int64(s, 13, cp_store_now());
    (void)cp_db_bind_text(s, 14, id);
    if (!update)
        (void)sqlite3_bind_int64(s, 15, api_id);
    r = cp_db_step_done(st, s, "import route", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "route %s %s conflicts with another route of the api",
                          in->method, in->path);
    free(auth);
    return r;
}

static int
delete_route(struct cp_store *st, const char *id, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM routes WHERE id = ?");

    if (!s)
        return cp_db_fail(st, err, "import: delete route");
    (void)cp_db_bind_text(s, 1, id);
    return cp_db_step_done(st, s, "import: delete route", err);
}

int
cp_store_api_import(struct cp_store *st, const char *actor, Edge__V1__ImportMode mode, bool dry_run,
                    const Edge__V1__ListRoutesResponse *routes, Edge__V1__ImportApiResponse *resp,
                    struct cp_store_err *err)
{
    const Edge__V1__Api *api = resp->api;
    Edge__V1__ListRoutesResponse *cur = NULL;
    char **cur_shapes = NULL;
    bool *matched = NULL;
    int64_t api_id;
    char detail[1024];
    int r;

    if (routes->n_routes > CP_STORE_MAX_ROUTES_PER_API)
        return cp_store_fail(err, -E2BIG, "api '%s': %zu routes; at most %d", api->name,
                             routes->n_routes, CP_STORE_MAX_ROUTES_PER_API);
    if ((r = cp_db_begin(st, err)) < 0)
        return r;
    if ((r = write_api(st, api, mode, &api_id, err)) < 0)
        goto fail;
    if ((r = write_upstreams(st, resp, err)) < 0)
        goto fail;
    if ((r = cp_store_route_list(st, api->name, &cur, err)) < 0)
        goto fail;
    cur_shapes = edge_xcalloc(cur->n_routes + 1, sizeof(*cur_shapes));
    matched = edge_xcalloc(cur->n_routes + 1, sizeof(*matched));
    for (size_t i = 0; i < cur->n_routes; i++)
        cur_shapes[i] = import_shape(cur->routes[i]->path);

    size_t kept = 0;
    for (size_t i = 0; i < routes->n_routes; i++) {
        Edge__V1__Route *in = routes->routes[i];
        char *shape = import_shape(in->path);
        size_t j;
        /* Existing APIs are small next to documents; a linear scan per route is fine up to the
         * route limit (and a fresh API has none). */
        for (j = 0; j < cur->n_routes; j++) {
            const Edge__V1__Route *c = cur->routes[j];
            if (!matched[j] && !*c->host && strcmp(c->method, in->method) == 0 &&
                strcmp(cur_shapes[j], shape) == 0)
                break;
        }
        if (j < cur->n_routes) {
            matched[j] = true;
            route_diff(cur->routes[j], in, detail, sizeof(detail));
            Edge__V1__Route *out = edge_pb_dup(&in->base);
            out->id = edge_pb_strdup(cur->routes[j]->id);
            if (detail[0]) {
                r = write_route(st, api_id, in, cur->routes[j]->id, true, shape, err);
                if (r == 0)
                    add_change(resp, "change", out, detail);
            } else {
                add_change(resp, "keep", out, "");
            }
            edge_pb_free(out);
        } else {
            char id[16];
            cp_store_new_id('r', id, sizeof(id));
            r = write_route(st, api_id, in, id, false, shape, err);
            if (r == 0) {
                Edge__V1__Route *out = edge_pb_dup(&in->base);
                out->id = edge_pb_strdup(dry_run ? "" : id);
                add_change(resp, "add", out, "");
                edge_pb_free(out);
            }
        }
        free(shape);
        if (r < 0)
            goto fail;
    }
    for (size_t j = 0; j < cur->n_routes; j++) {
        if (matched[j])
            continue;
        if (mode != EDGE__V1__IMPORT_MODE__IMPORT_MODE_OVERWRITE) {
            kept++;
            continue;
        }
        if ((r = delete_route(st, cur->routes[j]->id, err)) < 0)
            goto fail;
        add_change(resp, "remove", cur->routes[j], "not in the document");
    }
    int64_t total;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT count(*) FROM routes WHERE api_id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "import");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, api_id);
    if ((r = cp_db_step_int(st, s, &total, err)) < 0)
        goto fail;
    if (total > CP_STORE_MAX_ROUTES_PER_API) {
        r = cp_store_fail(err, -E2BIG, "api '%s': the import would leave %lld routes; at most %d",
                          api->name, (long long)total, CP_STORE_MAX_ROUTES_PER_API);
        goto fail;
    }
    (void)kept;
    Edge__V1__Api *stored = NULL;
    if ((r = cp_store_api_get(st, api->name, &stored, err)) < 0)
        goto fail;
    edge_pb_free(resp->api);
    resp->api = stored;
    api = stored; /* the document's copy is gone */
    resp->dry_run = dry_run;
    if (dry_run) {
        cp_db_rollback(st);
        resp->revision = 0;
        r = 0;
    } else {
        uint64_t rev = 0;
        r = cp_db_commit(st, actor, "import", "api", api->name, &rev, err);
        resp->revision = rev;
    }
    goto done;
fail:
    cp_db_rollback(st);
done:
    if (cur_shapes)
        for (size_t j = 0; j < cur->n_routes; j++)
            free(cur_shapes[j]);
    free(cur_shapes);
    free(matched);
    edge_pb_free(cur);
    return r;
}
