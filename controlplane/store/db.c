/* Opening the database (checks, pragmas, migrations), the statement cache, transactions and
 * the global revision. */
#include "pb.h"
#include "store_internal.h"

#include <errno.h>
#include <libgen.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CP_STORE_BUSY_TIMEOUT_MS 5000

int
cp_store_fail(struct cp_store_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;

        err->code = code;
        va_start(ap, fmt);
        (void)vsnprintf(err->message, sizeof(err->message), fmt, ap);
        va_end(ap);
    }
    return code;
}

int
cp_db_errno(int rc)
{
    switch (rc) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return -EEXIST;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return -EBUSY;
    }
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
        return -EINVAL;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return -EAGAIN;
    case SQLITE_NOMEM:
        return -ENOMEM;
    case SQLITE_FULL:
        return -ENOSPC;
    case SQLITE_READONLY:
        return -EROFS;
    default:
        return -EIO;
    }
}

int
cp_db_fail(struct cp_store *st, struct cp_store_err *err, const char *what)
{
    int rc = sqlite3_extended_errcode(st->db);

    return cp_store_fail(err, cp_db_errno(rc), "%s: %s", what, sqlite3_errmsg(st->db));
}

sqlite3_stmt *
cp_db_stmt(struct cp_store *st, const char *sql)
{
    for (size_t i = 0; i < st->n_stmts; i++) {
        if (st->stmts[i].sql == sql || strcmp(st->stmts[i].sql, sql) == 0) {
            sqlite3_stmt *s = st->stmts[i].stmt;
            (void)sqlite3_reset(s);
            (void)sqlite3_clear_bindings(s);
            return s;
        }
    }
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
        return NULL;
    st->stmts = edge_xrealloc(st->stmts, (st->n_stmts + 1) * sizeof(*st->stmts));
    st->stmts[st->n_stmts].sql = sql;
    st->stmts[st->n_stmts].stmt = s;
    st->n_stmts++;
    return s;
}

void
cp_db_done(sqlite3_stmt *s)
{
    if (s) {
        (void)sqlite3_reset(s);
        (void)sqlite3_clear_bindings(s);
    }
}

int
cp_db_bind_text(sqlite3_stmt *s, int idx, const char *text)
{
    return sqlite3_bind_text(s, idx, text ? text : "", -1, SQLITE_TRANSIENT);
}

char *
cp_db_col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return edge_pb_strndup((const char *)t, t ? (size_t)sqlite3_column_bytes(s, i) : 0);
}

int
cp_db_step_int(struct cp_store *st, sqlite3_stmt *s, int64_t *ret_value, struct cp_store_err *err)
{
    int rc = sqlite3_step(s);

    if (rc == SQLITE_ROW) {
        *ret_value = sqlite3_column_int64(s, 0);
        cp_db_done(s);
        return 0;
    }
    cp_db_done(s);
    if (rc == SQLITE_DONE)
        return 1;
    return cp_db_fail(st, err, "query");
}

int
cp_db_step_done(struct cp_store *st, sqlite3_stmt *s, const char *what, struct cp_store_err *err)
{
    int rc = sqlite3_step(s);
    int r = 0;

    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        r = cp_db_fail(st, err, what);
    cp_db_done(s);
    return r;
}

static int
exec_cached(struct cp_store *st, const char *sql, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, sql);

    if (!s)
        return cp_db_fail(st, err, sql);
    return cp_db_step_done(st, s, sql, err);
}

int
cp_db_begin(struct cp_store *st, struct cp_store_err *err)
{
    return exec_cached(st, "BEGIN IMMEDIATE", err);
}

