/* Routes of an API. Uniqueness is (api, host, method, shape): the shape is the template with
 * parameter names dropped, so that the store refuses exactly what the route matcher could
 * not tell apart (edge_route_builder_add's -EEXIST). */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUTE_COLUMNS                                                                              \
    "SELECT r.id, a.name, r.method, r.path, r.host, r.headers, coalesce(u.name, r.upstream_ref),"  \
    " r.integration_path, r.integration_timeout_ms, r.api_key_required, r.authorizer,"             \
    " r.max_body_bytes, r.throttle_rate, r.throttle_burst, r.created_at, r.updated_at,"            \
    " r.operation_id, r.summary, r.api_key_in, r.api_key_name, r.auth_requirements"                \
    " FROM routes r JOIN apis a ON a.id = r.api_id LEFT JOIN upstreams u ON u.id = r.upstream_id "

#define STAGE_VAR "${stageVariables."

bool
cp_db_is_stage_var(const char *ref)
{
    return ref && strncmp(ref, STAGE_VAR, sizeof(STAGE_VAR) - 1) == 0;
}

int
cp_db_route_upstream(struct cp_store *st, const char *ref, int64_t *ret_id,
                     struct cp_store_err *err)
{
    if (cp_db_is_stage_var(ref)) {
        *ret_id = 0;
        return 0;
    }
    return cp_db_upstream_id(st, ref, ret_id, err);
}

/* Binds a route's upstream: the row (param) or the stage-variable reference (param_ref). */
static void
bind_upstream(sqlite3_stmt *s, int param, int param_ref, int64_t upstream_id, const char *ref)
{
    if (upstream_id)
        (void)sqlite3_bind_int64(s, param, upstream_id);
    else
        (void)sqlite3_bind_null(s, param);
    (void)cp_db_bind_text(s, param_ref, upstream_id ? "" : ref);
}

