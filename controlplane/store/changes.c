/* The change log the triggers of schema step 4 fill: what changed after a sequence number,
 * loaded as Resources, so that a reader holding the configuration can follow it at a cost
 * proportional to what changed. */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The newest sequence ever assigned (AUTOINCREMENT's record of it), 0 before the first. */
static int
newest_seq(struct cp_store *st, int64_t *ret_seq, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT seq FROM sqlite_sequence WHERE name = 'changes'");
    int r;

    if (!s)
        return cp_db_fail(st, err, "changes");
    r = cp_db_step_int(st, s, ret_seq, err);
    if (r == 1) {
        *ret_seq = 0;
        r = 0;
    }
    return r;
}

int
cp_store_load_config_seq(struct cp_store *st, Edge__V1__ConfigUpdate **ret_update,
                         uint64_t *ret_seq)
{
    struct cp_store_err err = {0};
    int64_t seq = 0;
    int r = cp_db_read_begin(st, &err);

    if (r < 0)
        return r;
    r = newest_seq(st, &seq, &err);
    if (r == 0)
        r = cp_store_load_config(st, ret_update);
    cp_db_read_end(st);
    if (r == 0)
        *ret_seq = (uint64_t)seq;
    return r;
}

/* 0 when every change after after_seq is still in the log: the log only loses its oldest
 * entries, so it is enough that the oldest kept one is at most after_seq + 1. */
static int
log_complete(struct cp_store *st, int64_t after_seq, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT min(seq) FROM changes");
    int r = 0;

    if (!s)
        return cp_db_fail(st, err, "changes");
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW)
        r = cp_db_fail(st, err, "changes");
    else if (sqlite3_column_type(s, 0) == SQLITE_NULL || sqlite3_column_int64(s, 0) > after_seq + 1)
        r = 1;
    cp_db_done(s);
    return r;
}

static int
load_changed(struct cp_store *st, int64_t after_seq, Edge__V1__ConfigUpdate *u,
             struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT DISTINCT type, id FROM changes WHERE seq > ?"
                                     " ORDER BY type, id");
    int rc, r = 0;

    if (!s)
        return cp_db_fail(st, err, "changes");
    (void)sqlite3_bind_int64(s, 1, after_seq);
    while (r >= 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__ResourceType type = (Edge__V1__ResourceType)sqlite3_column_int(s, 0);
        const unsigned char *id = sqlite3_column_text(s, 1);
        Edge__V1__Resource *res = NULL;

        /* The loaders use statements of their own, never this one. */
        r = cp_store_resource_load(st, type, id ? (const char *)id : "", &res);
        if (r == 0) {
            edge_pb_append((void ***)&u->put, &u->n_put, res);
        } else if (r == 1) {
            Edge__V1__ResourceRef *ref = edge_pb_new(&edge__v1__resource_ref__descriptor);
            ref->type = type;
            ref->id = edge_pb_strdup(id ? (const char *)id : "");
            edge_pb_append((void ***)&u->remove, &u->n_remove, ref);
            r = 0;
        }
    }
    if (r >= 0 && rc != SQLITE_DONE)
        r = cp_db_fail(st, err, "changes");
    cp_db_done(s);
    return r;
}

int
cp_store_load_changes(struct cp_store *st, uint64_t after_seq, size_t max_changes,
                      Edge__V1__ConfigUpdate **ret_delta, uint64_t *ret_seq)
{
    struct cp_store_err err = {0};
    int64_t seq = 0, rev = 0;
    Edge__V1__ConfigUpdate *u = NULL;
    int r = cp_db_read_begin(st, &err);

    if (r < 0)
        return r;
    r = newest_seq(st, &seq, &err);
    if (r == 0 && (seq < (int64_t)after_seq || (uint64_t)seq - after_seq > max_changes))
        r = 1; /* another database, or more than reloading everything would cost */
    if (r == 0 && (uint64_t)seq > after_seq)
        r = log_complete(st, (int64_t)after_seq, &err);
    if (r == 0) {
        sqlite3_stmt *s = cp_db_stmt(st, "SELECT revision FROM meta WHERE id = 1");
        if (!s)
            r = cp_db_fail(st, &err, "changes");
        else if ((r = cp_db_step_int(st, s, &rev, &err)) > 0)
            r = -EIO;
    }
    if (r == 0) {
        u = edge_pb_new(&edge__v1__config_update__descriptor);
        if ((uint64_t)seq > after_seq)
            r = load_changed(st, (int64_t)after_seq, u, &err);
    }
    cp_db_read_end(st);
    if (r != 0) {
        edge_pb_free(u);
        return r;
    }
    u->revision = (uint64_t)rev;
    u->store_id = edge_pb_strdup(st->store_id);
    u->full = false;
    *ret_delta = u;
    *ret_seq = (uint64_t)seq;
    return 0;
}