void
cp_db_rollback(struct cp_store *st)
{
    /* A failed COMMIT or an error SQLite itself rolled back may have ended it already. */
    if (!sqlite3_get_autocommit(st->db))
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

int
cp_db_commit(struct cp_store *st, const char *actor, const char *action, const char *object_type,
             const char *object_id, uint64_t *ret_revision, struct cp_store_err *err)
{
    int64_t rev = 0;
    int r;
    sqlite3_stmt *s = cp_db_stmt(st, "UPDATE meta SET revision = revision + 1 WHERE id = 1 "
                                     "RETURNING revision");

    if (!s) {
        r = cp_db_fail(st, err, "revision");
        goto fail;
    }
    r = cp_db_step_int(st, s, &rev, err);
    if (r != 0) {
        if (r > 0)
            r = cp_store_fail(err, -EIO, "meta row missing");
        goto fail;
    }
    s = cp_db_stmt(st, "INSERT INTO audit (revision, at, actor, action, object_type, object_id) "
                       "VALUES (?, ?, ?, ?, ?, ?)");
    if (!s) {
        r = cp_db_fail(st, err, "audit");
        goto fail;
    }
    (void)sqlite3_bind_int64(s, 1, rev);
    (void)sqlite3_bind_int64(s, 2, cp_store_now());
    (void)cp_db_bind_text(s, 3, actor);
    (void)cp_db_bind_text(s, 4, action);
    (void)cp_db_bind_text(s, 5, object_type);
    (void)cp_db_bind_text(s, 6, object_id);
    r = cp_db_step_done(st, s, "audit", err);
    if (r < 0)
        goto fail;
    r = exec_cached(st, "COMMIT", err);
    if (r < 0)
        goto fail;
    st->revision = (uint64_t)rev;
    if (ret_revision)
        *ret_revision = (uint64_t)rev;
    return 0;
fail:
    cp_db_rollback(st);
    return r;
}

int
cp_db_read_begin(struct cp_store *st, struct cp_store_err *err)
{
    return exec_cached(st, "BEGIN", err);
}

void
cp_db_read_end(struct cp_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        (void)sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
}

void
cp_store_new_id(char prefix, char *out, size_t out_len)
{
    unsigned char b[6];
    static const char hex[] = "0123456789abcdef";

    if (RAND_bytes(b, sizeof(b)) != 1) {
        /* RAND_bytes only fails when the OS has no entropy source: nothing sane is left. */
        fputs("RAND_bytes failed\n", stderr);
        abort();
    }
    char buf[16];
    buf[0] = prefix;
    buf[1] = '-';
    for (size_t i = 0; i < sizeof(b); i++) {
        buf[2 + 2 * i] = hex[b[i] >> 4];
        buf[3 + 2 * i] = hex[b[i] & 15];
    }
    buf[14] = '\0';
    (void)snprintf(out, out_len, "%s", buf);
}

int64_t
cp_store_now(void)
{
    return (int64_t)time(NULL);
}

static int
lookup_id(struct cp_store *st, const char *sql, const char *a, const char *b, int64_t *ret_id,
          struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, sql);

    if (!s)
        return cp_db_fail(st, err, "lookup");
    (void)cp_db_bind_text(s, 1, a);
    if (b)
        (void)cp_db_bind_text(s, 2, b);
    return cp_db_step_int(st, s, ret_id, err);
}

int
cp_db_api_id(struct cp_store *st, const char *name, int64_t *ret_id, struct cp_store_err *err)
{
    int r = lookup_id(st, "SELECT id FROM apis WHERE name = ?", name, NULL, ret_id, err);

    if (r > 0)
        return cp_store_fail(err, -ENOENT, "api '%s' not found", name);
    return r;
}

int
cp_db_upstream_id(struct cp_store *st, const char *name, int64_t *ret_id, struct cp_store_err *err)
{
    int r = lookup_id(st, "SELECT id FROM upstreams WHERE name = ?", name, NULL, ret_id, err);

    if (r > 0)
        return cp_store_fail(err, -ENOENT, "upstream '%s' not found", name);
    return r;
}

int
cp_db_stage_id(struct cp_store *st, const char *api, const char *name, int64_t *ret_id,
               struct cp_store_err *err)
{
    int64_t api_id;
    int r = cp_db_api_id(st, api, &api_id, err);

