/* What gets served: deployments (frozen route sets), stages (named pointers to deployments)
 * and domain mappings ((host, base path) -> stage). */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deployments -------------------------------------------------------------------------- */

int
cp_db_deployment_load(struct cp_store *st, const char *id, bool with_routes,
                      Edge__V1__Deployment **ret_deployment, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT d.id, a.name, d.description, d.created_at,"
                                     " d.revision, d.routes FROM deployments d"
                                     " JOIN apis a ON a.id = d.api_id WHERE d.id = ?");
    int r = 0;

    if (!s)
        return cp_db_fail(st, err, "get deployment");
    (void)cp_db_bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        r = rc == SQLITE_DONE ? cp_store_fail(err, -ENOENT, "deployment '%s' not found", id)
                              : cp_db_fail(st, err, "get deployment");
        cp_db_done(s);
        return r;
    }
    Edge__V1__Deployment *d = edge_pb_new(&edge__v1__deployment__descriptor);
    d->id = cp_db_col_str(s, 0);
    d->api = cp_db_col_str(s, 1);
    d->description = cp_db_col_str(s, 2);
    d->created_at = sqlite3_column_int64(s, 3);
    d->revision = (uint64_t)sqlite3_column_int64(s, 4);
    if (with_routes) {
        const void *blob = sqlite3_column_blob(s, 5);
        size_t len = (size_t)sqlite3_column_bytes(s, 5);
        Edge__V1__ListRoutesResponse *routes =
            edge__v1__list_routes_response__unpack(NULL, len, blob);
        if (!routes) {
            r = cp_store_fail(err, -EIO, "deployment '%s': stored routes do not parse", id);
        } else {
            /* Take the array over; the unpacked tree uses the default allocator (malloc). */
            d->routes = routes->routes;
            d->n_routes = routes->n_routes;
            routes->routes = NULL;
            routes->n_routes = 0;
            edge_pb_free(routes);
        }
    }
    cp_db_done(s);
    if (r < 0) {
        edge_pb_free(d);
        return r;
    }
    *ret_deployment = d;
    return 0;
}

int
cp_store_deployment_get(struct cp_store *st, const char *api, const char *id,
                        Edge__V1__Deployment **ret_deployment, struct cp_store_err *err)
{
    int64_t api_id, one;
    int r = cp_db_api_id(st, api, &api_id, err);

    if (r < 0)
        return r;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT 1 FROM deployments WHERE id = ? AND api_id = ?");
    if (!s)
        return cp_db_fail(st, err, "get deployment");
    (void)cp_db_bind_text(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, api_id);
    r = cp_db_step_int(st, s, &one, err);
    if (r > 0)
        return cp_store_fail(err, -ENOENT, "deployment '%s' not found in api '%s'", id, api);
    if (r < 0)
        return r;
    return cp_db_deployment_load(st, id, true, ret_deployment, err);
}

int
cp_store_deployment_list(struct cp_store *st, const char *api,
                         Edge__V1__ListDeploymentsResponse **ret_list, struct cp_store_err *err)
{
    int64_t api_id;
    int r = cp_db_api_id(st, api, &api_id, err);
    int rc;

    if (r < 0)
        return r;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT d.id, a.name, d.description, d.created_at,"
                                     " d.revision FROM deployments d"
                                     " JOIN apis a ON a.id = d.api_id WHERE d.api_id = ?"
                                     " ORDER BY d.revision DESC, d.id");
    if (!s)
        return cp_db_fail(st, err, "list deployments");
    (void)sqlite3_bind_int64(s, 1, api_id);
    Edge__V1__ListDeploymentsResponse *list =
        edge_pb_new(&edge__v1__list_deployments_response__descriptor);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__Deployment *d = edge_pb_new(&edge__v1__deployment__descriptor);
        d->id = cp_db_col_str(s, 0);
        d->api = cp_db_col_str(s, 1);
        d->description = cp_db_col_str(s, 2);
        d->created_at = sqlite3_column_int64(s, 3);
        d->revision = (uint64_t)sqlite3_column_int64(s, 4);
        edge_pb_append((void ***)&list->deployments, &list->n_deployments, d);
    }
    if (rc != SQLITE_DONE) {
        r = cp_db_fail(st, err, "list deployments");
        cp_db_done(s);
        edge_pb_free(list);
        return r;
    }
    cp_db_done(s);
    *ret_list = list;
    return 0;
}

