/* Upstreams and their targets. */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cp_db_upstream_load(struct cp_store *st, int64_t id, Edge__V1__Upstream **ret_upstream,
                    struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT name, lb, connect_timeout_ms, timeout_ms, retries,"
                                     " pool_size, tls, sni, hc_set, hc_path, hc_interval_ms,"
                                     " hc_timeout_ms, hc_healthy, hc_unhealthy, created_at,"
                                     " updated_at FROM upstreams WHERE id = ?");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "get upstream");
    (void)sqlite3_bind_int64(s, 1, id);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        int r = rc == SQLITE_DONE ? cp_store_fail(err, -ENOENT, "upstream not found")
                                  : cp_db_fail(st, err, "get upstream");
        cp_db_done(s);
        return r;
    }
    Edge__V1__Upstream *u = edge_pb_new(&edge__v1__upstream__descriptor);
    u->name = cp_db_col_str(s, 0);
    u->lb = (Edge__V1__LbPolicy)sqlite3_column_int(s, 1);
    u->connect_timeout_ms = (uint32_t)sqlite3_column_int64(s, 2);
    u->timeout_ms = (uint32_t)sqlite3_column_int64(s, 3);
    u->retries = (uint32_t)sqlite3_column_int64(s, 4);
    u->pool_size = (uint32_t)sqlite3_column_int64(s, 5);
    u->tls = sqlite3_column_int(s, 6) != 0;
    u->sni = cp_db_col_str(s, 7);
    if (sqlite3_column_int(s, 8)) {
        Edge__V1__HealthCheck *hc = edge_pb_new(&edge__v1__health_check__descriptor);
        hc->path = cp_db_col_str(s, 9);
        hc->interval_ms = (uint32_t)sqlite3_column_int64(s, 10);
        hc->timeout_ms = (uint32_t)sqlite3_column_int64(s, 11);
        hc->healthy_threshold = (uint32_t)sqlite3_column_int64(s, 12);
        hc->unhealthy_threshold = (uint32_t)sqlite3_column_int64(s, 13);
        u->health_check = hc;
    }
    u->created_at = sqlite3_column_int64(s, 14);
    u->updated_at = sqlite3_column_int64(s, 15);
    cp_db_done(s);

    s = cp_db_stmt(st, "SELECT host, port, weight FROM upstream_targets WHERE upstream_id = ? "
                       "ORDER BY pos");
    if (!s) {
        edge_pb_free(u);
        return cp_db_fail(st, err, "get upstream");
    }
    (void)sqlite3_bind_int64(s, 1, id);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
        t->host = cp_db_col_str(s, 0);
        t->port = (uint32_t)sqlite3_column_int64(s, 1);
        t->weight = (uint32_t)sqlite3_column_int64(s, 2);
        edge_pb_append((void ***)&u->targets, &u->n_targets, t);
    }
    if (rc != SQLITE_DONE) {
        int r = cp_db_fail(st, err, "get upstream");
        cp_db_done(s);
        edge_pb_free(u);
        return r;
    }
    cp_db_done(s);
    *ret_upstream = u;
    return 0;
}

int
cp_store_upstream_get(struct cp_store *st, const char *name, Edge__V1__Upstream **ret_upstream,
                      struct cp_store_err *err)
{
    int64_t id;
    int r = cp_db_upstream_id(st, name, &id, err);

    if (r < 0)
        return r;
    return cp_db_upstream_load(st, id, ret_upstream, err);
}

int
cp_store_upstream_list(struct cp_store *st, Edge__V1__ListUpstreamsResponse **ret_list,
                       struct cp_store_err *err)
{
    Edge__V1__ListUpstreamsResponse *list =
        edge_pb_new(&edge__v1__list_upstreams_response__descriptor);
    int64_t *ids = NULL;
    size_t n = 0;
    int r = 0, rc;