/* "/pets/{id}/{proxy+}" -> "/pets/{}/{+}". Returns an owned string. */
static char *
route_shape(const char *path)
{
    size_t n = strlen(path);
    char *out = edge_xcalloc(1, n + 1);
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (path[i] != '{') {
            out[o++] = path[i];
            continue;
        }
        const char *close = strchr(path + i, '}');
        if (!close) { /* not a valid template; keep it verbatim */
            memcpy(out + o, path + i, n - i);
            o += n - i;
            break;
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
headers_json(const Edge__V1__Route *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < r->n_headers; i++) {
        const Edge__V1__HeaderMatch *h = r->headers[i];
        (void)json_array_append_new(arr, json_pack("{s:s, s:s}", "name", h->name ? h->name : "",
                                                   "value", h->value ? h->value : ""));
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    if (!s) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return s;
}

static void
headers_parse(Edge__V1__Route *r, const char *text)
{
    json_t *arr = json_loads(text ? text : "[]", 0, NULL);
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        Edge__V1__HeaderMatch *h = edge_pb_new(&edge__v1__header_match__descriptor);
        h->name = edge_pb_strdup(json_string_value(json_object_get(v, "name")));
        h->value = edge_pb_strdup(json_string_value(json_object_get(v, "value")));
        edge_pb_append((void ***)&r->headers, &r->n_headers, h);
    }
    json_decref(arr);
}

/* auth_requirements as a JSON array of scheme names. Owned (free()). */
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

static Edge__V1__Route *
route_row(sqlite3_stmt *s)
{
    Edge__V1__Route *r = edge_pb_new(&edge__v1__route__descriptor);

    r->id = cp_db_col_str(s, 0);
    r->api = cp_db_col_str(s, 1);
    r->method = cp_db_col_str(s, 2);
    r->path = cp_db_col_str(s, 3);
    r->host = cp_db_col_str(s, 4);
    headers_parse(r, (const char *)sqlite3_column_text(s, 5));
    r->integration = edge_pb_new(&edge__v1__integration__descriptor);
    r->integration->upstream = cp_db_col_str(s, 6);
    r->integration->path = cp_db_col_str(s, 7);
    r->integration->timeout_ms = (uint32_t)sqlite3_column_int64(s, 8);
    r->api_key_required = sqlite3_column_int(s, 9) != 0;
    r->authorizer = cp_db_col_str(s, 10);
    r->max_body_bytes = (uint64_t)sqlite3_column_int64(s, 11);
    if (sqlite3_column_type(s, 12) != SQLITE_NULL) {
        r->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
        r->throttle->rate = sqlite3_column_double(s, 12);
        r->throttle->burst = (uint32_t)sqlite3_column_int64(s, 13);
    }
    r->created_at = sqlite3_column_int64(s, 14);
    r->updated_at = sqlite3_column_int64(s, 15);
    r->operation_id = cp_db_col_str(s, 16);
    r->summary = cp_db_col_str(s, 17);
    r->api_key_in = cp_db_col_str(s, 18);
    r->api_key_name = cp_db_col_str(s, 19);
    json_t *auth = json_loads((const char *)sqlite3_column_text(s, 20), 0, NULL);
    size_t ai;
    json_t *av;
    json_array_foreach(auth, ai, av)
    {
        edge_pb_append((void ***)&r->auth_requirements, &r->n_auth_requirements,
                       edge_pb_strdup_heap(json_string_value(av)));
    }
    json_decref(auth);
    return r;
}

int
cp_store_route_get(struct cp_store *st, const char *api, const char *id,
                   Edge__V1__Route **ret_route, struct cp_store_err *err)
{
    int64_t api_id;
    int r = cp_db_api_id(st, api, &api_id, err);

    if (r < 0)
        return r;
    sqlite3_stmt *s = cp_db_stmt(st, ROUTE_COLUMNS "WHERE r.api_id = ? AND r.id = ?");
    if (!s)
        return cp_db_fail(st, err, "get route");
    (void)sqlite3_bind_int64(s, 1, api_id);
    (void)cp_db_bind_text(s, 2, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *ret_route = route_row(s);
        r = 0;
    } else if (rc == SQLITE_DONE) {
        r = cp_store_fail(err, -ENOENT, "route '%s' not found in api '%s'", id, api);
    } else {
        r = cp_db_fail(st, err, "get route");
    }
    cp_db_done(s);
    return r;
}

int
cp_store_route_list(struct cp_store *st, const char *api, Edge__V1__ListRoutesResponse **ret_list,
                    struct cp_store_err *err)
{
    int64_t api_id;
    int r = cp_db_api_id(st, api, &api_id, err);
    int rc;

    if (r < 0)
        return r;
    sqlite3_stmt *s = cp_db_stmt(st, ROUTE_COLUMNS "WHERE r.api_id = ? "
                                                   "ORDER BY r.path, r.method, r.host, r.id");
    if (!s)
        return cp_db_fail(st, err, "list routes");
    (void)sqlite3_bind_int64(s, 1, api_id);
    Edge__V1__ListRoutesResponse *list = edge_pb_new(&edge__v1__list_routes_response__descriptor);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        edge_pb_append((void ***)&list->routes, &list->n_routes, route_row(s));
    if (rc != SQLITE_DONE) {
        r = cp_db_fail(st, err, "list routes");
        cp_db_done(s);
        edge_pb_free(list);
        return r;
    }
    cp_db_done(s);
    *ret_list = list;
    return 0;
}

/* -EEXIST naming the route that already has (host, method, shape) in the API, other than
 * self_id; 0 when there is none. */
static int
check_duplicate(struct cp_store *st, int64_t api_id, const char *api, const Edge__V1__Route *in,
                const char *shape, const char *self_id, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id, path FROM routes WHERE api_id = ? AND host = ? "
                                     "AND method = ? AND shape = ? AND id <> ?");
    int r = 0;

    if (!s)
        return cp_db_fail(st, err, "route");
    (void)sqlite3_bind_int64(s, 1, api_id);
    (void)cp_db_bind_text(s, 2, in->host);
    (void)cp_db_bind_text(s, 3, in->method);
    (void)cp_db_bind_text(s, 4, shape);
    (void)cp_db_bind_text(s, 5, self_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        r = cp_store_fail(err, -EEXIST, "route %s %s already exists in api '%s' (%s %s)",
                          in->method, in->path, api, (const char *)sqlite3_column_text(s, 0),
                          (const char *)sqlite3_column_text(s, 1));
    else if (rc != SQLITE_DONE)
        r = cp_db_fail(st, err, "route");
    cp_db_done(s);
    return r;
}

/* Binds parameters 1..14, 17..20 and 22 shared by INSERT and UPDATE. */
static void
bind_route(sqlite3_stmt *s, const Edge__V1__Route *in, int64_t upstream_id, const char *shape,
           const char *headers, int64_t now)
{
    const Edge__V1__Integration *ig = in->integration;

    (void)cp_db_bind_text(s, 1, in->method);
    (void)cp_db_bind_text(s, 2, in->path);
    (void)cp_db_bind_text(s, 3, shape);
    (void)cp_db_bind_text(s, 4, in->host);
    (void)cp_db_bind_text(s, 5, headers);
    bind_upstream(s, 6, 22, upstream_id, ig->upstream);
    (void)cp_db_bind_text(s, 7, ig->path);
    (void)sqlite3_bind_int64(s, 8, ig->timeout_ms);
    (void)sqlite3_bind_int(s, 9, in->api_key_required ? 1 : 0);
    (void)cp_db_bind_text(s, 10, in->authorizer);
    (void)sqlite3_bind_int64(s, 11, (sqlite3_int64)in->max_body_bytes);
    if (in->throttle) {
        (void)sqlite3_bind_double(s, 12, in->throttle->rate);
        (void)sqlite3_bind_int64(s, 13, in->throttle->burst);
    }
    (void)sqlite3_bind_int64(s, 14, now);
    (void)cp_db_bind_text(s, 17, in->operation_id);
    (void)cp_db_bind_text(s, 18, in->summary);
    (void)cp_db_bind_text(s, 19, in->api_key_in);
    (void)cp_db_bind_text(s, 20, in->api_key_name);
}

/* Writes a route; self_id NULL creates one. */
static int
route_write(struct cp_store *st, const char *actor, const Edge__V1__Route *in, const char *self_id,
            Edge__V1__Route **ret_route, struct cp_store_err *err)
{
    int64_t api_id, upstream_id, n;
    char id[16];
    char *shape = NULL, *headers = NULL, *auth = NULL;
    Edge__V1__Route *out = NULL;
    sqlite3_stmt *s;
    int r;

    if (!in->integration || !in->integration->upstream || !*in->integration->upstream)
        return cp_store_fail(err, -EINVAL, "route.integration.upstream: required");
    r = cp_db_begin(st, err);
    if (r < 0)
        return r;
    r = cp_db_api_id(st, in->api, &api_id, err);
    if (r < 0)
        goto fail;
    r = cp_db_route_upstream(st, in->integration->upstream, &upstream_id, err);
    if (r < 0)
        goto fail;
    if (self_id) {
        s = cp_db_stmt(st, "SELECT 1 FROM routes WHERE id = ? AND api_id = ?");
        if (!s) {
            r = cp_db_fail(st, err, "update route");
            goto fail;
        }
        (void)cp_db_bind_text(s, 1, self_id);
        (void)sqlite3_bind_int64(s, 2, api_id);
        r = cp_db_step_int(st, s, &n, err);
        if (r > 0)
            r = cp_store_fail(err, -ENOENT, "route '%s' not found in api '%s'", self_id, in->api);
        if (r < 0)
            goto fail;
        (void)snprintf(id, sizeof(id), "%s", self_id);
    } else {
        s = cp_db_stmt(st, "SELECT count(*) FROM routes WHERE api_id = ?");
        if (!s) {
            r = cp_db_fail(st, err, "create route");
            goto fail;
        }
        (void)sqlite3_bind_int64(s, 1, api_id);
        r = cp_db_step_int(st, s, &n, err);
        if (r < 0)
            goto fail;
        if (n >= CP_STORE_MAX_ROUTES_PER_API) {
            r = cp_store_fail(err, -E2BIG, "api '%s': at most %d routes", in->api,
                              CP_STORE_MAX_ROUTES_PER_API);
            goto fail;
        }
        cp_store_new_id('r', id, sizeof(id));
    }
    shape = route_shape(in->path ? in->path : "");
    r = check_duplicate(st, api_id, in->api, in, shape, id, err);
    if (r < 0)
        goto fail;
    headers = headers_json(in);
    auth = auth_json(in);
    int64_t now = cp_store_now();
    if (self_id)
        s = cp_db_stmt(st,
                       "UPDATE routes SET method = ?1, path = ?2, shape = ?3, host = ?4,"
                       " headers = ?5, upstream_id = ?6, integration_path = ?7,"
                       " integration_timeout_ms = ?8, api_key_required = ?9,"
                       " authorizer = ?10, max_body_bytes = ?11, throttle_rate = ?12,"
                       " throttle_burst = ?13, updated_at = ?14, operation_id = ?17, summary = ?18,"
                       " api_key_in = ?19, api_key_name = ?20, auth_requirements = ?21,"
                       " upstream_ref = ?22 WHERE id = ?15");
    else
        s = cp_db_stmt(st, "INSERT INTO routes (method, path, shape, host, headers, upstream_id,"
                           " integration_path, integration_timeout_ms, api_key_required,"
                           " authorizer, max_body_bytes, throttle_rate, throttle_burst,"
                           " updated_at, id, api_id, created_at, operation_id, summary, api_key_in,"
                           " api_key_name, auth_requirements, upstream_ref)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
                           " ?15, ?16, ?14, ?17, ?18, ?19, ?20, ?21, ?22)");
    if (!s) {
        r = cp_db_fail(st, err, "write route");
        goto fail;
    }
    bind_route(s, in, upstream_id, shape, headers, now);
    (void)cp_db_bind_text(s, 15, id);
    if (!self_id)
        (void)sqlite3_bind_int64(s, 16, api_id);
    (void)cp_db_bind_text(s, 21, auth);
    r = cp_db_step_done(st, s, "write route", err);
    if (r < 0)
        goto fail;
    if (ret_route && (r = cp_store_route_get(st, in->api, id, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, self_id ? "update" : "create", "route", id, NULL, err);
    if (r < 0)
        goto done;
    if (ret_route) {
        *ret_route = out;
        out = NULL;
    }
    goto done;
fail:
    cp_db_rollback(st);
done:
    edge_pb_free(out);
    free(shape);
    free(headers);
    free(auth);
    return r;
}

int
cp_store_route_create(struct cp_store *st, const char *actor, const Edge__V1__Route *in,
                      Edge__V1__Route **ret_route, struct cp_store_err *err)
{
    return route_write(st, actor, in, NULL, ret_route, err);
}

int
cp_store_route_update(struct cp_store *st, const char *actor, const Edge__V1__Route *in,
                      Edge__V1__Route **ret_route, struct cp_store_err *err)
{
    if (!in->id || !*in->id)
        return cp_store_fail(err, -EINVAL, "route.id: required");
    return route_write(st, actor, in, in->id, ret_route, err);
}

int
cp_store_route_delete(struct cp_store *st, const char *actor, const char *api, const char *id,
                      uint64_t *ret_revision, struct cp_store_err *err)
{
    int64_t api_id;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_api_id(st, api, &api_id, err);
    if (r < 0)
        goto fail;
    sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM routes WHERE id = ? AND api_id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "delete route");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, api_id);
    r = cp_db_step_done(st, s, "delete route", err);
    if (r < 0)
        goto fail;
    if (sqlite3_changes(st->db) == 0) {
        r = cp_store_fail(err, -ENOENT, "route '%s' not found in api '%s'", id, api);
        goto fail;
    }
    return cp_db_commit(st, actor, "delete", "route", id, ret_revision, err);
fail:
    cp_db_rollback(st);
    return r;
}
