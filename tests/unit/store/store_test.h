/* Fixtures shared by the store's unit tests: a temporary directory per test and small
 * builders for the objects the tests create. Header-only, static functions. */
#ifndef STORE_TEST_H
#define STORE_TEST_H

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include "pb.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fixture {
    char dir[PATH_MAX];
    char path[PATH_MAX + 16];
    struct cp_store *st;
};

static __attribute__((unused)) void
rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX * 2];

    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        (void)snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (unlink(p) != 0)
            rm_tree(p);
    }
    closedir(d);
    (void)rmdir(dir);
}

static __attribute__((unused)) int
fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char err[512];
    const char *tmp = getenv("TMPDIR");

    assert_non_null(f);
    (void)snprintf(f->dir, sizeof(f->dir), "%s/edge-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    (void)snprintf(f->path, sizeof(f->path), "%s/edge.db", f->dir);
    f->st = cp_store_open(f->path, err, sizeof(err));
    if (!f->st)
        fail_msg("open: %s", err);
    *state = f;
    return 0;
}

static __attribute__((unused)) int
fixture_teardown(void **state)
{
    struct fixture *f = *state;

    cp_store_close(f->st);
    rm_tree(f->dir);
    free(f);
    return 0;
}

static __attribute__((unused)) void
must(int r, const struct cp_store_err *err)
{
    if (r < 0)
        fail_msg("store call failed: %d %s", r, err->message);
}

static __attribute__((unused)) void
make_api(struct cp_store *st, const char *name)
{
    struct cp_store_err err = {0};
    Edge__V1__Api in = EDGE__V1__API__INIT;

    in.name = (char *)name;
    in.description = "test api";
    must(cp_store_api_create(st, "test", &in, NULL, &err), &err);
}

static __attribute__((unused)) void
make_upstream(struct cp_store *st, const char *name)
{
    struct cp_store_err err = {0};
    Edge__V1__Upstream in = EDGE__V1__UPSTREAM__INIT;
    Edge__V1__Target t = EDGE__V1__TARGET__INIT;
    Edge__V1__Target *ts[] = {&t};

    t.host = "127.0.0.1";
    t.port = 8081;
    t.weight = 1;
    in.name = (char *)name;
    in.targets = ts;
    in.n_targets = 1;
    in.connect_timeout_ms = 2000;
    in.timeout_ms = 30000;
    in.pool_size = 64;
    must(cp_store_upstream_create(st, "test", &in, NULL, &err), &err);
}

/* Returns the new route's id (owned). */
static __attribute__((unused)) char *
make_route(struct cp_store *st, const char *api, const char *method, const char *path,
           const char *upstream)
{
    struct cp_store_err err = {0};
    Edge__V1__Route in = EDGE__V1__ROUTE__INIT;
    Edge__V1__Integration ig = EDGE__V1__INTEGRATION__INIT;
    Edge__V1__Route *out = NULL;

    ig.upstream = (char *)upstream;
    in.api = (char *)api;
    in.method = (char *)method;
    in.path = (char *)path;
    in.integration = &ig;
    must(cp_store_route_create(st, "test", &in, &out, &err), &err);
    char *id = strdup(out->id);
    edge_pb_free(out);
    return id;
}

#endif
