/* Internals shared by the store's files (db.c, apis.c, routes.c, ...). Not for other modules. */
#ifndef CP_STORE_INTERNAL_H
#define CP_STORE_INTERNAL_H

#include "store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct cp_stmt_slot {
    const char *sql; /* a string literal: compared by pointer first, then by text */
    sqlite3_stmt *stmt;
};

struct cp_store {
    sqlite3 *db;
    char *path;
    uint64_t revision;
    char store_id[33];
    struct cp_stmt_slot *stmts;
    size_t n_stmts;
};

/* Fills err (may be NULL) and returns code (a negative errno). */
int cp_store_fail(struct cp_store_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Maps the connection's last SQLite error to an errno and fills err with "what: message". */
int cp_db_fail(struct cp_store *st, struct cp_store_err *err, const char *what);
/* Maps an SQLite result code to a negative errno. */
int cp_db_errno(int rc);

/* The cached prepared statement for sql (prepared on first use), reset and unbound. NULL on
 * failure (cp_db_fail() tells why). A statement is used by one query at a time: callers call
 * cp_db_done() when finished, so that no read lock lingers. */
sqlite3_stmt *cp_db_stmt(struct cp_store *st, const char *sql);
void cp_db_done(sqlite3_stmt *s);

/* One mutation: cp_db_begin() takes the write lock (BEGIN IMMEDIATE); cp_db_commit() bumps the
 * revision, writes the audit row and commits; on any failure it rolls back. cp_db_rollback()
 * ends a failed mutation. */
int cp_db_begin(struct cp_store *st, struct cp_store_err *err);
int cp_db_commit(struct cp_store *st, const char *actor, const char *action,
                 const char *object_type, const char *object_id, uint64_t *ret_revision,
                 struct cp_store_err *err);
void cp_db_rollback(struct cp_store *st);
/* A consistent read of several tables (BEGIN DEFERRED ... COMMIT). */
int cp_db_read_begin(struct cp_store *st, struct cp_store_err *err);
void cp_db_read_end(struct cp_store *st);

/* Binds s as text; NULL binds "". */
int cp_db_bind_text(sqlite3_stmt *s, int idx, const char *text);
/* Column i as an owned protobuf string (edge_pb_strdup). */
char *cp_db_col_str(sqlite3_stmt *s, int i);
/* One row, one integer: 0 and *ret_value, 1 when there is no row, or a negative errno. */
int cp_db_step_int(struct cp_store *st, sqlite3_stmt *s, int64_t *ret_value,
                   struct cp_store_err *err);
/* Steps a statement that returns no row; 0 or a negative errno (constraint -> -EEXIST). */
int cp_db_step_done(struct cp_store *st, sqlite3_stmt *s, const char *what,
                    struct cp_store_err *err);

/* prefix + "-" + 12 random hex digits into out (at least 16 bytes). */
void cp_store_new_id(char prefix, char *out, size_t out_len);
int64_t cp_store_now(void);

/* Row ids by name: 0, or -ENOENT with a message naming the object. */
int cp_db_api_id(struct cp_store *st, const char *name, int64_t *ret_id, struct cp_store_err *err);
/* true for a route's upstream given as "${stageVariables.NAME}" (validated by the API). */
bool cp_db_is_stage_var(const char *ref);
/* A route's upstream reference: *ret_id (the upstream's row) for a name, or 0 with *ret_id = 0
 * for "${stageVariables.NAME}" (no row: each node resolves it per stage); -ENOENT when the
 * named upstream does not exist. */
int cp_db_route_upstream(struct cp_store *st, const char *ref, int64_t *ret_id,
                         struct cp_store_err *err);
int cp_db_upstream_id(struct cp_store *st, const char *name, int64_t *ret_id,
                      struct cp_store_err *err);
int cp_db_stage_id(struct cp_store *st, const char *api, const char *name, int64_t *ret_id,
                   struct cp_store_err *err);

/* Loaders shared between the Get/List functions and cp_store_load_config(). Each returns 0 and
 * an owned message, or a negative errno. */
int cp_db_api_load(struct cp_store *st, sqlite3_stmt *row, Edge__V1__Api **ret_api,
                   struct cp_store_err *err);
int cp_db_upstream_load(struct cp_store *st, int64_t id, Edge__V1__Upstream **ret_upstream,
                        struct cp_store_err *err);
int cp_db_stage_load(struct cp_store *st, int64_t id, Edge__V1__Stage **ret_stage,
                     struct cp_store_err *err);
int cp_db_deployment_load(struct cp_store *st, const char *id, bool with_routes,
                          Edge__V1__Deployment **ret_deployment, struct cp_store_err *err);
int cp_db_domain_row(sqlite3_stmt *row, Edge__V1__DomainMapping **ret_domain);
int cp_db_key_load(struct cp_store *st, const char *id, Edge__V1__ApiKey **ret_key,
                   struct cp_store_err *err);
int cp_db_plan_load(struct cp_store *st, int64_t id, Edge__V1__UsagePlan **ret_plan,
                    struct cp_store_err *err);

/* Schema: migrations[i] takes user_version i to i + 1. */
extern const char *const cp_store_migrations[];
extern const int cp_store_n_migrations;

#endif