static int
insert_deployment(struct cp_store *st, int64_t api_id, const char *id, const char *description,
                  const Edge__V1__ListRoutesResponse *routes, struct cp_store_err *err)
{
    int64_t rev;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT revision FROM meta WHERE id = 1");
    int r;

    if (!s)
        return cp_db_fail(st, err, "deploy");
    r = cp_db_step_int(st, s, &rev, err);
    if (r != 0)
        return r < 0 ? r : cp_store_fail(err, -EIO, "meta row missing");

    size_t len = edge__v1__list_routes_response__get_packed_size(routes);
    uint8_t *blob = edge_xcalloc(1, len);
    (void)edge__v1__list_routes_response__pack(routes, blob);
    s = cp_db_stmt(st, "INSERT INTO deployments (id, api_id, description, created_at, revision,"
                       " routes) VALUES (?, ?, ?, ?, ?, ?)");
    if (!s) {
        free(blob);
        return cp_db_fail(st, err, "deploy");
    }
    (void)cp_db_bind_text(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, api_id);
    (void)cp_db_bind_text(s, 3, description);
    (void)sqlite3_bind_int64(s, 4, cp_store_now());
    /* The revision this transaction's commit will make. */
    (void)sqlite3_bind_int64(s, 5, rev + 1);
    (void)sqlite3_bind_blob(s, 6, blob, (int)len, free);
    r = cp_db_step_done(st, s, "deploy", err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < routes->n_routes; i++) {
        const Edge__V1__Route *rt = routes->routes[i];
        /* A stage variable is no upstream of its own: each stage's value says which. */
        if (rt->integration && cp_db_is_stage_var(rt->integration->upstream))
            continue;
        s = cp_db_stmt(st, "INSERT OR IGNORE INTO deployment_upstreams (deployment_id, upstream)"
                           " VALUES (?, ?)");
        if (!s)
            return cp_db_fail(st, err, "deploy");
        (void)cp_db_bind_text(s, 1, id);
        (void)cp_db_bind_text(s, 2, rt->integration ? rt->integration->upstream : "");
        r = cp_db_step_done(st, s, "deploy", err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A canary needs a stage that already serves a deployment: the canary is measured against
 * it. missing: the stage row was not found. */
static int
canary_target(struct cp_store *st, const char *api, const char *stage, bool missing,
              int64_t stage_id, struct cp_store_err *err)
{
    if (missing)
        return cp_store_fail(err, -ENOENT,
                             "stage '%s' of api '%s' not found (a canary needs a "
                             "stage that serves a deployment)",
                             stage, api);
    int64_t one;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT 1 FROM stages WHERE id = ? AND deployment_id IS NOT"
                                     " NULL AND deployment_id <> ''");
    if (!s)
        return cp_db_fail(st, err, "deploy");
    (void)sqlite3_bind_int64(s, 1, stage_id);
    int r = cp_db_step_int(st, s, &one, err);
    if (r > 0)
        return cp_store_fail(err, -ENODATA,
                             "stage '%s' of api '%s' serves no deployment yet: deploy it "
                             "before deploying a canary",
                             stage, api);
    return r;
}

/* canary NULL: the stage (created if needed) serves the new deployment; otherwise the
 * existing stage keeps its deployment and gets the new one as its canary. */
static int
deployment_create(struct cp_store *st, const char *actor, const char *api, const char *stage,
                  const char *description, const Edge__V1__Canary *canary,
                  Edge__V1__Deployment **ret_deployment, struct cp_store_err *err)
{
    Edge__V1__ListRoutesResponse *routes = NULL;
    Edge__V1__Deployment *out = NULL;
    int64_t api_id, stage_id;
    char id[16];
    sqlite3_stmt *s;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_api_id(st, api, &api_id, err);
    if (r < 0)
        goto fail;
    r = cp_store_route_list(st, api, &routes, err);
    if (r < 0)
        goto fail;
    if (routes->n_routes == 0) {
        r = cp_store_fail(err, -ENODATA, "api '%s' has no routes to deploy", api);
        goto fail;
    }
    cp_store_new_id('d', id, sizeof(id));
    r = insert_deployment(st, api_id, id, description, routes, err);
    if (r < 0)
        goto fail;

    s = cp_db_stmt(st, "SELECT id FROM stages WHERE api_id = ? AND name = ?");
    if (!s) {
        r = cp_db_fail(st, err, "deploy");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, api_id);
    (void)cp_db_bind_text(s, 2, stage);
    r = cp_db_step_int(st, s, &stage_id, err);
    if (r < 0)
        goto fail;
    if (canary) {
        r = canary_target(st, api, stage, r > 0, stage_id, err);
        if (r < 0)
            goto fail;
        s = cp_db_stmt(st, "UPDATE stages SET canary_deployment_id = ?3, canary_percent = ?5,"
                           " canary_sticky = ?6, canary_set = 1, updated_at = ?4"
                           " WHERE api_id = ?1 AND name = ?2");
        if (s) {
            (void)sqlite3_bind_double(s, 5, canary->percent);
            (void)sqlite3_bind_int(s, 6, canary->sticky ? 1 : 0);
        }
    } else if (r > 0)
        s = cp_db_stmt(st, "INSERT INTO stages (api_id, name, deployment_id, canary_percent,"
                           " canary_sticky, canary_set, description, access_log, created_at,"
                           " updated_at) VALUES (?1, ?2, ?3, 0, 0, 0, '', 0, ?4, ?4)");
    else
        s = cp_db_stmt(st, "UPDATE stages SET deployment_id = ?3, updated_at = ?4"
                           " WHERE api_id = ?1 AND name = ?2");
    if (!s) {
        r = cp_db_fail(st, err, "deploy");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, api_id);
    (void)cp_db_bind_text(s, 2, stage);
    (void)cp_db_bind_text(s, 3, id);
    (void)sqlite3_bind_int64(s, 4, cp_store_now());
    r = cp_db_step_done(st, s, "deploy", err);
    if (r < 0)
        goto fail;
    if (ret_deployment && (r = cp_db_deployment_load(st, id, true, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, "deploy", "deployment", id, NULL, err);
    if (r < 0)
        goto done;
    if (ret_deployment) {
        *ret_deployment = out;
        out = NULL;
    }
    goto done;
fail:
    cp_db_rollback(st);
done:
    edge_pb_free(out);
    edge_pb_free(routes);
    return r;
}

int
cp_store_deployment_create(struct cp_store *st, const char *actor, const char *api,
                           const char *stage, const char *description,
                           Edge__V1__Deployment **ret_deployment, struct cp_store_err *err)
{
    return deployment_create(st, actor, api, stage, description, NULL, ret_deployment, err);
}

int
cp_store_deployment_create_canary(struct cp_store *st, const char *actor, const char *api,
                                  const char *stage, const char *description,
                                  const Edge__V1__Canary *canary,
                                  Edge__V1__Deployment **ret_deployment, struct cp_store_err *err)
{
    return deployment_create(st, actor, api, stage, description, canary, ret_deployment, err);
}

/* ---- stages ------------------------------------------------------------------------------- */

int
cp_db_stage_load(struct cp_store *st, int64_t id, Edge__V1__Stage **ret_stage,
                 struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT a.name, s.name, s.deployment_id, s.throttle_rate,"
                                     " s.throttle_burst, s.canary_deployment_id,"
                                     " s.canary_percent, s.canary_sticky, s.canary_set,"
                                     " s.description, s.access_log, s.created_at, s.updated_at"
                                     " FROM stages s JOIN apis a ON a.id = s.api_id"
                                     " WHERE s.id = ?");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "get stage");
    (void)sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int r = rc == SQLITE_DONE ? cp_store_fail(err, -ENOENT, "stage not found")
                                  : cp_db_fail(st, err, "get stage");
        cp_db_done(s);
        return r;
    }
    Edge__V1__Stage *g = edge_pb_new(&edge__v1__stage__descriptor);
    g->api = cp_db_col_str(s, 0);
    g->name = cp_db_col_str(s, 1);
    g->deployment_id = cp_db_col_str(s, 2);
    if (sqlite3_column_type(s, 3) != SQLITE_NULL) {
        g->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
        g->throttle->rate = sqlite3_column_double(s, 3);
        g->throttle->burst = (uint32_t)sqlite3_column_int64(s, 4);
    }
    if (sqlite3_column_int(s, 8)) {
        g->canary = edge_pb_new(&edge__v1__canary__descriptor);
        g->canary->deployment_id = cp_db_col_str(s, 5);
        g->canary->percent = sqlite3_column_double(s, 6);
        g->canary->sticky = sqlite3_column_int(s, 7) != 0;
    }
    g->description = cp_db_col_str(s, 9);
    g->access_log = sqlite3_column_int(s, 10) != 0;
    g->created_at = sqlite3_column_int64(s, 11);
    g->updated_at = sqlite3_column_int64(s, 12);
    cp_db_done(s);

    s = cp_db_stmt(st, "SELECT name, value FROM stage_variables WHERE stage_id = ? ORDER BY name");
    if (!s) {
        edge_pb_free(g);
        return cp_db_fail(st, err, "get stage");
    }
    (void)sqlite3_bind_int64(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__Stage__VariablesEntry *v =
            edge_pb_new(&edge__v1__stage__variables_entry__descriptor);
        v->key = cp_db_col_str(s, 0);
        v->value = cp_db_col_str(s, 1);
        edge_pb_append((void ***)&g->variables, &g->n_variables, v);
    }
    if (rc != SQLITE_DONE) {
        int r = cp_db_fail(st, err, "get stage");
        cp_db_done(s);
        edge_pb_free(g);
        return r;
    }
    cp_db_done(s);
    *ret_stage = g;
    return 0;
}

int
cp_store_stage_get(struct cp_store *st, const char *api, const char *name,
                   Edge__V1__Stage **ret_stage, struct cp_store_err *err)
{
    int64_t id;
    int r = cp_db_stage_id(st, api, name, &id, err);

    if (r < 0)
        return r;
    return cp_db_stage_load(st, id, ret_stage, err);
}

int
cp_store_stage_list(struct cp_store *st, const char *api, Edge__V1__ListStagesResponse **ret_list,
                    struct cp_store_err *err)
{
    int64_t api_id, *ids = NULL;
    size_t n = 0;
    int r = cp_db_api_id(st, api, &api_id, err);
    int rc;

    if (r < 0)
        return r;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id FROM stages WHERE api_id = ? ORDER BY name");
    if (!s)
        return cp_db_fail(st, err, "list stages");
    (void)sqlite3_bind_int64(s, 1, api_id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ids = edge_xrealloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = sqlite3_column_int64(s, 0);
    }
    if (rc != SQLITE_DONE)
        r = cp_db_fail(st, err, "list stages");
    cp_db_done(s);
    Edge__V1__ListStagesResponse *list = edge_pb_new(&edge__v1__list_stages_response__descriptor);
    for (size_t i = 0; r == 0 && i < n; i++) {
        Edge__V1__Stage *g;
        r = cp_db_stage_load(st, ids[i], &g, err);
        if (r == 0)
            edge_pb_append((void ***)&list->stages, &list->n_stages, g);
    }
    free(ids);
    if (r < 0) {
        edge_pb_free(list);
        return r;
    }
    *ret_list = list;
    return 0;
}

/* -ENOENT unless deployment id belongs to the API. */
static int
check_deployment(struct cp_store *st, int64_t api_id, const char *api, const char *field,
                 const char *id, struct cp_store_err *err)
{
    int64_t one;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT 1 FROM deployments WHERE id = ? AND api_id = ?");

    if (!s)
        return cp_db_fail(st, err, "stage");
    (void)cp_db_bind_text(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, api_id);
    int r = cp_db_step_int(st, s, &one, err);
    if (r > 0)
        return cp_store_fail(err, -ENOENT, "%s: deployment '%s' not found in api '%s'", field, id,
                             api);
    if (r < 0)
        return r;
    /* An old deployment may name an upstream deleted since (allowed while no stage served
     * it): serving it again would send traffic nowhere. */
    s = cp_db_stmt(st, "SELECT upstream FROM deployment_upstreams WHERE deployment_id = ?"
                       " AND upstream NOT IN (SELECT name FROM upstreams) ORDER BY upstream");
    if (!s)
        return cp_db_fail(st, err, "stage");
    (void)cp_db_bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        r = cp_store_fail(err, -ENODATA,
                          "%s: deployment '%s' uses upstream '%s', which no "
                          "longer exists",
                          field, id, (const char *)sqlite3_column_text(s, 0));
    else if (rc != SQLITE_DONE)
        r = cp_db_fail(st, err, "stage");
    cp_db_done(s);
    return r;
}

static int
stage_write(struct cp_store *st, const char *actor, const Edge__V1__Stage *in, bool update,
            Edge__V1__Stage **ret_stage, struct cp_store_err *err)
{
    const Edge__V1__Canary *c = in->canary;
    bool has_dep = in->deployment_id && *in->deployment_id;
    bool has_canary_dep = c && c->deployment_id && *c->deployment_id;
    Edge__V1__Stage *out = NULL;
    int64_t api_id, id = 0;
    char object_id[160];
    sqlite3_stmt *s;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_api_id(st, in->api, &api_id, err);
    if (r < 0)
        goto fail;
    if (update && (r = cp_db_stage_id(st, in->api, in->name, &id, err)) < 0)
        goto fail;
    if (has_dep && (r = check_deployment(st, api_id, in->api, "stage.deployment_id",
                                         in->deployment_id, err)) < 0)
        goto fail;
    if (has_canary_dep && (r = check_deployment(st, api_id, in->api, "stage.canary.deployment_id",
                                                c->deployment_id, err)) < 0)
        goto fail;
    if (update)
        s = cp_db_stmt(st, "UPDATE stages SET deployment_id = ?3, throttle_rate = ?4,"
                           " throttle_burst = ?5, canary_deployment_id = ?6,"
                           " canary_percent = ?7, canary_sticky = ?8, canary_set = ?9,"
                           " description = ?10, access_log = ?11, updated_at = ?12"
                           " WHERE api_id = ?1 AND name = ?2");
    else
        s = cp_db_stmt(st, "INSERT INTO stages (api_id, name, deployment_id, throttle_rate,"
                           " throttle_burst, canary_deployment_id, canary_percent,"
                           " canary_sticky, canary_set, description, access_log, updated_at,"
                           " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
                           " ?12, ?12)");
    if (!s) {
        r = cp_db_fail(st, err, "write stage");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, api_id);
    (void)cp_db_bind_text(s, 2, in->name);
    if (has_dep)
        (void)cp_db_bind_text(s, 3, in->deployment_id);
    if (in->throttle) {
        (void)sqlite3_bind_double(s, 4, in->throttle->rate);
        (void)sqlite3_bind_int64(s, 5, in->throttle->burst);
    }
    if (has_canary_dep)
        (void)cp_db_bind_text(s, 6, c->deployment_id);
    (void)sqlite3_bind_double(s, 7, c ? c->percent : 0);
    (void)sqlite3_bind_int(s, 8, c && c->sticky ? 1 : 0);
    (void)sqlite3_bind_int(s, 9, c ? 1 : 0);
    (void)cp_db_bind_text(s, 10, in->description);
    (void)sqlite3_bind_int(s, 11, in->access_log ? 1 : 0);
    (void)sqlite3_bind_int64(s, 12, cp_store_now());
    r = cp_db_step_done(st, s, "write stage", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "stage '%s' of api '%s' already exists", in->name, in->api);
    if (r < 0)
        goto fail;
    if (!update)
        id = sqlite3_last_insert_rowid(st->db);

    s = cp_db_stmt(st, "DELETE FROM stage_variables WHERE stage_id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "stage variables");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, id);
    if ((r = cp_db_step_done(st, s, "stage variables", err)) < 0)
        goto fail;
    for (size_t i = 0; i < in->n_variables; i++) {
        s = cp_db_stmt(st, "INSERT INTO stage_variables (stage_id, name, value) VALUES (?, ?, ?)");
        if (!s) {
            r = cp_db_fail(st, err, "stage variables");
            goto fail;
        }
        (void)sqlite3_bind_int64(s, 1, id);
        (void)cp_db_bind_text(s, 2, in->variables[i]->key);
        (void)cp_db_bind_text(s, 3, in->variables[i]->value);
        r = cp_db_step_done(st, s, "stage variables", err);
        if (r == -EEXIST)
            r = cp_store_fail(err, -EINVAL, "stage.variables: '%s' appears twice",
                              in->variables[i]->key);
        if (r < 0)
            goto fail;
    }
    if (ret_stage && (r = cp_db_stage_load(st, id, &out, err)) < 0)
        goto fail;
    (void)snprintf(object_id, sizeof(object_id), "%s/%s", in->api, in->name);
    r = cp_db_commit(st, actor, update ? "update" : "create", "stage", object_id, NULL, err);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (ret_stage)
        *ret_stage = out;
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_store_stage_create(struct cp_store *st, const char *actor, const Edge__V1__Stage *in,
                      Edge__V1__Stage **ret_stage, struct cp_store_err *err)
{
    return stage_write(st, actor, in, false, ret_stage, err);
}

int
cp_store_stage_update(struct cp_store *st, const char *actor, const Edge__V1__Stage *in,
                      Edge__V1__Stage **ret_stage, struct cp_store_err *err)
{
    return stage_write(st, actor, in, true, ret_stage, err);
}

int
cp_store_stage_promote_canary(struct cp_store *st, const char *actor, const char *api,
                              const char *name, Edge__V1__Stage **ret_stage,
                              struct cp_store_err *err)
{
    Edge__V1__Stage *out = NULL;
    char object_id[160], canary[32] = "";
    int64_t api_id, id;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    if ((r = cp_db_api_id(st, api, &api_id, err)) < 0 ||
        (r = cp_db_stage_id(st, api, name, &id, err)) < 0)
        goto fail;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT canary_deployment_id FROM stages WHERE id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "promote canary");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, id);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_TEXT)
        (void)snprintf(canary, sizeof(canary), "%s", (const char *)sqlite3_column_text(s, 0));
    cp_db_done(s);
    if (!canary[0]) {
        r = cp_store_fail(err, -ENODATA, "stage '%s' of api '%s' has no canary to promote", name,
                          api);
        goto fail;
    }
    /* Its upstreams may have gone since it became the canary. */
    if ((r = check_deployment(st, api_id, api, "stage.canary.deployment_id", canary, err)) < 0)
        goto fail;
    s = cp_db_stmt(st, "UPDATE stages SET deployment_id = canary_deployment_id,"
                       " canary_deployment_id = NULL, canary_percent = 0, canary_sticky = 0,"
                       " canary_set = 0, updated_at = ? WHERE id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "promote canary");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, cp_store_now());
    (void)sqlite3_bind_int64(s, 2, id);
    if ((r = cp_db_step_done(st, s, "promote canary", err)) < 0)
        goto fail;
    if (ret_stage && (r = cp_db_stage_load(st, id, &out, err)) < 0)
        goto fail;
    (void)snprintf(object_id, sizeof(object_id), "%s/%s", api, name);
    r = cp_db_commit(st, actor, "promote-canary", "stage", object_id, NULL, err);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (ret_stage)
        *ret_stage = out;
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_store_stage_delete(struct cp_store *st, const char *actor, const char *api, const char *name,
                      uint64_t *ret_revision, struct cp_store_err *err)
{
    char object_id[160];
    int64_t id;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_stage_id(st, api, name, &id, err);
    if (r < 0)
        goto fail;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT host, base_path FROM domain_mappings"
                                     " WHERE stage_id = ? ORDER BY host, base_path LIMIT 1");
    if (!s) {
        r = cp_db_fail(st, err, "delete stage");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        r = cp_store_fail(err, -EBUSY, "stage '%s' of api '%s' is in use by domain mapping '%s%s'",
                          name, api, (const char *)sqlite3_column_text(s, 0),
                          (const char *)sqlite3_column_text(s, 1));
    else if (rc != SQLITE_DONE)
        r = cp_db_fail(st, err, "delete stage");
    cp_db_done(s);
    if (r < 0)
        goto fail;
    s = cp_db_stmt(st, "DELETE FROM stages WHERE id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "delete stage");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, id);
    if ((r = cp_db_step_done(st, s, "delete stage", err)) < 0)
        goto fail;
    (void)snprintf(object_id, sizeof(object_id), "%s/%s", api, name);
    return cp_db_commit(st, actor, "delete", "stage", object_id, ret_revision, err);
fail:
    cp_db_rollback(st);
    return r;
}

/* ---- domain mappings ---------------------------------------------------------------------- */

#define DOMAIN_COLUMNS                                                                             \
    "SELECT d.host, d.base_path, a.name, s.name, d.certificate, d.created_at"                      \
    " FROM domain_mappings d JOIN stages s ON s.id = d.stage_id"                                   \
    " JOIN apis a ON a.id = s.api_id "

int
cp_db_domain_row(sqlite3_stmt *row, Edge__V1__DomainMapping **ret_domain)
{
    Edge__V1__DomainMapping *m = edge_pb_new(&edge__v1__domain_mapping__descriptor);

    m->host = cp_db_col_str(row, 0);
    m->base_path = cp_db_col_str(row, 1);
    m->api = cp_db_col_str(row, 2);
    m->stage = cp_db_col_str(row, 3);
    m->certificate = cp_db_col_str(row, 4);
    m->created_at = sqlite3_column_int64(row, 5);
    *ret_domain = m;
    return 0;
}

int
cp_store_domain_list(struct cp_store *st, Edge__V1__ListDomainMappingsResponse **ret_list,
                     struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, DOMAIN_COLUMNS "ORDER BY d.host, d.base_path");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "list domain mappings");
    Edge__V1__ListDomainMappingsResponse *list =
        edge_pb_new(&edge__v1__list_domain_mappings_response__descriptor);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__DomainMapping *m;
        (void)cp_db_domain_row(s, &m);
        edge_pb_append((void ***)&list->mappings, &list->n_mappings, m);
    }
    if (rc != SQLITE_DONE) {
        int r = cp_db_fail(st, err, "list domain mappings");
        cp_db_done(s);
        edge_pb_free(list);
        return r;
    }
    cp_db_done(s);
    *ret_list = list;
    return 0;
}

