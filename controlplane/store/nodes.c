/* Data-plane nodes as the control plane sees them. These writes are bookkeeping, not
 * configuration: they bump no revision and write no audit row. */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>

int
cp_store_node_connected(struct cp_store *st, const char *id, const char *address,
                        const char *version, int64_t now)
{
    sqlite3_stmt *s = cp_db_stmt(st, "INSERT INTO nodes (id, address, version, last_seen,"
                                     " connected, first_seen) VALUES (?1, ?2, ?3, ?4, 1, ?4)"
                                     " ON CONFLICT (id) DO UPDATE SET address = ?2,"
                                     " version = ?3, last_seen = ?4, connected = 1");

    if (!s)
        return cp_db_errno(sqlite3_extended_errcode(st->db));
    (void)cp_db_bind_text(s, 1, id);
    (void)cp_db_bind_text(s, 2, address);
    (void)cp_db_bind_text(s, 3, version);
    (void)sqlite3_bind_int64(s, 4, now);
    return cp_db_step_done(st, s, "node", NULL);
}

static int
node_update(struct cp_store *st, sqlite3_stmt *s)
{
    int r = cp_db_step_done(st, s, "node", NULL);

    if (r == 0 && sqlite3_changes(st->db) == 0)
        return -ENOENT;
    return r;
}

int
cp_store_node_ack(struct cp_store *st, const char *id, uint64_t revision, bool ok,
                  const char *error, int64_t now)
{
    sqlite3_stmt *s;

    if (ok)
        s = cp_db_stmt(st, "UPDATE nodes SET acked_revision = ?2, last_seen = ?3 WHERE id = ?1");
    else
        s = cp_db_stmt(st, "UPDATE nodes SET nacked_revision = ?2, last_error = ?4,"
                           " last_seen = ?3 WHERE id = ?1");
    if (!s)
        return cp_db_errno(sqlite3_extended_errcode(st->db));
    (void)cp_db_bind_text(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, (sqlite3_int64)revision);
    (void)sqlite3_bind_int64(s, 3, now);
    if (!ok)
        (void)cp_db_bind_text(s, 4, error);
    return node_update(st, s);
}

int
cp_store_node_disconnected(struct cp_store *st, const char *id, int64_t now)
{
    sqlite3_stmt *s =
        cp_db_stmt(st, "UPDATE nodes SET connected = 0, last_seen = ?2 WHERE id = ?1");

    if (!s)
        return cp_db_errno(sqlite3_extended_errcode(st->db));
    (void)cp_db_bind_text(s, 1, id);
    (void)sqlite3_bind_int64(s, 2, now);
    return node_update(st, s);
}

int
cp_store_nodes_reset(struct cp_store *st)
{
    sqlite3_stmt *s = cp_db_stmt(st, "UPDATE nodes SET connected = 0 WHERE connected <> 0");

    if (!s)
        return cp_db_errno(sqlite3_extended_errcode(st->db));
    return cp_db_step_done(st, s, "nodes", NULL);
}

int
cp_store_node_list(struct cp_store *st, Edge__V1__ListNodesResponse **ret_list,
                   struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT id, address, version, acked_revision,"
                                     " nacked_revision, last_error, last_seen, connected,"
                                     " first_seen FROM nodes ORDER BY id");
    int rc;

    if (!s)
        return cp_db_fail(st, err, "list nodes");
    Edge__V1__ListNodesResponse *list = edge_pb_new(&edge__v1__list_nodes_response__descriptor);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__Node *n = edge_pb_new(&edge__v1__node__descriptor);
        n->id = cp_db_col_str(s, 0);
        n->address = cp_db_col_str(s, 1);
        n->version = cp_db_col_str(s, 2);
        n->acked_revision = (uint64_t)sqlite3_column_int64(s, 3);
        n->nacked_revision = (uint64_t)sqlite3_column_int64(s, 4);
        n->last_error = cp_db_col_str(s, 5);
        n->last_seen = sqlite3_column_int64(s, 6);
        n->connected = sqlite3_column_int(s, 7) != 0;
        n->first_seen = sqlite3_column_int64(s, 8);
        edge_pb_append((void ***)&list->nodes, &list->n_nodes, n);
    }
    if (rc != SQLITE_DONE) {
        int r = cp_db_fail(st, err, "list nodes");
        cp_db_done(s);
        edge_pb_free(list);
        return r;
    }
    cp_db_done(s);
    *ret_list = list;
    return 0;
}
