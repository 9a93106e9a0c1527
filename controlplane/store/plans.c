/* Usage plans: create, look up, list, replace, delete, and key subscriptions. Route
 * throttles are stored as JSON text (nobody queries them). */
#include "keys_internal.h"
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
route_throttles_json(const Edge__V1__UsagePlan *in)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < in->n_route_throttles; i++) {
        const Edge__V1__RouteThrottle *t = in->route_throttles[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "api", t->api ? t->api : "", "stage",
                              t->stage ? t->stage : "", "method", t->method ? t->method : "",
                              "path", t->path ? t->path : "");
        if (t->throttle) {
            (void)json_object_set_new(o, "rate", json_real(t->throttle->rate));
            (void)json_object_set_new(o, "burst", json_integer(t->throttle->burst));
        }
        (void)json_array_append_new(arr, o);
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
route_throttles_parse(Edge__V1__UsagePlan *p, const char *text)
{
    json_t *arr = json_loads(text ? text : "[]", 0, NULL);
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        Edge__V1__RouteThrottle *t = edge_pb_new(&edge__v1__route_throttle__descriptor);
        t->api = edge_pb_strdup(json_string_value(json_object_get(v, "api")));
        t->stage = edge_pb_strdup(json_string_value(json_object_get(v, "stage")));
        t->method = edge_pb_strdup(json_string_value(json_object_get(v, "method")));
        t->path = edge_pb_strdup(json_string_value(json_object_get(v, "path")));
        if (json_object_get(v, "rate")) {
            t->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
            t->throttle->rate = json_number_value(json_object_get(v, "rate"));
            t->throttle->burst = (uint32_t)json_integer_value(json_object_get(v, "burst"));
        }
        edge_pb_append((void ***)&p->route_throttles, &p->n_route_throttles, t);
    }
    json_decref(arr);
}

int
cp_db_plan_load(struct cp_store *st, int64_t id, Edge__V1__UsagePlan **ret_plan,
                struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT name, description, throttle_rate, throttle_burst,"
                                     " quota_limit, quota_period, route_throttles, created_at"
                                     " FROM usage_plans WHERE id = ?");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "get plan");
    (void)sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int r = rc == SQLITE_DONE ? cp_store_fail(err, -ENOENT, "plan not found")
                                  : cp_db_fail(st, err, "get plan");
        cp_db_done(s);
        return r;
    }
    Edge__V1__UsagePlan *p = edge_pb_new(&edge__v1__usage_plan__descriptor);
    p->name = cp_db_col_str(s, 0);
    p->description = cp_db_col_str(s, 1);
    if (sqlite3_column_type(s, 2) != SQLITE_NULL) {
        p->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
        p->throttle->rate = sqlite3_column_double(s, 2);
        p->throttle->burst = (uint32_t)sqlite3_column_int64(s, 3);
    }
    if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
        p->quota = edge_pb_new(&edge__v1__quota__descriptor);
        p->quota->limit = (uint64_t)sqlite3_column_int64(s, 4);
        p->quota->period = (Edge__V1__QuotaPeriod)sqlite3_column_int(s, 5);
    }
    route_throttles_parse(p, (const char *)sqlite3_column_text(s, 6));
    p->created_at = sqlite3_column_int64(s, 7);
    cp_db_done(s);

    s = cp_db_stmt(st, "SELECT a.name, g.name FROM plan_stages ps"
                       " JOIN stages g ON g.id = ps.stage_id JOIN apis a ON a.id = g.api_id"
                       " WHERE ps.plan_id = ? ORDER BY a.name, g.name");
    if (!s) {
        edge_pb_free(p);
        return cp_db_fail(st, err, "get plan");
    }
    (void)sqlite3_bind_int64(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__PlanStage *ps = edge_pb_new(&edge__v1__plan_stage__descriptor);
        ps->api = cp_db_col_str(s, 0);
        ps->stage = cp_db_col_str(s, 1);
        edge_pb_append((void ***)&p->stages, &p->n_stages, ps);
    }
    cp_db_done(s);
    if (rc != SQLITE_DONE) {
        edge_pb_free(p);
        return cp_db_fail(st, err, "get plan");
    }
    *ret_plan = p;
    return 0;
}

