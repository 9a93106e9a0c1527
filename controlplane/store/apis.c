/* APIs: create, read, update, delete (with everything the API owns). */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <string.h>

#define API_COLUMNS                                                                                \
    "SELECT id, name, description, created_at, updated_at,"                                        \
    " (SELECT count(*) FROM routes r WHERE r.api_id = apis.id), title, version, api_key_source"    \
    " FROM apis "

int
cp_db_api_load(struct cp_store *st, sqlite3_stmt *row, Edge__V1__Api **ret_api,
               struct cp_store_err *err)
{
    Edge__V1__Api *a = edge_pb_new(&edge__v1__api__descriptor);

    a->name = cp_db_col_str(row, 1);
    a->description = cp_db_col_str(row, 2);
    a->created_at = sqlite3_column_int64(row, 3);
    a->updated_at = sqlite3_column_int64(row, 4);
    a->route_count = (uint32_t)sqlite3_column_int64(row, 5);
    a->title = cp_db_col_str(row, 6);
    a->version = cp_db_col_str(row, 7);
    a->api_key_source = cp_db_col_str(row, 8);
    *ret_api = a;
    return 0;
}

int
cp_store_api_get(struct cp_store *st, const char *name, Edge__V1__Api **ret_api,
                 struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, API_COLUMNS "WHERE name = ?");
    int r;

    if (!s)
        return cp_db_fail(st, err, "get api");
    (void)cp_db_bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        r = cp_db_api_load(st, s, ret_api, err);
    else if (rc == SQLITE_DONE)
        r = cp_store_fail(err, -ENOENT, "api '%s' not found", name);
    else
        r = cp_db_fail(st, err, "get api");
    cp_db_done(s);
    return r;
}

int
cp_store_api_list(struct cp_store *st, Edge__V1__ListApisResponse **ret_list,
                  struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, API_COLUMNS "ORDER BY name");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "list apis");
    Edge__V1__ListApisResponse *list = edge_pb_new(&edge__v1__list_apis_response__descriptor);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__Api *a;
        (void)cp_db_api_load(st, s, &a, err);
        edge_pb_append((void ***)&list->apis, &list->n_apis, a);
    }
    if (rc != SQLITE_DONE) {
        int r = cp_db_fail(st, err, "list apis");
        cp_db_done(s);
        edge_pb_free(list);
        return r;
    }
    cp_db_done(s);
    *ret_list = list;
    return 0;
}

int
cp_store_api_create(struct cp_store *st, const char *actor, const Edge__V1__Api *in,
                    Edge__V1__Api **ret_api, struct cp_store_err *err)
{
    int64_t now = cp_store_now();
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    sqlite3_stmt *s = cp_db_stmt(st, "INSERT INTO apis (name, description, created_at, "
                                     "updated_at, title, version, api_key_source) "
                                     "VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!s) {
        r = cp_db_fail(st, err, "create api");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, in->name);
    (void)cp_db_bind_text(s, 2, in->description);
    (void)sqlite3_bind_int64(s, 3, now);
    (void)sqlite3_bind_int64(s, 4, now);
    (void)cp_db_bind_text(s, 5, in->title);
    (void)cp_db_bind_text(s, 6, in->version);
    (void)cp_db_bind_text(s, 7, in->api_key_source);
    r = cp_db_step_done(st, s, "create api", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "api '%s' already exists", in->name);
    if (r < 0)
        goto fail;
    Edge__V1__Api *out = NULL;
    if (ret_api && (r = cp_store_api_get(st, in->name, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, "create", "api", in->name, NULL, err);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (ret_api)
        *ret_api = out;
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_store_api_update(struct cp_store *st, const char *actor, const Edge__V1__Api *in,
                    Edge__V1__Api **ret_api, struct cp_store_err *err)
{
    int r = cp_db_begin(st, err);
    int64_t id;

    if (r < 0)
        return r;
    r = cp_db_api_id(st, in->name, &id, err);
    if (r < 0)
        goto fail;
    sqlite3_stmt *s =
        cp_db_stmt(st, "UPDATE apis SET description = ?, updated_at = ? WHERE id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "update api");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, in->description);
    (void)sqlite3_bind_int64(s, 2, cp_store_now());
    (void)sqlite3_bind_int64(s, 3, id);
    r = cp_db_step_done(st, s, "update api", err);
    if (r < 0)
        goto fail;
    Edge__V1__Api *out = NULL;
    if (ret_api && (r = cp_store_api_get(st, in->name, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, "update", "api", in->name, NULL, err);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (ret_api)
        *ret_api = out;
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_store_api_delete(struct cp_store *st, const char *actor, const char *name,
                    uint64_t *ret_revision, struct cp_store_err *err)
{
    int r = cp_db_begin(st, err);
    int64_t id;

    if (r < 0)
        return r;
    r = cp_db_api_id(st, name, &id, err);
    if (r < 0)
        goto fail;

    sqlite3_stmt *s = cp_db_stmt(st, "SELECT d.host, d.base_path, s.name FROM domain_mappings d "
                                     "JOIN stages s ON s.id = d.stage_id WHERE s.api_id = ? "
                                     "ORDER BY d.host, d.base_path LIMIT 1");
    if (!s) {
        r = cp_db_fail(st, err, "delete api");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        r = cp_store_fail(err, -EBUSY,
                          "api '%s' is in use: domain mapping '%s%s' points at "
                          "stage '%s'",
                          name, (const char *)sqlite3_column_text(s, 0),
                          (const char *)sqlite3_column_text(s, 1),
                          (const char *)sqlite3_column_text(s, 2));
        cp_db_done(s);
        goto fail;
    }
    cp_db_done(s);
    if (rc != SQLITE_DONE) {
        r = cp_db_fail(st, err, "delete api");
        goto fail;
    }

    /* Children first, in dependency order: stages point at deployments. The cascades in the
     * schema would do the same; being explicit keeps the order independent of SQLite's. */
    static const char *const deletes[] = {
        "DELETE FROM stages WHERE api_id = ?",
        "DELETE FROM deployments WHERE api_id = ?",
        "DELETE FROM routes WHERE api_id = ?",
        "DELETE FROM apis WHERE id = ?",
    };
    for (size_t i = 0; i < sizeof(deletes) / sizeof(deletes[0]); i++) {
        s = cp_db_stmt(st, deletes[i]);
        if (!s) {
            r = cp_db_fail(st, err, "delete api");
            goto fail;
        }
        (void)sqlite3_bind_int64(s, 1, id);
        r = cp_db_step_done(st, s, "delete api", err);
        if (r < 0)
            goto fail;
    }
    return cp_db_commit(st, actor, "delete", "api", name, ret_revision, err);
fail:
    cp_db_rollback(st);
    return r;
}
