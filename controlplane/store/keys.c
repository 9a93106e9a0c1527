/* API keys and usage plans, as far as the Config snapshot needs them (their Admin RPCs come
 * with a later issue). */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cp_db_key_load(struct cp_store *st, const char *id, Edge__V1__ApiKey **ret_key,
               struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id, name, prefix, secret_sha256, enabled,"
                                     " expires_at, created_at, last_used_at FROM api_keys"
                                     " WHERE id = ?");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "get key");
    (void)cp_db_bind_text(s, 1, id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int r = rc == SQLITE_DONE ? cp_store_fail(err, -ENOENT, "key '%s' not found", id)
                                  : cp_db_fail(st, err, "get key");
        cp_db_done(s);
        return r;
    }
    Edge__V1__ApiKey *k = edge_pb_new(&edge__v1__api_key__descriptor);
    k->id = cp_db_col_str(s, 0);
    k->name = cp_db_col_str(s, 1);
    k->prefix = cp_db_col_str(s, 2);
    size_t len = (size_t)sqlite3_column_bytes(s, 3);
    if (len) {
        k->secret_sha256.data = edge_xcalloc(1, len);
        memcpy(k->secret_sha256.data, sqlite3_column_blob(s, 3), len);
        k->secret_sha256.len = len;
    }
    k->enabled = sqlite3_column_int(s, 4) != 0;
    k->expires_at = sqlite3_column_int64(s, 5);
    k->created_at = sqlite3_column_int64(s, 6);
    k->last_used_at = sqlite3_column_int64(s, 7);
    cp_db_done(s);

    s = cp_db_stmt(st, "SELECT p.name FROM plan_keys pk JOIN usage_plans p ON p.id = pk.plan_id"
                       " WHERE pk.key_id = ? ORDER BY p.name");
    if (!s) {
        edge_pb_free(k);
        return cp_db_fail(st, err, "get key");
    }
    (void)cp_db_bind_text(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        k->plans = edge_xrealloc(k->plans, (k->n_plans + 1) * sizeof(*k->plans));
        k->plans[k->n_plans++] = cp_db_col_str(s, 0);
    }
    cp_db_done(s);
    if (rc != SQLITE_DONE) {
        edge_pb_free(k);
        return cp_db_fail(st, err, "get key");
    }
    *ret_key = k;
    return 0;
}

int
cp_store_key_create(struct cp_store *st, const char *actor, const Edge__V1__ApiKey *in,
                    const uint8_t secret_sha256[32], const char *prefix, Edge__V1__ApiKey **ret_key,
                    struct cp_store_err *err)
{
    Edge__V1__ApiKey *out = NULL;
    char id[16];
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    cp_store_new_id('k', id, sizeof(id));
    sqlite3_stmt *s = cp_db_stmt(st, "INSERT INTO api_keys (id, name, prefix, secret_sha256,"
                                     " enabled, expires_at, created_at, last_used_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, 0)");
    if (!s) {
        r = cp_db_fail(st, err, "create key");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, id);
    (void)cp_db_bind_text(s, 2, in->name);
    (void)cp_db_bind_text(s, 3, prefix);
    (void)sqlite3_bind_blob(s, 4, secret_sha256, 32, SQLITE_TRANSIENT);
    (void)sqlite3_bind_int(s, 5, in->enabled ? 1 : 0);
    (void)sqlite3_bind_int64(s, 6, in->expires_at);
    (void)sqlite3_bind_int64(s, 7, cp_store_now());
    r = cp_db_step_done(st, s, "create key", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "a key with that secret already exists");
    if (r < 0)
        goto fail;
    for (size_t i = 0; i < in->n_plans; i++) {
        int64_t plan_id;
        s = cp_db_stmt(st, "SELECT id FROM usage_plans WHERE name = ?");
        if (!s) {
            r = cp_db_fail(st, err, "create key");
            goto fail;
        }
        (void)cp_db_bind_text(s, 1, in->plans[i]);
        r = cp_db_step_int(st, s, &plan_id, err);
        if (r > 0)
            r = cp_store_fail(err, -ENOENT, "key.plans[%zu]: plan '%s' not found", i, in->plans[i]);
        if (r < 0)
            goto fail;
        s = cp_db_stmt(st, "INSERT OR IGNORE INTO plan_keys (plan_id, key_id) VALUES (?, ?)");
        if (!s) {
            r = cp_db_fail(st, err, "create key");
            goto fail;
        }
        (void)sqlite3_bind_int64(s, 1, plan_id);
        (void)cp_db_bind_text(s, 2, id);
        if ((r = cp_db_step_done(st, s, "create key", err)) < 0)
            goto fail;
    }
    if (ret_key && (r = cp_db_key_load(st, id, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, "create", "key", id, NULL, err);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (out) {
        /* secret_sha256 travels on the Config stream only. */
        free(out->secret_sha256.data);
        out->secret_sha256.data = NULL;
        out->secret_sha256.len = 0;
        *ret_key = out;
    }
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

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

int
cp_store_plan_create(struct cp_store *st, const char *actor, const Edge__V1__UsagePlan *in,
                     Edge__V1__UsagePlan **ret_plan, struct cp_store_err *err)
{
    Edge__V1__UsagePlan *out = NULL;
    char *throttles = route_throttles_json(in);
    int r = cp_db_begin(st, err);

    if (r < 0) {
        free(throttles);
        return r;
    }
    sqlite3_stmt *s = cp_db_stmt(st, "INSERT INTO usage_plans (name, description, throttle_rate,"
                                     " throttle_burst, quota_limit, quota_period,"
                                     " route_throttles, created_at)"
                                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!s) {
        r = cp_db_fail(st, err, "create plan");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, in->name);
    (void)cp_db_bind_text(s, 2, in->description);
    if (in->throttle) {
        (void)sqlite3_bind_double(s, 3, in->throttle->rate);
        (void)sqlite3_bind_int64(s, 4, in->throttle->burst);
    }
    if (in->quota)
        (void)sqlite3_bind_int64(s, 5, (sqlite3_int64)in->quota->limit);
    (void)sqlite3_bind_int(s, 6, in->quota ? (int)in->quota->period : 0);
    (void)cp_db_bind_text(s, 7, throttles);
    (void)sqlite3_bind_int64(s, 8, cp_store_now());
    r = cp_db_step_done(st, s, "create plan", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "plan '%s' already exists", in->name);
    if (r < 0)
        goto fail;
    int64_t plan_id = sqlite3_last_insert_rowid(st->db);
    for (size_t i = 0; i < in->n_stages; i++) {
        int64_t stage_id;
        r = cp_db_stage_id(st, in->stages[i]->api, in->stages[i]->stage, &stage_id, err);
        if (r < 0)
            goto fail;
        s = cp_db_stmt(st, "INSERT OR IGNORE INTO plan_stages (plan_id, stage_id) VALUES (?, ?)");
        if (!s) {
            r = cp_db_fail(st, err, "create plan");
            goto fail;
        }
        (void)sqlite3_bind_int64(s, 1, plan_id);
        (void)sqlite3_bind_int64(s, 2, stage_id);
        if ((r = cp_db_step_done(st, s, "create plan", err)) < 0)
            goto fail;
    }
    if (ret_plan && (r = cp_db_plan_load(st, plan_id, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, "create", "plan", in->name, NULL, err);
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