    if (r < 0)
        return r;
    r = lookup_id(st,
                  "SELECT s.id FROM stages s JOIN apis a ON a.id = s.api_id "
                  "WHERE a.name = ? AND s.name = ?",
                  api, name, ret_id, err);
    if (r > 0)
        return cp_store_fail(err, -ENOENT, "stage '%s' of api '%s' not found", name, api);
    return r;
}

/* ---- open --------------------------------------------------------------------------------- */

/* Runs a statement at open time and copies the first column of its first row (if any). */
static int
open_query(sqlite3 *db, const char *sql, char *out, size_t out_len)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);

    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(s);
    if (out_len)
        out[0] = '\0';
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        if (out_len)
            (void)snprintf(out, out_len, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    (void)sqlite3_finalize(s);
    return rc;
}

static int
check_dir(const char *path, char *err, size_t err_len)
{
    char *dup = strdup(path);
    struct stat sb;
    int r = 0;

    if (!dup) {
        (void)snprintf(err, err_len, "%s: out of memory", path);
        return -ENOMEM;
    }
    const char *dir = dirname(dup);
    if (stat(dir, &sb) != 0) {
        r = -errno;
        (void)snprintf(err, err_len, "cannot open database %s: directory %s: %s", path, dir,
                       strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        r = -ENOTDIR;
        (void)snprintf(err, err_len, "cannot open database %s: %s is not a directory", path, dir);
    } else if (access(dir, W_OK | X_OK) != 0) {
        /* WAL mode creates the -wal and -shm files beside the database. */
        r = -errno;
        (void)snprintf(err, err_len, "cannot open database %s: directory %s is not writable: %s",
                       path, dir, strerror(errno));
    } else if (access(path, F_OK) == 0 && access(path, R_OK | W_OK) != 0) {
        r = -errno;
        (void)snprintf(err, err_len, "cannot open database %s: %s", path, strerror(errno));
    }
    free(dup);
    return r;
}

static int
migrate(struct cp_store *st, int version, char *err, size_t err_len)
{
    char sql[64];
    int rc;

    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    /* Another process may have migrated while this one waited for the lock. */
    if (open_query(st->db, "PRAGMA user_version", sql, sizeof(sql)) != SQLITE_OK)
        goto fail;
    version = atoi(sql);
    if (version > cp_store_n_migrations) {
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
        (void)snprintf(err, err_len,
                       "database %s has schema version %d, newer than this binary knows (%d): "
                       "upgrade edge-controlplane",
                       st->path, version, cp_store_n_migrations);
        return -EPROTO;
    }
    for (int v = version; v < cp_store_n_migrations; v++) {
        if (sqlite3_exec(st->db, cp_store_migrations[v], NULL, NULL, NULL) != SQLITE_OK)
            goto fail;
    }
    (void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", cp_store_n_migrations);
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;

    char id[33];
    if (open_query(st->db, "SELECT store_id FROM meta WHERE id = 1", id, sizeof(id)) != SQLITE_OK)
        goto fail;
    if (id[0] == '\0') {
        unsigned char b[16];
        if (RAND_bytes(b, sizeof(b)) != 1)
            goto fail;
        for (size_t i = 0; i < sizeof(b); i++)
            (void)snprintf(id + 2 * i, 3, "%02x", b[i]);
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(st->db,
                               "INSERT INTO meta (id, revision, store_id, created_at) "
                               "VALUES (1, 0, ?, ?)",
                               -1, &s, NULL) != SQLITE_OK)
            goto fail;
        (void)sqlite3_bind_text(s, 1, id, -1, SQLITE_TRANSIENT);
        (void)sqlite3_bind_int64(s, 2, cp_store_now());
        rc = sqlite3_step(s);
        (void)sqlite3_finalize(s);
        if (rc != SQLITE_DONE)
            goto fail;
    }
    if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    (void)snprintf(err, err_len, "database %s: migration failed: %s", st->path,
                   sqlite3_errmsg(st->db));
    if (!sqlite3_get_autocommit(st->db))
        (void)sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return -EIO;
}

static int
open_db(struct cp_store *st, char *err, size_t err_len)
{
    char val[256];
    int rc;

    rc = sqlite3_open_v2(st->path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        (void)snprintf(err, err_len, "cannot open database %s: %s", st->path,
                       st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        return -EIO;
    }
    (void)sqlite3_extended_result_codes(st->db, 1);
    (void)sqlite3_busy_timeout(st->db, CP_STORE_BUSY_TIMEOUT_MS);

    /* The first statement reads the header: a file that is not SQLite fails here. */
    rc = open_query(st->db, "PRAGMA journal_mode = WAL", val, sizeof(val));
    if (rc != SQLITE_OK)
        goto sqlite_fail;
    if (strcmp(val, "wal") != 0) {
        (void)snprintf(err, err_len, "database %s: cannot switch to WAL mode (journal_mode %s)",
                       st->path, val);
        return -EIO;
    }
    /* WAL + FULL: a committed transaction is on disk before COMMIT returns. */
    rc = open_query(st->db, "PRAGMA synchronous = FULL", NULL, 0);
    if (rc == SQLITE_OK)
        rc = open_query(st->db, "PRAGMA foreign_keys = ON", NULL, 0);
    if (rc == SQLITE_OK)
        rc = open_query(st->db, "PRAGMA foreign_keys", val, sizeof(val));
    if (rc != SQLITE_OK)
        goto sqlite_fail;
    if (strcmp(val, "1") != 0) {
        (void)snprintf(err, err_len, "database %s: this SQLite has no foreign key support",
                       st->path);
        return -EIO;
    }
    rc = open_query(st->db, "PRAGMA quick_check", val, sizeof(val));
    if (rc != SQLITE_OK)
        goto sqlite_fail;
    if (strcmp(val, "ok") != 0) {
        (void)snprintf(err, err_len, "database %s is corrupt (quick_check: %s)", st->path, val);
        return -EIO;
    }
    rc = open_query(st->db, "PRAGMA user_version", val, sizeof(val));
    if (rc != SQLITE_OK)
        goto sqlite_fail;
    int version = atoi(val);
    if (version > cp_store_n_migrations) {
        (void)snprintf(err, err_len,
                       "database %s has schema version %d, newer than this binary knows (%d): "
                       "upgrade edge-controlplane",
                       st->path, version, cp_store_n_migrations);
        return -EPROTO;
    }
    int r = migrate(st, version, err, err_len);
    if (r < 0)
        return r;

    sqlite3_stmt *s = NULL;
    rc = sqlite3_prepare_v2(st->db, "SELECT revision, store_id FROM meta WHERE id = 1", -1, &s,
                            NULL);
    if (rc != SQLITE_OK)
        goto sqlite_fail;
    if (sqlite3_step(s) != SQLITE_ROW) {
        (void)sqlite3_finalize(s);
        (void)snprintf(err, err_len, "database %s: meta row missing", st->path);
        return -EIO;
    }
    st->revision = (uint64_t)sqlite3_column_int64(s, 0);
    const unsigned char *id = sqlite3_column_text(s, 1);
    (void)snprintf(st->store_id, sizeof(st->store_id), "%s", id ? (const char *)id : "");
    (void)sqlite3_finalize(s);
    return 0;

sqlite_fail:
    rc = sqlite3_extended_errcode(st->db);
    if ((rc & 0xff) == SQLITE_CORRUPT)
        (void)snprintf(err, err_len, "database %s is corrupt: %s", st->path,
                       sqlite3_errmsg(st->db));
    else
        (void)snprintf(err, err_len, "database %s: %s", st->path, sqlite3_errmsg(st->db));
    return cp_db_errno(rc);
}

struct cp_store *
cp_store_open(const char *path, char *err, size_t err_len)
{
    char dummy[1];

    if (!err || err_len == 0) {
        err = dummy;
        err_len = sizeof(dummy);
    }
    err[0] = '\0';
    if (!path || !*path) {
        (void)snprintf(err, err_len, "no database path");
        return NULL;
    }
    if (check_dir(path, err, err_len) < 0)
        return NULL;
    struct cp_store *st = edge_xcalloc(1, sizeof(*st));
    st->path = strdup(path);
    if (!st->path) {
        (void)snprintf(err, err_len, "out of memory");
        free(st);
        return NULL;
    }
    if (open_db(st, err, err_len) < 0) {
        cp_store_close(st);
        return NULL;
    }
    return st;
}

void
cp_store_close(struct cp_store *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->n_stmts; i++)
        (void)sqlite3_finalize(st->stmts[i].stmt);
    free(st->stmts);
    if (st->db)
        (void)sqlite3_close(st->db);
    free(st->path);
    free(st);
}

uint64_t
cp_store_revision(struct cp_store *st)
{
    return st->revision;
}

const char *
cp_store_id(struct cp_store *st)
{
    return st->store_id;
}

const char *
cp_store_path(struct cp_store *st)
{
    return st->path;
}

int
cp_store_schema_version(void)
{
    return cp_store_n_migrations;
}

/* ---- status and audit --------------------------------------------------------------------- */

int
cp_store_counts(struct cp_store *st, struct cp_store_counts *ret_counts, struct cp_store_err *err)
{
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT (SELECT count(*) FROM apis),"
                                     " (SELECT count(*) FROM routes),"
                                     " (SELECT count(*) FROM upstreams),"
                                     " (SELECT count(*) FROM stages),"
                                     " (SELECT count(*) FROM deployments),"
                                     " (SELECT count(*) FROM nodes)");
    if (!s)
        return cp_db_fail(st, err, "counts");
    if (sqlite3_step(s) != SQLITE_ROW) {
        int r = cp_db_fail(st, err, "counts");
        cp_db_done(s);
        return r;
    }
    struct cp_store_counts c = {
        .apis = (uint32_t)sqlite3_column_int64(s, 0),
        .routes = (uint32_t)sqlite3_column_int64(s, 1),
        .upstreams = (uint32_t)sqlite3_column_int64(s, 2),
        .stages = (uint32_t)sqlite3_column_int64(s, 3),
        .deployments = (uint32_t)sqlite3_column_int64(s, 4),
        .nodes_known = (uint32_t)sqlite3_column_int64(s, 5),
    };
    cp_db_done(s);
    *ret_counts = c;
    return 0;
}

