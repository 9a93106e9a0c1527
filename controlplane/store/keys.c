/* API keys: create, look up, list, change, delete, and the rule that a key subscribes to at
 * most one plan per API stage (as in AWS API Gateway), checked inside every transaction that
 * could break it (here and in plans.c). Keys are named by id or by name ("key" arguments). */
#include "keys_internal.h"
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
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

/* The id of the key named by id or name: 0, or -ENOENT naming it. */
int
cp_db_key_resolve(struct cp_store *st, const char *key, char id[16], struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id FROM api_keys WHERE id = ?1 OR name = ?1"
                                     " ORDER BY id = ?1 DESC LIMIT 1");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "find key");
    (void)cp_db_bind_text(s, 1, key);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        (void)snprintf(id, 16, "%s", (const char *)sqlite3_column_text(s, 0));
    cp_db_done(s);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return cp_store_fail(err, -ENOENT, "key '%s' not found", key ? key : "");
    return cp_db_fail(st, err, "find key");
}

int
cp_db_plan_resolve(struct cp_store *st, const char *field, const char *name, int64_t *ret_id,
                   struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id FROM usage_plans WHERE name = ?");

    if (!s)
        return cp_db_fail(st, err, "find plan");
    (void)cp_db_bind_text(s, 1, name);
    int r = cp_db_step_int(st, s, ret_id, err);
    if (r > 0)
        return cp_store_fail(err, -ENOENT, "%s: plan '%s' not found", field, name ? name : "");
    return r;
}

/* The one-plan-per-stage rule, for one key (key_id) or for every key of one plan (plan_id 0
 * when unused): -EBUSY naming the key, the stage and both plans. */
