/* The store's database layer: open, migrations, errors at open, revisions, audit, rollback. */
#include "store_test.h"

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void
raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static int
raw_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int v = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void
test_open_fresh(void **state)
{
    struct fixture *f = *state;
    const char *id = cp_store_id(f->st);

    assert_int_equal(cp_store_revision(f->st), 0);
    assert_int_equal(strlen(id), 32);
    assert_int_equal(strspn(id, "0123456789abcdef"), 32);
    assert_string_equal(cp_store_path(f->st), f->path);
    assert_true(cp_store_schema_version() >= 1);
    /* Pragmas as promised: WAL on disk, the schema version recorded. */
    assert_int_equal(raw_int(f->path, "PRAGMA user_version"), cp_store_schema_version());
    sqlite3 *db;
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static void
test_reopen_keeps_state(void **state)
{
    struct fixture *f = *state;
    char id[33], err[512];

    make_api(f->st, "pets");
    make_upstream(f->st, "backend");
    assert_int_equal(cp_store_revision(f->st), 2);
    (void)snprintf(id, sizeof(id), "%s", cp_store_id(f->st));
    cp_store_close(f->st);

    f->st = cp_store_open(f->path, err, sizeof(err));
    assert_non_null(f->st);
    assert_int_equal(cp_store_revision(f->st), 2);
    assert_string_equal(cp_store_id(f->st), id);
    Edge__V1__Api *a = NULL;
    struct cp_store_err e = {0};
    assert_int_equal(cp_store_api_get(f->st, "pets", &a, &e), 0);
    assert_string_equal(a->description, "test api");
    edge_pb_free(a);
}

static void
test_open_errors(void **state)
{
    struct fixture *f = *state;
    char err[512], p[PATH_MAX + 32];

    assert_null(cp_store_open("/nonexistent-edge-dir/x/edge.db", err, sizeof(err)));
    assert_non_null(strstr(err, "directory"));

    /* The parent is a regular file. */
    (void)snprintf(p, sizeof(p), "%s/edge.db/inner.db", f->dir);
    assert_null(cp_store_open(p, err, sizeof(err)));
    assert_non_null(strstr(err, "not a directory"));

    if (geteuid() != 0) { /* root writes anywhere: only testable unprivileged */
        char ro[PATH_MAX + 8];
        (void)snprintf(ro, sizeof(ro), "%s/ro", f->dir);
        assert_int_equal(mkdir(ro, 0500), 0);
        (void)snprintf(p, sizeof(p), "%s/edge.db", ro);
        assert_null(cp_store_open(p, err, sizeof(err)));
        assert_non_null(strstr(err, "not writable"));
        (void)chmod(ro, 0700);
    }
    assert_null(cp_store_open("", err, sizeof(err)));
}

static void
test_not_a_database(void **state)
{
    struct fixture *f = *state;
    char err[512], p[PATH_MAX + 16];

    (void)snprintf(p, sizeof(p), "%s/junk.db", f->dir);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    for (int i = 0; i < 400; i++)
        fputs("this is not an SQLite database, just text. ", fp);
    fclose(fp);
    assert_null(cp_store_open(p, err, sizeof(err)));
    assert_non_null(strstr(err, "file is not a database"));
}

static void
test_corrupt_database(void **state)
{
    struct fixture *f = *state;
    char err[512], junk[4096];

    for (int i = 0; i < 20; i++)
        make_api(f->st, (char[]){'a', (char)('a' + i), 0});
    cp_store_close(f->st);
    f->st = NULL;

    /* Keep the header (page 1), scribble over the b-tree pages after it. */
    memset(junk, 0x5a, sizeof(junk));
    int fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    for (off_t off = 4096; off < sb.st_size; off += 4096)
        assert_int_equal(pwrite(fd, junk, sizeof(junk), off), (ssize_t)sizeof(junk));
    close(fd);
    assert_null(cp_store_open(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "corrupt"));
}

static void
test_newer_schema_refused(void **state)
{
    struct fixture *f = *state;
    char err[512], sql[64];

    cp_store_close(f->st);
    f->st = NULL;
    (void)snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", cp_store_schema_version() + 1);
    raw_exec(f->path, sql);
    assert_null(cp_store_open(f->path, err, sizeof(err)));
    assert_non_null(strstr(err, "newer than this binary"));
}

static void
test_revision_and_audit(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    uint64_t rev = 0;

    make_api(f->st, "a1");
    make_api(f->st, "a2");
    make_upstream(f->st, "u1");
    assert_int_equal(cp_store_revision(f->st), 3);
    assert_int_equal(cp_store_api_delete(f->st, "admin", "a1", &rev, &e), 0);
    assert_int_equal(rev, 4);
    assert_int_equal(cp_store_revision(f->st), 4);

    /* A failed write bumps nothing. */
    Edge__V1__Api dup = EDGE__V1__API__INIT;
    dup.name = "a2";
    assert_int_equal(cp_store_api_create(f->st, "admin", &dup, NULL, &e), -EEXIST);
    assert_int_equal(cp_store_revision(f->st), 4);

    Edge__V1__ListAuditResponse *l = NULL;
    assert_int_equal(cp_store_audit_list(f->st, 0, 0, &l, &e), 0);
    assert_int_equal(l->n_entries, 4);
    /* Newest first. */
    assert_int_equal(l->entries[0]->revision, 4);
    assert_string_equal(l->entries[0]->action, "delete");
    assert_string_equal(l->entries[0]->object_type, "api");
    assert_string_equal(l->entries[0]->object_id, "a1");
    assert_string_equal(l->entries[0]->actor, "admin");
    assert_true(l->entries[0]->at > 0);
    assert_int_equal(l->entries[3]->revision, 1);
    assert_string_equal(l->entries[3]->action, "create");
    assert_string_equal(l->entries[3]->actor, "test");
    edge_pb_free(l);

    assert_int_equal(cp_store_audit_list(f->st, 2, 0, &l, &e), 0);
    assert_int_equal(l->n_entries, 2);
    assert_int_equal(l->entries[1]->revision, 3);
    edge_pb_free(l);
    assert_int_equal(cp_store_audit_list(f->st, 0, 2, &l, &e), 0);
    assert_int_equal(l->n_entries, 2);
    edge_pb_free(l);
}

/* A failure at the very last step of a write (the audit insert, via a trigger injected from a
 * second connection) must leave nothing of the write behind. */
static void
test_rollback_on_late_failure(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};

    make_api(f->st, "pets");
    make_upstream(f->st, "backend");
    char *rid = make_route(f->st, "pets", "GET", "/pets", "backend");
    raw_exec(f->path, "CREATE TRIGGER fail_audit BEFORE INSERT ON audit "
                      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");

    Edge__V1__Api in = EDGE__V1__API__INIT;
    in.name = "other";
    Edge__V1__Api *out = NULL;
    assert_true(cp_store_api_create(f->st, "admin", &in, &out, &e) < 0);
    assert_null(out);
    assert_non_null(strstr(e.message, "injected failure"));
    uint64_t rev = 99;
    assert_true(cp_store_api_delete(f->st, "admin", "pets", &rev, &e) < 0);
    assert_int_equal(rev, 99);
    Edge__V1__Deployment *d = NULL;
    assert_true(cp_store_deployment_create(f->st, "admin", "pets", "prod", "", &d, &e) < 0);
    assert_null(d);
    assert_int_equal(cp_store_revision(f->st), 3);

    raw_exec(f->path, "DROP TRIGGER fail_audit");
    struct cp_store_counts c;
    assert_int_equal(cp_store_counts(f->st, &c, &e), 0);
    assert_int_equal(c.apis, 1);
    assert_int_equal(c.routes, 1);
    assert_int_equal(c.deployments, 0);
    assert_int_equal(c.stages, 0);
    Edge__V1__ListAuditResponse *l = NULL;
    assert_int_equal(cp_store_audit_list(f->st, 0, 0, &l, &e), 0);
    assert_int_equal(l->n_entries, 3);
    edge_pb_free(l);
    /* And the store still works. */
    make_api(f->st, "other");
    assert_int_equal(cp_store_revision(f->st), 4);
    free(rid);
}

static void
test_counts(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    struct cp_store_counts c;

    make_api(f->st, "pets");
    make_upstream(f->st, "backend");
    free(make_route(f->st, "pets", "GET", "/pets", "backend"));
    free(make_route(f->st, "pets", "GET", "/pets/{id}", "backend"));
    Edge__V1__Deployment *d = NULL;
    must(cp_store_deployment_create(f->st, "admin", "pets", "prod", "first", &d, &e), &e);
    edge_pb_free(d);
    must(cp_store_node_connected(f->st, "n1", "ipv4:127.0.0.1:1", "0.1.0", 10), &e);
    assert_int_equal(cp_store_counts(f->st, &c, &e), 0);
    assert_int_equal(c.apis, 1);
    assert_int_equal(c.routes, 2);
    assert_int_equal(c.upstreams, 1);
    assert_int_equal(c.stages, 1);
    assert_int_equal(c.deployments, 1);
    assert_int_equal(c.nodes_known, 1);
}

/* Every write the store acknowledged survives a SIGKILL of the writer: a child creates APIs
 * and reports each one after its call returned; the parent kills it mid-stream and reopens. */
static void
test_acked_writes_survive_sigkill(void **state)
{
    struct fixture *f = *state;
    int fds[2];

    cp_store_close(f->st);
    f->st = NULL;
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[512], name[16];
        struct cp_store *st = cp_store_open(f->path, err, sizeof(err));
        if (!st)
            _exit(2);
        for (int i = 0; i < 500; i++) { /* bounded: the parent kills it long before */
            Edge__V1__Api in = EDGE__V1__API__INIT;
            struct cp_store_err e;
            (void)snprintf(name, sizeof(name), "api%d", i);
            in.name = name;
            if (cp_store_api_create(st, "test", &in, NULL, &e) < 0)
                _exit(3);
            if (write(fds[1], &i, sizeof(i)) != sizeof(i))
                _exit(4);
        }
        _exit(0);
    }
    close(fds[1]);
    int last = -1, i;
    while (last < 20 && read(fds[0], &i, sizeof(i)) == sizeof(i))
        last = i;
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Acks already in the pipe were acknowledged writes too. */
    while (read(fds[0], &i, sizeof(i)) == sizeof(i))
        last = i;
    close(fds[0]);
    assert_true(last >= 20);

    char err[512];
    f->st = cp_store_open(f->path, err, sizeof(err));
    if (!f->st)
        fail_msg("reopen: %s", err);
    struct cp_store_err e = {0};
    for (int k = 0; k <= last; k++) {
        char name[16];
        Edge__V1__Api *a = NULL;
        (void)snprintf(name, sizeof(name), "api%d", k);
        if (cp_store_api_get(f->st, name, &a, &e) != 0)
            fail_msg("acknowledged %s lost: %s", name, e.message);
        edge_pb_free(a);
    }
    assert_true(cp_store_revision(f->st) >= (uint64_t)last + 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_fresh, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_state, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_database, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_revision_and_audit, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_rollback_on_late_failure, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_counts, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_acked_writes_survive_sigkill, fixture_setup,
                                        fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