int
cp_store_domain_create(struct cp_store *st, const char *actor, const Edge__V1__DomainMapping *in,
                       Edge__V1__DomainMapping **ret_domain, struct cp_store_err *err)
{
    char object_id[600];
    int64_t stage_id;
    Edge__V1__DomainMapping *out = NULL;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_stage_id(st, in->api, in->stage, &stage_id, err);
    if (r < 0)
        goto fail;
    sqlite3_stmt *s = cp_db_stmt(st, "INSERT INTO domain_mappings (host, base_path, stage_id,"
                                     " certificate, created_at) VALUES (?, ?, ?, ?, ?)");
    if (!s) {
        r = cp_db_fail(st, err, "create domain mapping");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, in->host);
    (void)cp_db_bind_text(s, 2, in->base_path);
    (void)sqlite3_bind_int64(s, 3, stage_id);
    (void)cp_db_bind_text(s, 4, in->certificate);
    (void)sqlite3_bind_int64(s, 5, cp_store_now());
    r = cp_db_step_done(st, s, "create domain mapping", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "domain mapping '%s%s' already exists", in->host,
                          in->base_path ? in->base_path : "");
    if (r < 0)
        goto fail;
    if (ret_domain) {
        s = cp_db_stmt(st, DOMAIN_COLUMNS "WHERE d.host = ? AND d.base_path = ?");
        if (!s) {
            r = cp_db_fail(st, err, "create domain mapping");
            goto fail;
        }
        (void)cp_db_bind_text(s, 1, in->host);
        (void)cp_db_bind_text(s, 2, in->base_path);
        if (sqlite3_step(s) == SQLITE_ROW)
            (void)cp_db_domain_row(s, &out);
        else
            r = cp_db_fail(st, err, "create domain mapping");
        cp_db_done(s);
        if (r < 0)
            goto fail;
    }
    (void)snprintf(object_id, sizeof(object_id), "%s %s", in->host,
                   in->base_path ? in->base_path : "");
    r = cp_db_commit(st, actor, "create", "domain", object_id, NULL, err);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (ret_domain)
        *ret_domain = out;
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_store_domain_delete(struct cp_store *st, const char *actor, const char *host,
                       const char *base_path, uint64_t *ret_revision, struct cp_store_err *err)
{
    char object_id[600];
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    sqlite3_stmt *s =
        cp_db_stmt(st, "DELETE FROM domain_mappings WHERE host = ? AND base_path = ?");
    if (!s) {
        r = cp_db_fail(st, err, "delete domain mapping");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, host);
    (void)cp_db_bind_text(s, 2, base_path);
    if ((r = cp_db_step_done(st, s, "delete domain mapping", err)) < 0)
        goto fail;
    if (sqlite3_changes(st->db) == 0) {
        r = cp_store_fail(err, -ENOENT, "domain mapping '%s%s' not found", host ? host : "",
                          base_path ? base_path : "");
        goto fail;
    }
    (void)snprintf(object_id, sizeof(object_id), "%s %s", host ? host : "",
                   base_path ? base_path : "");
    return cp_db_commit(st, actor, "delete", "domain", object_id, ret_revision, err);
fail:
    cp_db_rollback(st);
    return r;
}