static int
write_plan_stages(struct cp_store *st, int64_t plan_id, const Edge__V1__UsagePlan *in,
                  struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM plan_stages WHERE plan_id = ?");
    int r;

    if (!s)
        return cp_db_fail(st, err, "write plan");
    (void)sqlite3_bind_int64(s, 1, plan_id);
    if ((r = cp_db_step_done(st, s, "write plan", err)) < 0)
        return r;
    for (size_t i = 0; i < in->n_stages; i++) {
        int64_t stage_id;
        r = cp_db_stage_id(st, in->stages[i]->api, in->stages[i]->stage, &stage_id, err);
        if (r < 0 && err) {
            char msg[sizeof(err->message)];
            (void)snprintf(msg, sizeof(msg), "%s", err->message);
            return cp_store_fail(err, r, "plan.stages[%zu]: %s", i, msg);
        }
        if (r < 0)
            return r;
        s = cp_db_stmt(st, "INSERT OR IGNORE INTO plan_stages (plan_id, stage_id) VALUES (?, ?)");
        if (!s)
            return cp_db_fail(st, err, "write plan");
        (void)sqlite3_bind_int64(s, 1, plan_id);
        (void)sqlite3_bind_int64(s, 2, stage_id);
        if ((r = cp_db_step_done(st, s, "write plan", err)) < 0)
            return r;
    }
    return 0;
}