int
cp_db_check_stage_rule(struct cp_store *st, const char *key_id, int64_t plan_id,
                       struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(
        st, "SELECT k.name, a.name, g.name, MIN(p.name), MAX(p.name)"
            " FROM plan_keys pk JOIN plan_stages ps ON ps.plan_id = pk.plan_id"
            " JOIN usage_plans p ON p.id = pk.plan_id JOIN api_keys k ON k.id = pk.key_id"
            " JOIN stages g ON g.id = ps.stage_id JOIN apis a ON a.id = g.api_id"
            " WHERE (?1 = '' OR pk.key_id = ?1) AND (?2 = 0 OR pk.key_id IN"
            "   (SELECT key_id FROM plan_keys WHERE plan_id = ?2))"
            " GROUP BY pk.key_id, ps.stage_id HAVING COUNT(*) > 1 LIMIT 1");
    int rc, r = 0;

    if (!s)
        return cp_db_fail(st, err, "check plans");
    (void)cp_db_bind_text(s, 1, key_id);
    (void)sqlite3_bind_int64(s, 2, plan_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        r = cp_store_fail(
            err, -EBUSY,
            "key '%s' would be in plans '%s' and '%s' for stage %s/%s: a key may "
            "be in at most one plan per API stage",
            (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 3),
            (const char *)sqlite3_column_text(s, 4), (const char *)sqlite3_column_text(s, 1),
            (const char *)sqlite3_column_text(s, 2));
    else if (rc != SQLITE_DONE)
        r = cp_db_fail(st, err, "check plans");
    cp_db_done(s);
    return r;
}

int
cp_db_plan_key_add(struct cp_store *st, int64_t plan_id, const char *key_id,
                   struct cp_store_err *err)
{
    sqlite3_stmt *s =
        cp_db_stmt(st, "INSERT OR IGNORE INTO plan_keys (plan_id, key_id) VALUES (?, ?)");

    if (!s)
        return cp_db_fail(st, err, "add key to plan");
    (void)sqlite3_bind_int64(s, 1, plan_id);
    (void)cp_db_bind_text(s, 2, key_id);
    return cp_db_step_done(st, s, "add key to plan", err);
}

/* secret_sha256 travels on the Config stream only. */
void
cp_db_key_strip_hash(Edge__V1__ApiKey *k)
{
    free(k->secret_sha256.data);
    k->secret_sha256.data = NULL;
    k->secret_sha256.len = 0;
}

/* Inserts one key and its plans inside an open transaction. References (plans) are checked
 * before uniqueness (name, secret). */
static int
insert_key(struct cp_store *st, const Edge__V1__ApiKey *in, const uint8_t secret_sha256[32],
           const char *prefix, char id[16], struct cp_store_err *err)
{
    int64_t dummy, *plan_ids = in->n_plans ? edge_xcalloc(in->n_plans, sizeof(int64_t)) : NULL;
    sqlite3_stmt *s;
    int r = 0;

    for (size_t i = 0; i < in->n_plans && r == 0; i++) {
        char field[32];
        (void)snprintf(field, sizeof(field), "key.plans[%zu]", i);
        r = cp_db_plan_resolve(st, field, in->plans[i], &plan_ids[i], err);
    }
    if (r < 0)
        goto out;
    if (!(s = cp_db_stmt(st, "SELECT 1 FROM api_keys WHERE name = ?"))) {
        r = cp_db_fail(st, err, "create key");
        goto out;
    }
    (void)cp_db_bind_text(s, 1, in->name);
    r = cp_db_step_int(st, s, &dummy, err);
    if (r == 0)
        r = cp_store_fail(err, -EEXIST, "key '%s' already exists", in->name);
    if (r < 0)
        goto out;
    cp_store_new_id('k', id, 16);
    s = cp_db_stmt(st, "INSERT INTO api_keys (id, name, prefix, secret_sha256,"
                       " enabled, expires_at, created_at, last_used_at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, 0)");
    if (!s) {
        r = cp_db_fail(st, err, "create key");
        goto out;
    }
    (void)cp_db_bind_text(s, 1, id);
    (void)cp_db_bind_text(s, 2, in->name);
    (void)cp_db_bind_text(s, 3, prefix);
    (void)sqlite3_bind_blob(s, 4, secret_sha256, 32, SQLITE_TRANSIENT);
    (void)sqlite3_bind_int(s, 5, in->enabled ? 1 : 0);
    (void)sqlite3_bind_int64(s, 6, in->expires_at);
    (void)sqlite3_bind_int64(s, 7, cp_store_now());
    r = cp_db_step_done(st, s, "create key", err);
    /* The name was checked above, so the conflict is the secret; which key holds it is not
     * said, so that the error cannot be used to find a key's owner. */
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "a key with that secret already exists");
    for (size_t i = 0; i < in->n_plans && r == 0; i++)
        r = cp_db_plan_key_add(st, plan_ids[i], id, err);
    if (r == 0 && in->n_plans > 1)
        r = cp_db_check_stage_rule(st, id, 0, err);
out:
    free(plan_ids);
    return r;
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
    if ((r = insert_key(st, in, secret_sha256, prefix, id, err)) < 0)
        goto fail;
    if (ret_key && (r = cp_db_key_load(st, id, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, "create", "key", id, NULL, err);
    if (r < 0) {
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

int
cp_store_key_create_bulk(struct cp_store *st, const char *actor, Edge__V1__ApiKey *const *in,
                         const uint8_t (*secret_sha256)[32], const char *const *prefixes, size_t n,
                         uint64_t *ret_revision, struct cp_store_err *err)
{
    char id[16], what[32];
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++) {
        if ((r = insert_key(st, in[i], secret_sha256[i], prefixes[i], id, err)) < 0) {
            cp_db_rollback(st);
            return r;
        }
    }
    (void)snprintf(what, sizeof(what), "bulk:%zu", n);
    return cp_db_commit(st, actor, "create", "key", what, ret_revision, err);
}

int
cp_store_key_get(struct cp_store *st, const char *key, Edge__V1__ApiKey **ret_key,
                 struct cp_store_err *err)
{
    Edge__V1__ApiKey *out;
    char id[16];
    int r = cp_db_read_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_key_resolve(st, key, id, err);
    if (r == 0)
        r = cp_db_key_load(st, id, &out, err);
    cp_db_read_end(st);
    if (r < 0)
        return r;
    cp_db_key_strip_hash(out);
    *ret_key = out;
    return 0;
}

int
cp_store_key_list(struct cp_store *st, const char *plan, Edge__V1__ListApiKeysResponse **ret_list,
                  struct cp_store_err *err)
{
    Edge__V1__ListApiKeysResponse *list =
        edge_pb_new(&edge__v1__list_api_keys_response__descriptor);
    char **ids = NULL;
    size_t n = 0;
    int64_t plan_id = 0;
    int r = cp_db_read_begin(st, err), rc;

    if (r < 0) {
        edge_pb_free(list);
        return r;
    }
    if (plan && *plan)
        r = cp_db_plan_resolve(st, "plan", plan, &plan_id, err);
    sqlite3_stmt *s = NULL;
    if (r == 0 && !(s = cp_db_stmt(st, "SELECT id FROM api_keys WHERE ?1 = 0 OR id IN"
                                       " (SELECT key_id FROM plan_keys WHERE plan_id = ?1)"
                                       " ORDER BY name")))
        r = cp_db_fail(st, err, "list keys");
    if (s) {
        (void)sqlite3_bind_int64(s, 1, plan_id);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            ids = edge_xrealloc(ids, (n + 1) * sizeof(*ids));
            ids[n++] = strdup((const char *)sqlite3_column_text(s, 0));
        }
        if (rc != SQLITE_DONE)
            r = cp_db_fail(st, err, "list keys");
        cp_db_done(s);
    }
    for (size_t i = 0; r == 0 && i < n; i++) {
        Edge__V1__ApiKey *k;
        r = cp_db_key_load(st, ids[i], &k, err);
        if (r == 0) {
            cp_db_key_strip_hash(k);
            edge_pb_append((void ***)&list->keys, &list->n_keys, k);
        }
    }
    cp_db_read_end(st);
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (r < 0) {
        edge_pb_free(list);
        return r;
    }
    *ret_list = list;
    return 0;
}

/* Runs one UPDATE of the key (bound ?1 = id, then the caller's) and commits; returns the key. */
static int
key_change(struct cp_store *st, const char *actor, const char *action, const char *key,
           const char *sql, int enabled, const uint8_t *sha256, const char *prefix,
           Edge__V1__ApiKey **ret_key, struct cp_store_err *err)
{
    Edge__V1__ApiKey *out = NULL;
    char id[16];
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    if ((r = cp_db_key_resolve(st, key, id, err)) < 0)
        goto fail;
    sqlite3_stmt *s = cp_db_stmt(st, sql);
    if (!s) {
        r = cp_db_fail(st, err, action);
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, id);
    if (sha256) {
        (void)sqlite3_bind_blob(s, 2, sha256, 32, SQLITE_TRANSIENT);
        (void)cp_db_bind_text(s, 3, prefix);
    } else {
        (void)sqlite3_bind_int(s, 2, enabled);
    }
    r = cp_db_step_done(st, s, action, err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "a key with that secret already exists");
    if (r < 0)
        goto fail;
    if (ret_key && (r = cp_db_key_load(st, id, &out, err)) < 0)
        goto fail;
    if ((r = cp_db_commit(st, actor, action, "key", id, NULL, err)) < 0) {
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

int
cp_store_key_set_enabled(struct cp_store *st, const char *actor, const char *key, bool enabled,
                         Edge__V1__ApiKey **ret_key, struct cp_store_err *err)
{
    return key_change(st, actor, enabled ? "enable" : "disable", key,
                      "UPDATE api_keys SET enabled = ?2 WHERE id = ?1", enabled ? 1 : 0, NULL, NULL,
                      ret_key, err);
}

int
cp_store_key_rotate(struct cp_store *st, const char *actor, const char *key,
                    const uint8_t secret_sha256[32], const char *prefix, Edge__V1__ApiKey **ret_key,
                    struct cp_store_err *err)
{
    return key_change(st, actor, "rotate", key,
                      "UPDATE api_keys SET secret_sha256 = ?2, prefix = ?3 WHERE id = ?1", 0,
                      secret_sha256, prefix, ret_key, err);
}

int
cp_store_key_delete(struct cp_store *st, const char *actor, const char *key, uint64_t *ret_revision,
                    struct cp_store_err *err)
{
    char id[16];
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    if ((r = cp_db_key_resolve(st, key, id, err)) < 0)
        goto fail;
    /* plan_keys rows go with it (ON DELETE CASCADE); usage rows stay as history. */
    sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM api_keys WHERE id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "delete key");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, id);
    if ((r = cp_db_step_done(st, s, "delete key", err)) < 0)
        goto fail;
    return cp_db_commit(st, actor, "delete", "key", id, ret_revision, err);
fail:
    cp_db_rollback(st);
    return r;
}