    /* Collect ids first: the loader uses statements of its own. */
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id FROM upstreams ORDER BY name");
    if (!s) {
        edge_pb_free(list);
        return cp_db_fail(st, err, "list upstreams");
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        ids = edge_xrealloc(ids, (n + 1) * sizeof(*ids));
        ids[n++] = sqlite3_column_int64(s, 0);
    }
    if (rc != SQLITE_DONE)
        r = cp_db_fail(st, err, "list upstreams");
    cp_db_done(s);
    for (size_t i = 0; r == 0 && i < n; i++) {
        Edge__V1__Upstream *u;
        r = cp_db_upstream_load(st, ids[i], &u, err);
        if (r == 0)
            edge_pb_append((void ***)&list->upstreams, &list->n_upstreams, u);
    }
    free(ids);
    if (r < 0) {
        edge_pb_free(list);
        return r;
    }
    *ret_list = list;
    return 0;
}

static int
write_targets(struct cp_store *st, int64_t id, const Edge__V1__Upstream *in,
              struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM upstream_targets WHERE upstream_id = ?");
    int r;

    if (!s)
        return cp_db_fail(st, err, "upstream targets");
    (void)sqlite3_bind_int64(s, 1, id);
    r = cp_db_step_done(st, s, "upstream targets", err);
    if (r < 0)
        return r;
    for (size_t i = 0; i < in->n_targets; i++) {
        const Edge__V1__Target *t = in->targets[i];
        s = cp_db_stmt(st, "INSERT INTO upstream_targets (upstream_id, pos, host, port, weight) "
                           "VALUES (?, ?, ?, ?, ?)");
        if (!s)
            return cp_db_fail(st, err, "upstream targets");
        (void)sqlite3_bind_int64(s, 1, id);
        (void)sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        (void)cp_db_bind_text(s, 3, t->host);
        (void)sqlite3_bind_int64(s, 4, t->port);
        (void)sqlite3_bind_int64(s, 5, t->weight ? t->weight : 1);
        r = cp_db_step_done(st, s, "upstream targets", err);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Writes an upstream; update selects replacing the one named in->name. */
static int
upstream_write(struct cp_store *st, const char *actor, const Edge__V1__Upstream *in, bool update,
               Edge__V1__Upstream **ret_upstream, struct cp_store_err *err)
{
    const Edge__V1__HealthCheck *hc = in->health_check;
    Edge__V1__Upstream *out = NULL;
    int64_t id = 0;
    sqlite3_stmt *s;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    if (update) {
        r = cp_db_upstream_id(st, in->name, &id, err);
        if (r < 0)
            goto fail;
        s = cp_db_stmt(st, "UPDATE upstreams SET lb = ?2, connect_timeout_ms = ?3,"
                           " timeout_ms = ?4, retries = ?5, pool_size = ?6, tls = ?7, sni = ?8,"
                           " hc_set = ?9, hc_path = ?10, hc_interval_ms = ?11,"
                           " hc_timeout_ms = ?12, hc_healthy = ?13, hc_unhealthy = ?14,"
                           " updated_at = ?15 WHERE name = ?1");
    } else {
        s = cp_db_stmt(st, "INSERT INTO upstreams (name, lb, connect_timeout_ms, timeout_ms,"
                           " retries, pool_size, tls, sni, hc_set, hc_path, hc_interval_ms,"
                           " hc_timeout_ms, hc_healthy, hc_unhealthy, updated_at, created_at)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
                           " ?14, ?15, ?15)");
    }
    if (!s) {
        r = cp_db_fail(st, err, "write upstream");
        goto fail;
    }
    (void)cp_db_bind_text(s, 1, in->name);
    (void)sqlite3_bind_int(s, 2, (int)in->lb);
    (void)sqlite3_bind_int64(s, 3, in->connect_timeout_ms);
    (void)sqlite3_bind_int64(s, 4, in->timeout_ms);
    (void)sqlite3_bind_int64(s, 5, in->retries);
    (void)sqlite3_bind_int64(s, 6, in->pool_size);
    (void)sqlite3_bind_int(s, 7, in->tls ? 1 : 0);
    (void)cp_db_bind_text(s, 8, in->sni);
    (void)sqlite3_bind_int(s, 9, hc ? 1 : 0);
    (void)cp_db_bind_text(s, 10, hc ? hc->path : "");
    (void)sqlite3_bind_int64(s, 11, hc ? hc->interval_ms : 0);
    (void)sqlite3_bind_int64(s, 12, hc ? hc->timeout_ms : 0);
    (void)sqlite3_bind_int64(s, 13, hc ? hc->healthy_threshold : 0);
    (void)sqlite3_bind_int64(s, 14, hc ? hc->unhealthy_threshold : 0);
    (void)sqlite3_bind_int64(s, 15, cp_store_now());
    r = cp_db_step_done(st, s, "write upstream", err);
    if (r == -EEXIST)
        r = cp_store_fail(err, -EEXIST, "upstream '%s' already exists", in->name);
    if (r < 0)
        goto fail;
    if (!update)
        id = sqlite3_last_insert_rowid(st->db);
    r = write_targets(st, id, in, err);
    if (r < 0)
        goto fail;
    if (ret_upstream && (r = cp_db_upstream_load(st, id, &out, err)) < 0)
        goto fail;
    r = cp_db_commit(st, actor, update ? "update" : "create", "upstream", in->name, NULL, err);
    if (r < 0) {
        edge_pb_free(out);
        return r;
    }
    if (ret_upstream)
        *ret_upstream = out;
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_store_upstream_create(struct cp_store *st, const char *actor, const Edge__V1__Upstream *in,
                         Edge__V1__Upstream **ret_upstream, struct cp_store_err *err)
{
    return upstream_write(st, actor, in, false, ret_upstream, err);
}

int
cp_store_upstream_update(struct cp_store *st, const char *actor, const Edge__V1__Upstream *in,
                         Edge__V1__Upstream **ret_upstream, struct cp_store_err *err)
{
    return upstream_write(st, actor, in, true, ret_upstream, err);
}

/* Names up to a few dependents of an upstream into buf; returns how many there are. */
static int
upstream_dependents(struct cp_store *st, int64_t id, const char *name, char *buf, size_t len,
                    struct cp_store_err *err)
{
    /* Routes first, then deployments that some stage serves. */
    sqlite3_stmt *s = cp_db_stmt(
        st, "SELECT 'route ' || a.name || '/' || r.id || ' (' || r.method || ' ' || r.path || ')'"
            " FROM routes r JOIN apis a ON a.id = r.api_id WHERE r.upstream_id = ?1"
            " UNION ALL "
            "SELECT DISTINCT 'deployment ' || d.id || ' (served by stage ' || a.name || '/' ||"
            " s.name || ')' FROM deployment_upstreams du"
            " JOIN deployments d ON d.id = du.deployment_id"
            " JOIN stages s ON s.deployment_id = d.id OR s.canary_deployment_id = d.id"
            " JOIN apis a ON a.id = s.api_id WHERE du.upstream = ?2");
    int n = 0, rc;
    size_t off = 0;

    if (!s)
        return cp_db_fail(st, err, "upstream dependents");
    (void)sqlite3_bind_int64(s, 1, id);
    (void)cp_db_bind_text(s, 2, name);
    buf[0] = '\0';
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n < 3 && off < len) {
            int w = snprintf(buf + off, len - off, "%s%s", n ? ", " : "",
                             (const char *)sqlite3_column_text(s, 0));
            off += w > 0 ? (size_t)w : 0;
        }
        n++;
    }
    if (rc != SQLITE_DONE)
        n = cp_db_fail(st, err, "upstream dependents");
    cp_db_done(s);
    return n;
}

int
cp_store_upstream_delete(struct cp_store *st, const char *actor, const char *name,
                         uint64_t *ret_revision, struct cp_store_err *err)
{
    char deps[256];
    int64_t id;
    int r = cp_db_begin(st, err);

    if (r < 0)
        return r;
    r = cp_db_upstream_id(st, name, &id, err);
    if (r < 0)
        goto fail;
    r = upstream_dependents(st, id, name, deps, sizeof(deps), err);
    if (r < 0)
        goto fail;
    if (r > 0) {
        int n = r;
        r = cp_store_fail(err, -EBUSY, "upstream '%s' is in use by %s%s", name, deps,
                          n > 3 ? " and more" : "");
        goto fail;
    }
    sqlite3_stmt *s = cp_db_stmt(st, "DELETE FROM upstreams WHERE id = ?");
    if (!s) {
        r = cp_db_fail(st, err, "delete upstream");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, id);
    r = cp_db_step_done(st, s, "delete upstream", err);
    if (r < 0)
        goto fail;
    return cp_db_commit(st, actor, "delete", "upstream", name, ret_revision, err);
fail:
    cp_db_rollback(st);
    return r;
}