int
cp_store_audit_list(struct cp_store *st, uint32_t limit, uint64_t after_revision,
                    Edge__V1__ListAuditResponse **ret_list, struct cp_store_err *err)
{
    if (limit == 0)
        limit = 100;
    if (limit > CP_STORE_MAX_AUDIT_LIMIT)
        limit = CP_STORE_MAX_AUDIT_LIMIT;
    sqlite3_stmt *s = cp_db_stmt(st, "SELECT revision, at, actor, action, object_type, object_id "
                                     "FROM audit WHERE revision > ? ORDER BY id DESC LIMIT ?");
    if (!s)
        return cp_db_fail(st, err, "audit");
    (void)sqlite3_bind_int64(s, 1, (sqlite3_int64)after_revision);
    (void)sqlite3_bind_int64(s, 2, limit);
    Edge__V1__ListAuditResponse *list = edge_pb_new(&edge__v1__list_audit_response__descriptor);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        Edge__V1__AuditEntry *e = edge_pb_new(&edge__v1__audit_entry__descriptor);
        e->revision = (uint64_t)sqlite3_column_int64(s, 0);
        e->at = sqlite3_column_int64(s, 1);
        e->actor = cp_db_col_str(s, 2);
        e->action = cp_db_col_str(s, 3);
        e->object_type = cp_db_col_str(s, 4);
        e->object_id = cp_db_col_str(s, 5);
        edge_pb_append((void ***)&list->entries, &list->n_entries, e);
    }
    if (rc != SQLITE_DONE) {
        int r = cp_db_fail(st, err, "audit");
        cp_db_done(s);
        edge_pb_free(list);
        return r;
    }
    cp_db_done(s);
    *ret_list = list;
    return 0;
}
