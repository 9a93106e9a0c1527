/* Upstream path expansion: parameters from a real lookup, escaping, greedy values, errors. */

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it: keep this order. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "route.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct expand_case {
    const char *request; /* looked up in the table below with GET */
    const char *tmpl;    /* upstream template */
    int ret;             /* 0 (the result is out; its length is returned), or negative errno */
    const char *out;     /* with ret >= 0 */
};

static const char *const routes[] = {
    "/pets/{id}", "/files/{dir}/{name}.{ext}", "/{proxy+}", "/api/{ver}/{rest+}", NULL,
};

static const struct expand_case cases[] = {
    {"/pets/7", "/v1/pets/{id}", 0, "/v1/pets/7"},
    {"/pets/7", "/v1/pets/{id}?full=1", 0, "/v1/pets/7?full=1"},
    {"/pets/7", "{id}{id}", 0, "77"},
    {"/pets/7", "/static", 0, "/static"},
    {"/pets/7", "", 0, ""},
    {"/pets/a%2Fb%20c", "/v1/pets/{id}", 0, "/v1/pets/a%2Fb%20c"},
    {"/pets/caf%C3%A9", "/p/{id}", 0, "/p/caf%C3%A9"},
    {"/pets/a;b=c&d+e", "/p/{id}", 0, "/p/a%3Bb%3Dc%26d%2Be"},
    {"/pets/a:b@c~-._!$'()*,", "/p/{id}", 0, "/p/a:b@c~-._!$'()*,"},
    {"/pets/%3F%23%25", "/p/{id}", 0, "/p/%3F%23%25"},
    {"/pets/%2E%2E", "/p/{id}", 0, "/p/%2E%2E"}, /* never a dot segment upstream */
    {"/pets/%2E", "/p/{id}", 0, "/p/%2E"},
    {"/pets/...", "/p/{id}", 0, "/p/..."},
    {"/pets/a.b", "/p/{id}", 0, "/p/a.b"},
    {"/files/d/report.v2.pdf", "/s/{dir}/{ext}/{name}", 0, "/s/d/v2.pdf/report"},
    {"/a/b%20c/d", "/up/{proxy}", 0, "/up/a/b%20c/d"}, /* greedy keeps its '/' */
    {"/a/b%20c/d", "/up/{proxy+}", 0, "/up/a/b%20c/d"},
    {"/a/b/", "/up/{proxy}", 0, "/up/a/b/"},
    {"/a/%2E%2E/b", "/up/{proxy}", 0, "/up/a/%2E%2E/b"},
    {"/a/./b", "/up/{proxy}", 0, "/up/a/%2E/b"},
    {"/api/v2/x/y", "/{ver}/{rest}", 0, "/v2/x/y"},
    {"/pets/7", "/v1/pets/{id+}", 0, "/v1/pets/7"},
    {"/pets/a%2Fb", "/v1/pets/{id+}", 0, "/v1/pets/a/b"}, /* '+' asks to keep '/' */
    {"/pets/7", "/v1/{nope}", -ENOENT},
    {"/pets/7", "/v1/{ID}", -ENOENT},
    {"/pets/7", "/v1/{id", -EINVAL},
    {NULL},
};

static void
test_cases(void **state)
{
    struct edge_route_builder *b = edge_route_builder_new();
    struct edge_route_table *t;

    for (size_t i = 0; routes[i]; i++)
        assert_int_equal(edge_route_builder_add(b, "GET", routes[i], NULL, NULL, 0), 0);
    t = edge_route_builder_finish(b);
    assert_non_null(t);
    for (size_t i = 0; cases[i].request; i++) {
        const struct expand_case *c = &cases[i];
        struct edge_route_match m;
        char scratch[256], out[256];
        int r, want;

        assert_int_equal(edge_route_lookup(t, "GET", 3, c->request, strlen(c->request), scratch,
                                           sizeof(scratch), &m),
                         0);
        assert_int_equal(m.status, 200);
        memset(out, 'X', sizeof(out));
        r = edge_route_expand(c->tmpl, &m, out, sizeof(out));
        want = c->ret < 0 ? c->ret : (int)strlen(c->out);
        if (r != want || (r >= 0 && strcmp(out, c->out) != 0))
            print_error("%s -> %s: %d \"%s\", want %d \"%s\"\n", c->request, c->tmpl, r,
                        r >= 0 ? out : "", want, c->out ? c->out : "");
        assert_int_equal(r, want);
        if (r >= 0)
            assert_string_equal(out, c->out);
    }
    edge_route_table_free(t);
}

static void
test_space(void **state)
{
    struct edge_route_builder *b = edge_route_builder_new();
    struct edge_route_table *t;
    struct edge_route_match m;
    char scratch[64], out[32];

    assert_int_equal(edge_route_builder_add(b, "GET", "/pets/{id}", NULL, NULL, 0), 0);
    t = edge_route_builder_finish(b);
    assert_int_equal(
        edge_route_lookup(t, "GET", 3, "/pets/a%20b", 11, scratch, sizeof(scratch), &m), 0);
    /* "/v1/a%20b" is 9 bytes: it needs 10 with the NUL. */
    assert_int_equal(edge_route_expand("/v1/{id}", &m, out, 10), 9);
    assert_string_equal(out, "/v1/a%20b");
    assert_int_equal(edge_route_expand("/v1/{id}", &m, out, 9), -ENOSPC);
    assert_int_equal(edge_route_expand("/v1/{id}", &m, out, 6), -ENOSPC); /* mid-escape */
    assert_int_equal(edge_route_expand("/v1/{id}", &m, out, 1), -ENOSPC);
    assert_int_equal(edge_route_expand("", &m, out, 1), 0);
    assert_int_equal(edge_route_expand("/v1/{id}", &m, NULL, 0), -ENOSPC);
    assert_int_equal(edge_route_expand(NULL, &m, out, sizeof(out)), -EINVAL);
    assert_int_equal(edge_route_expand("/x", NULL, out, sizeof(out)), -EINVAL);
    edge_route_table_free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_space),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