static int
write_plan(struct cp_store *st, const char *actor, const Edge__V1__UsagePlan *in, bool update,
           Edge__V1__UsagePlan **ret_plan, struct cp_store_err *err)
{
    Edge__V1__UsagePlan *out = NULL;
    char *throttles = route_throttles_json(in);
    int64_t plan_id = 0;
    int r = cp_db_begin(st, err);

    if (r < 0) {
        free(throttles);
        return r;
    }
    if (update && (r = cp_db_plan_resolve(st, "plan.name", in->name, &plan_id, err)) < 0)
        goto fail;
    sqlite3_stmt *s =
        update ? cp_db_stmt(st, "UPDATE usage_plans SET description = ?2, throttle_rate = ?3,"
                                " throttle_burst = ?4, quota_limit = ?5, quota_period = ?6,"
                                " route_throttles = ?7 WHERE id = ?9")
               : cp_db_stmt(st, "INSERT INTO usage_plans (name, description, throttle_rate,"
                                " throttle_burst, quota_limit, quota_period,"
                                " route_throttles, created_at)"
                                " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!s) {
        r = cp_db_fail(st, err, "write plan");
        goto fail;
    }
    if (!update)
        (void)cp_db_bind_text(s, 1, in->name);
    (void)cp_db_bind_text(s, 2, in->description);
    if (in->throttle) {
        (void)sqlite3_bind_double(s, 3, in->throttle->rate);
        (void)sqlite3_bind_int64(s, 4, in->throttle->burst);
    } else {
        (void)sqlite3_bind_null(s, 3);
        (void)sqlite3_bind_null(s, 4);
    }
    if (in->quota)
        (void)sqlite3_bind_int64(s, 5, (sqlite3_int64)in->quota->limit);
    else
        (void)sqlite3_bind_null(s, 5);
    (void)sqlite3_bind_int(s, 6, in->quota ? (int)in->quota->period : 0);
    (void)cp_db_bind_text(s, 7, throttles);
    if (update)
        (void)sqlite3_bind_int64(s, 9, plan_id);
    else
        (void)sqlite3_bind_int64(s, 8, cp_store_now());
    r = cp_db_step_done(st, s, "write plan", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "plan '%s' already exists", in->name);
    if (r < 0)
        goto fail;
    if (!update)
        plan_id = sqlite3_last_insert_rowid(st->db);
    if ((r = write_plan_stages(st, plan_id, in, err)) < 0)
        goto fail;
    /* New stages may put a subscribed key in two plans for one stage. */
    if (update && (r = cp_db_check_stage_rule(st, "", plan_id, err)) < 0)
        goto fail;
    if (ret_plan && (r = cp_db_plan_load(st, plan_id, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, update ? "update" : "create", "plan", in->name, NULL, err);
    free(throttles);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (ret_plan)
        *ret_plan = out;
    return 0;
fail:
    cp_db_rollback(st);
    free(throttles);
    return r;
}

int
cp_store_plan_create(struct cp_store *st, const char *actor, const Edge__V1__UsagePlan *in,
                     Edge__V1__UsagePlan **ret_plan, struct cp_store_err *err)
{
    return write_plan(st, actor, in, false, ret_plan, err);
}

int
cp_store_plan_update(struct cp_store *st, const char *actor, const Edge__V1__UsagePlan *in,
                     Edge__V1__UsagePlan **ret_plan, struct cp_store_err *err)
{
    return write_plan(st, actor, in, true, ret_plan, err);
}

int
cp_store_plan_get(struct cp_store *st, const char *name, Edge__V1__UsagePlan **ret_plan,
                  struct cp_store_err *err)
{
    int64_t id;
    int r = cp_db_read_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_plan_resolve(st, "name", name, &id, err);
    if (r == 0)
        r = cp_db_plan_load(st, id, ret_plan, err);
    cp_db_read_end(st);
    return r;
}

int
cp_store_plan_list(struct cp_store *st, Edge__V1__ListUsagePlansResponse **ret_list,
                   struct cp_store_err *err)
{
    Edge__V1__ListUsagePlansResponse *list =
        edge_pb_new(&edge__v1__list_usage_plans_response__descriptor);
    int64_t *ids = NULL;
    size_t n = 0;
    int r = cp_db_read_begin(st, err), rc;

    if (r < 0) {
        edge_pb_free(list);
        return r;
    }
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id FROM usage_plans ORDER BY name");
    if (!s) {
        r = cp_db_fail(st, err, "list plans");
    } else {
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            ids = edge_xrealloc(ids, (n + 1) * sizeof(*ids));
            ids[n++] = sqlite3_column_int64(s, 0);
        }
        if (rc != SQLITE_DONE)
            r = cp_db_fail(st, err, "list plans");
        cp_db_done(s);
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        Edge__V1__UsagePlan *p;
        r = cp_db_plan_load(st, ids[i], &p, err);
        if (r == 0)
            edge_pb_append((void ***)&list->plans, &list->n_plans, p);
    }
    cp_db_read_end(st);
    free(ids);
    if (r < 0) {
        edge_pb_free(list);
        return r;
    }
    *ret_list = list;
    return 0;
}

int
cp_store_plan_delete(struct cp_store *st, const char *actor, const char *name, bool force,
                     uint64_t *ret_revision, struct cp_store_err *err)
{
    int64_t id;
    int r = cp_db_begin(st, err), rc;

    if (r < 0)
        return r;
    if ((r = cp_db_plan_resolve(st, "name", name, &id, err)) < 0)
        goto fail;
    if (!force) {
        sqlite3_stmt *s = cp_db_stmt(st, "SELECT COUNT(*), MIN(k.name) FROM plan_keys pk"
                                         " JOIN api_keys k ON k.id = pk.key_id"
                                         " WHERE pk.plan_id = ?");
        if (!s) {
            r = cp_db_fail(st, err, "delete plan");
            goto fail;
        }
        (void)sqlite3_bind_int64(s, 1, id);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0)
            r = cp_store_fail(err, -EBUSY,
                              "plan '%s' has %lld subscribed key(s) (first: '%s'); remove "
                              "them or delete with force",
                              name, (long long)sqlite3_column_int64(s, 0),
                              (const char *)sqlite3_column_text(s, 1));
        else if (rc != SQLITE_ROW)
            r = cp_db_fail(st, err, "delete plan");
        cp_db_done(s);
        if (r < 0)
            goto fail;
    }
    /* plan_stages and plan_keys go with it (ON DELETE CASCADE); usage rows stay. */
    sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM usage_plans WHERE id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "delete plan");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, id);
    if ((r = cp_db_step_done(st, s, "delete plan", err)) < 0)
        goto fail;
    return cp_db_commit(st, actor, "delete", "plan", name, ret_revision, err);
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_store_plan_key(struct cp_store *st, const char *actor, const char *plan, const char *key,
                  bool add, Edge__V1__ApiKey **ret_key, struct cp_store_err *err)
{
    Edge__V1__ApiKey *out = NULL;
    int64_t plan_id;
    char id[16];
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    if ((r = cp_db_plan_resolve(st, "plan", plan, &plan_id, err)) < 0 ||
        (r = cp_db_key_resolve(st, key, id, err)) < 0)
        goto fail;
    if (add) {
        if ((r = cp_db_plan_key_add(st, plan_id, id, err)) < 0 ||
            (r = cp_db_check_stage_rule(st, id, 0, err)) < 0)
            goto fail;
    } else {
        sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM plan_keys WHERE plan_id = ? AND key_id = ?");
        if (!s) {
            r = cp_db_fail(st, err, "remove key from plan");
            goto fail;
        }
        (void)sqlite3_bind_int64(s, 1, plan_id);
        (void)cp_db_bind_text(s, 2, id);
        if ((r = cp_db_step_done(st, s, "remove key from plan", err)) < 0)
            goto fail;
        if (sqlite3_changes(st->db) == 0) {
            r = cp_store_fail(err, -ENOENT, "key '%s' is not in plan '%s'", key, plan);
            goto fail;
        }
    }
    if (ret_key && (r = cp_db_key_load(st, id, &out, err)) < 0)
        goto fail;
    /* The key's plan list is what changes in the snapshot. */
    if ((r = cp_db_commit(st, actor, add ? "add-plan" : "remove-plan", "key", id, NULL, err)) < 0) {
        edge_pb_free(out);
        return r;
    }
    if (out) {
        cp_db_key_strip_hash(out);
        *ret_key = out;
    }
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}
