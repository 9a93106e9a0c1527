/* The route matcher: precedence, backtracking, 404/405, methods, decoding, duplicates.
 * Each case is a set of routes ("METHOD /template"; the string itself is the route's data)
 * and lookups with the expected status, route, parameters ("a=1;b=2") and Allow. */

/* cmocka.h needs setjmp.h, stdarg.h and stddef.h before it: keep this order. */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
/* clang-format on */

#include "route.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lookup {
    const char *method;
    const char *path;
    int status;
    const char *route;  /* with 200: the "METHOD /template" string that must answer */
    const char *params; /* with 200: "name=value;..." ("" for none) */
    const char *allow;  /* with 405 */
};

struct match_case {
    const char *name;
    const char *routes[16];
    struct lookup lookups[24];
};

static const struct match_case cases[] = {
    {"basic",
     {"GET /pets", "GET /pets/{id}", "POST /pets"},
     {
         {"GET", "/pets", 200, "GET /pets", ""},
         {"POST", "/pets", 200, "POST /pets", ""},
         {"GET", "/pets/7", 200, "GET /pets/{id}", "id=7"},
         {"DELETE", "/pets", 405, NULL, NULL, "GET, POST"},
         {"POST", "/pets/7", 405, NULL, NULL, "GET"},
         {"GET", "/dogs", 404},
         {"GET", "/pets/7/x", 404},
         {"GET", "/pets/", 404}, /* trailing slash is significant; {id} is never empty */
         {"GET", "/Pets", 404},  /* case-sensitive */
         {"GET", "/", 404},
         {"get", "/pets", 405, NULL, NULL, "GET, POST"},
     }},
    {"trailing slash",
     {"GET /pets", "GET /pets/", "GET /", "GET /a/{id}/"},
     {
         {"GET", "/pets", 200, "GET /pets", ""},
         {"GET", "/pets/", 200, "GET /pets/", ""},
         {"GET", "/", 200, "GET /", ""},
         {"GET", "/pets//", 404},
         {"GET", "//", 404},
         {"GET", "/a/1/", 200, "GET /a/{id}/", "id=1"},
         {"GET", "/a/1", 404},
     }},
    {"precedence in one segment",
     {"GET /pets/mine", "GET /pets/{id}.json", "GET /pets/{id}", "GET /pets/{rest+}"},
     {
         {"GET", "/pets/mine", 200, "GET /pets/mine", ""},
         {"GET", "/pets/7.json", 200, "GET /pets/{id}.json", "id=7"},
         {"GET", "/pets/mine.json", 200, "GET /pets/{id}.json", "id=mine"},
         {"GET", "/pets/7", 200, "GET /pets/{id}", "id=7"},
         {"GET", "/pets/.json", 200, "GET /pets/{id}", "id=.json"}, /* {id} non-empty */
         {"GET", "/pets/7/x", 200, "GET /pets/{rest+}", "rest=7/x"},
         {"GET", "/pets/mine/x", 200, "GET /pets/{rest+}", "rest=mine/x"},
         {"GET", "/pets", 404},
     }},
    {"backtracking",
     {"GET /a/{x}/c", "GET /{y}/b/c", "GET /{y}/b/d", "GET /a/b/e", "GET /{p}/{q}/{r}/z"},
     {
         {"GET", "/a/b/c", 200, "GET /a/{x}/c", "x=b"}, /* literal 'a' wins at segment 0 */
         {"GET", "/a/b/d", 200, "GET /{y}/b/d", "y=a"}, /* /a/... dead end, back to {y} */
         {"GET", "/a/b/e", 200, "GET /a/b/e", ""},
         {"GET", "/z/b/c", 200, "GET /{y}/b/c", "y=z"},
         {"GET", "/a/q/c", 200, "GET /a/{x}/c", "x=q"},
         {"GET", "/a/b/c/z", 200, "GET /{p}/{q}/{r}/z", "p=a;q=b;r=c"},
         {"GET", "/a/b/f", 404},
     }},
    {"precedence at depth",
     {"GET /{a}/x/{b}", "GET /{a}/{b}/y", "GET /{a}/{b}.v/z", "GET /{a}/{rest+}"},
     {
         {"GET", "/1/x/y", 200, "GET /{a}/x/{b}", "a=1;b=y"},
         {"GET", "/1/w/y", 200, "GET /{a}/{b}/y", "a=1;b=w"},
         {"GET", "/1/w.v/z", 200, "GET /{a}/{b}.v/z", "a=1;b=w"},
         {"GET", "/1/w.v/y", 200, "GET /{a}/{b}/y", "a=1;b=w.v"},
         {"GET", "/1/x/y/z", 200, "GET /{a}/{rest+}", "a=1;rest=x/y/z"},
         {"GET", "/1/w/q", 200, "GET /{a}/{rest+}", "a=1;rest=w/q"},
         {"GET", "/1", 404},
     }},
    {"partial segments",
     {"GET /f/{n}.tar.gz", "GET /f/{n}.gz", "GET /f/x.tar.gz", "GET /v/v{major}.{minor}",
      "GET /m/{a}.{b}", "GET /j/{name}.json", "GET /t/a{x}", "GET /t/{x}b", "GET /k/{a}-{b}-{c}"},
     {
         {"GET", "/f/x.tar.gz", 200, "GET /f/x.tar.gz", ""},
         {"GET", "/f/y.tar.gz", 200, "GET /f/{n}.tar.gz", "n=y"}, /* longer literal wins */
         {"GET", "/f/y.gz", 200, "GET /f/{n}.gz", "n=y"},
         {"GET", "/f/.gz", 404},
         {"GET", "/v/v1.2", 200, "GET /v/v{major}.{minor}", "major=1;minor=2"},
         {"GET", "/v/v1.2.3", 200, "GET /v/v{major}.{minor}", "major=1;minor=2.3"},
         {"GET", "/v/v1.", 404},
         {"GET", "/v/v.1", 404},
         {"GET", "/m/x.y.z", 200, "GET /m/{a}.{b}", "a=x;b=y.z"}, /* shortest, left to right */
         {"GET", "/j/a.json.json", 200, "GET /j/{name}.json", "name=a.json"}, /* suffix anchored */
         {"GET", "/j/.json", 404},
         /* Same literal length and parameter count: a leading literal sorts first. */
         {"GET", "/t/ab", 200, "GET /t/a{x}", "x=b"},
         {"GET", "/t/cb", 200, "GET /t/{x}b", "x=c"},
         {"GET", "/k/1-2-3-4", 200, "GET /k/{a}-{b}-{c}", "a=1;b=2;c=3-4"},
         {"GET", "/k/1--3", 404},
     }},
    {"greedy",
     {"GET /{proxy+}", "GET /api/{rest+}", "GET /api/v1"},
     {
         {"GET", "/", 404}, /* greedy matches one or more segments, never nothing */
         {"GET", "/a", 200, "GET /{proxy+}", "proxy=a"},
         {"GET", "/a/b/", 200, "GET /{proxy+}", "proxy=a/b/"},
         {"GET", "/a%2Fb/c", 200, "GET /{proxy+}", "proxy=a/b/c"},
         {"GET", "/api", 200, "GET /{proxy+}", "proxy=api"},
         {"GET", "/api/", 200, "GET /{proxy+}", "proxy=api/"}, /* {rest+} is never empty */
         {"GET", "/api/x", 200, "GET /api/{rest+}", "rest=x"},
         {"GET", "/api/v1", 200, "GET /api/v1", ""},
         {"GET", "/api/v1/x", 200, "GET /api/{rest+}", "rest=v1/x"},
         {"POST", "/api/x", 405, NULL, NULL, "GET"},
     }},
    {"methods",
     {"ANY /x", "GET /x", "GET /y", "HEAD /z", "GET /z", "ANY /w", "PUT /s", "POST /s", "DELETE /s",
      "GET /s", "GET /h", "ANY /h"},
     {
         {"GET", "/x", 200, "GET /x", ""},
         {"POST", "/x", 200, "ANY /x", ""},
         {"HEAD", "/x", 200, "GET /x", ""}, /* HEAD falls back to GET before ANY */
         {"HEAD", "/y", 200, "GET /y", ""},
         {"HEAD", "/z", 200, "HEAD /z", ""},
         {"OPTIONS", "/y", 405, NULL, NULL, "GET"},
         {"BREW", "/w", 200, "ANY /w", ""},
         {"PATCH", "/s", 405, NULL, NULL, "DELETE, GET, POST, PUT"},
         {"HEAD", "/h", 200, "GET /h", ""},
         {"DELETE", "/h", 200, "ANY /h", ""},
         {"GE", "/y", 405, NULL, NULL, "GET"},
         {"GETX", "/y", 405, NULL, NULL, "GET"},
         {"", "/y", 405, NULL, NULL, "GET"},
     }},
    {"percent-decoding",
     {"GET /files/{name}", "GET /caf%C3%A9", "GET /a%2Fb", "GET /sp%20ace"},
     {
         {"GET", "/files/a%2Fb", 200, "GET /files/{name}", "name=a/b"}, /* %2F stays inside */
         {"GET", "/files/a%2fb", 200, "GET /files/{name}", "name=a/b"},
         {"GET", "/files/a/b", 404},
         {"GET", "/files/caf%C3%A9", 200, "GET /files/{name}", "name=caf\xc3\xa9"},
         {"GET", "/files/caf\xc3\xa9", 200, "GET /files/{name}", "name=caf\xc3\xa9"},
         {"GET", "/files/%zz", 400},
         {"GET", "/files/%", 400},
         {"GET", "/files/%4", 400},
         {"GET", "/files/%4g", 400},
         {"GET", "/files/%00", 400},
         {"GET", "/files/%C3%28", 400},       /* invalid UTF-8 */
         {"GET", "/files/%C0%AF", 400},       /* overlong '/' */
         {"GET", "/files/%E0%80%AF", 400},    /* overlong, 3 bytes */
         {"GET", "/files/%F0%80%80%AF", 400}, /* overlong, 4 bytes */
         {"GET", "/files/%ED%A0%80", 400},    /* UTF-16 surrogate */
         {"GET", "/files/%F4%90%80%80", 400}, /* above U+10FFFF */
         {"GET", "/files/\xff", 400},         /* raw invalid byte */
         {"GET", "/files/%C3/%A9", 400},      /* a sequence cut by a '/' */
         {"GET", "/caf\xc3\xa9", 200, "GET /caf%C3%A9", ""},
         {"GET", "/caf%c3%a9", 200, "GET /caf%C3%A9", ""},
         {"GET", "/a%2Fb", 200, "GET /a%2Fb", ""},
         {"GET", "/a/b", 404},
         {"GET", "/sp%20ace", 200, "GET /sp%20ace", ""},
         {"GET", "/files/%41", 200, "GET /files/{name}", "name=A"},
     }},
    {"bad request paths",
     {"GET /{proxy+}"},
     {
         {"GET", "", 400},
         {"GET", "pets", 400},
         {"GET", "*", 400},
     }},
};

static struct edge_route_table *
build(const char *const *routes)
{
    struct edge_route_builder *b = edge_route_builder_new();
    struct edge_route_table *t;

    assert_non_null(b);
    for (size_t i = 0; i < 16 && routes[i]; i++) {
        char method[40], err[128];
        const char *sp = strchr(routes[i], ' ');
        int r;

        assert_non_null(sp);
        assert_true((size_t)(sp - routes[i]) < sizeof(method));
        memcpy(method, routes[i], (size_t)(sp - routes[i]));
        method[sp - routes[i]] = '\0';
        r = edge_route_builder_add(b, method, sp + 1, (void *)routes[i], err, sizeof(err));
        if (r != 0)
            print_error("add %s: %d %s\n", routes[i], r, err);
        assert_int_equal(r, 0);
    }
    t = edge_route_builder_finish(b);
    assert_non_null(t);
    return t;
}

static void
format_params(const struct edge_route_match *m, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < m->n_params; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%.*s=%.*s", i ? ";" : "",
                                 (int)m->params[i].name_len, m->params[i].name,
                                 (int)m->params[i].value_len, m->params[i].value);
}

static void
check_lookup(const struct edge_route_table *t, const char *case_name, const struct lookup *l)
{
    struct edge_route_match m;
    char scratch[512], params[512];
    bool ok;

    assert_int_equal(edge_route_lookup(t, l->method, strlen(l->method), l->path, strlen(l->path),
                                       scratch, sizeof(scratch), &m),
                     0);
    format_params(&m, params, sizeof(params));
    ok = m.status == l->status;
    if (ok && l->status == 200)
        ok = m.route && strcmp(m.route, l->route) == 0 && strcmp(params, l->params) == 0 &&
             strcmp(m.path_template, strchr(l->route, ' ') + 1) == 0;
    if (ok && l->status == 405)
        ok = strcmp(m.allow, l->allow) == 0;
    if (ok && l->status != 200)
        ok = m.route == NULL && m.n_params == 0;
    if (!ok)
        print_error("[%s] %s %s: got %d route \"%s\" params \"%s\" allow \"%s\"; want %d "
                    "\"%s\" \"%s\" \"%s\"\n",
                    case_name, l->method, l->path, m.status, m.route ? (char *)m.route : "", params,
                    m.allow, l->status, l->route ? l->route : "", l->params ? l->params : "",
                    l->allow ? l->allow : "");
    assert_true(ok);
}

static void
test_cases(void **state)
{
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct edge_route_table *t = build(cases[c].routes);

        for (size_t i = 0; i < 24 && cases[c].lookups[i].method; i++)
            check_lookup(t, cases[c].name, &cases[c].lookups[i]);
        edge_route_table_free(t);
    }
}

static void
test_duplicates(void **state)
{
    struct edge_route_builder *b = edge_route_builder_new();
    struct edge_route_table *t;
    struct edge_route_match m;
    char err[128], scratch[64];

    assert_int_equal(edge_route_builder_add(b, "GET", "/pets/{id}", "g", err, sizeof(err)), 0);
    assert_int_equal(edge_route_builder_add(b, "GET", "/pets/{name}", "x", err, sizeof(err)),
                     -EEXIST);
    assert_non_null(strstr(err, "duplicates GET /pets/{id}"));
    assert_int_equal(edge_route_builder_add(b, "POST", "/pets/{name}", "p", err, sizeof(err)), 0);
    assert_int_equal(edge_route_builder_add(b, "GET", "/pets/{id}/", "s", err, sizeof(err)), 0);
    assert_int_equal(edge_route_builder_add(b, "GET", "/f/{a}.json", "j", err, sizeof(err)), 0);
    assert_int_equal(edge_route_builder_add(b, "GET", "/f/{b}.json", "x", err, sizeof(err)),
                     -EEXIST);
    assert_int_equal(edge_route_builder_add(b, "GET", "/f/{b}.jsn", "k", err, sizeof(err)), 0);
    assert_int_equal(edge_route_builder_add(b, "ANY", "/{p+}", "a", err, sizeof(err)), 0);
    assert_int_equal(edge_route_builder_add(b, "ANY", "/{q+}", "x", err, sizeof(err)), -EEXIST);
    assert_int_equal(edge_route_builder_add(b, "GET", "/caf%C3%A9", "c", err, sizeof(err)), 0);
    assert_int_equal(edge_route_builder_add(b, "GET", "/caf\xc3\xa9", "x", err, sizeof(err)),
                     -EEXIST);
    /* Bad input: -EINVAL with a message, and the builder stays usable. */
    assert_int_equal(edge_route_builder_add(b, "get", "/x", "x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "method:"));
    assert_int_equal(edge_route_builder_add(b, "GET", "/x/{", "x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unclosed '{' at offset 3"));
    assert_int_equal(edge_route_builder_add(b, "GET", NULL, "x", err, sizeof(err)), -EINVAL);
    assert_int_equal(edge_route_builder_add(NULL, "GET", "/x", "x", err, sizeof(err)), -EINVAL);
    t = edge_route_builder_finish(b);
    assert_non_null(t);

    /* Same shape, different names: each method reports its own template's names. */
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/pets/9", 7, scratch, sizeof(scratch), &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route, "g");
    assert_string_equal(m.path_template, "/pets/{id}");
    assert_int_equal(m.params[0].name_len, 2);
    assert_memory_equal(m.params[0].name, "id", 2);
    assert_int_equal(edge_route_lookup(t, "POST", 4, "/pets/9", 7, scratch, sizeof(scratch), &m),
                     0);
    assert_string_equal(m.route, "p");
    assert_string_equal(m.path_template, "/pets/{name}");
    assert_int_equal(m.params[0].name_len, 4);
    assert_memory_equal(m.params[0].name, "name", 4);
    assert_memory_equal(m.params[0].value, "9", 1);
    edge_route_table_free(t);

    /* Freeing accepts NULL; a builder can be dropped without finishing. */
    edge_route_builder_free(NULL);
    edge_route_table_free(NULL);
    assert_null(edge_route_builder_finish(NULL));
    b = edge_route_builder_new();
    assert_int_equal(edge_route_builder_add(b, "GET", "/a/{b}", NULL, NULL, 0), 0);
    assert_int_equal(edge_route_builder_add(b, "GET", "/a/{c}", NULL, NULL, 0), -EEXIST);
    edge_route_builder_free(b);
}

static void
test_scratch(void **state)
{
    static const char *const routes[] = {"GET /pets/{id}", "GET /", "GET /{p+}", NULL};
    struct edge_route_table *t = build(routes);
    struct edge_route_match m;
    char scratch[16];

    /* The decoded path after the leading '/' must fit: "pets/123" is 8 bytes. */
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/pets/123", 9, scratch, 7, &m), 0);
    assert_int_equal(m.status, 414);
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/pets/123", 9, scratch, 8, &m), 0);
    assert_int_equal(m.status, 200);
    assert_int_equal(m.params[0].value_len, 3);
    assert_memory_equal(m.params[0].value, "123", 3);
    assert_true(m.params[0].value >= scratch && m.params[0].value < scratch + 8);
    /* Decoding shrinks: "%41%42" needs 2 bytes. */
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/%41%42", 7, scratch, 2, &m), 0);
    assert_int_equal(m.status, 200);
    assert_memory_equal(m.params[0].value, "AB", 2);
    /* "/" decodes to nothing: no scratch needed. */
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/", 1, NULL, 0, &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route, "GET /");
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/x", 2, NULL, 0, &m), 0);
    assert_int_equal(m.status, 414);
    /* Lengths are honoured: the path need not be NUL-terminated. */
    assert_int_equal(edge_route_lookup(t, "GETX", 3, "/pets/1?q=2", 7, scratch, 16, &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route, "GET /pets/{id}");
    /* A raw NUL byte in the path is a bad request. */
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/a\0b", 4, scratch, 16, &m), 0);
    assert_int_equal(m.status, 400);
    /* Bad arguments. */
    assert_int_equal(edge_route_lookup(NULL, "GET", 3, "/", 1, scratch, 16, &m), -EINVAL);
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/", 1, scratch, 16, NULL), -EINVAL);
    edge_route_table_free(t);
}

static void
test_many_segments(void **state)
{
    static const char *const routes[] = {"GET /{p+}", NULL};
    struct edge_route_builder *b = edge_route_builder_new();
    struct edge_route_table *t;
    struct edge_route_match m;
    char tmpl[512], path[512], scratch[512];
    size_t used = 0;

    /* A 64-segment template matches exactly 64 segments; a longer path falls to the greedy. */
    for (unsigned i = 0; i < 64; i++)
        used += (size_t)snprintf(tmpl + used, sizeof(tmpl) - used, "/s");
    assert_int_equal(edge_route_builder_add(b, "GET", tmpl, "deep", NULL, 0), 0);
    assert_int_equal(edge_route_builder_add(b, "GET", routes[0] + 4, "greedy", NULL, 0), 0);
    t = edge_route_builder_finish(b);
    assert_int_equal(edge_route_lookup(t, "GET", 3, tmpl, used, scratch, sizeof(scratch), &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route, "deep");
    memcpy(path, tmpl, used);
    memcpy(path + used, "/s", 2);
    assert_int_equal(edge_route_lookup(t, "GET", 3, path, used + 2, scratch, sizeof(scratch), &m),
                     0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route, "greedy");
    assert_int_equal(m.params[0].value_len, used + 1);
    /* 200 segments. */
    used = 0;
    for (unsigned i = 0; i < 200; i++)
        used += (size_t)snprintf(path + used, sizeof(path) - used, "/x");
    assert_int_equal(edge_route_lookup(t, "GET", 3, path, used, scratch, sizeof(scratch), &m), 0);
    assert_int_equal(m.status, 200);
    assert_string_equal(m.route, "greedy");
    assert_int_equal(m.params[0].value_len, used - 1);
    edge_route_table_free(t);
}

static void
test_allow_truncated(void **state)
{
    struct edge_route_builder *b = edge_route_builder_new();
    struct edge_route_table *t;
    struct edge_route_match m;
    char method[40], scratch[8];

    /* 10 methods of 30 letters: the Allow field holds whole names only, as many as fit. */
    for (int i = 0; i < 10; i++) {
        memset(method, 'A' + i, 30);
        method[30] = '\0';
        assert_int_equal(edge_route_builder_add(b, method, "/x", NULL, NULL, 0), 0);
    }
    t = edge_route_builder_finish(b);
    assert_int_equal(edge_route_lookup(t, "GET", 3, "/x", 2, scratch, sizeof(scratch), &m), 0);
    assert_int_equal(m.status, 405);
    assert_true(strlen(m.allow) < sizeof(m.allow));
    assert_int_equal(strlen(m.allow), 5 * 30 + 4 * 2);
    assert_int_equal(strncmp(m.allow, "AAAA", 4), 0);
    assert_int_equal(m.allow[strlen(m.allow) - 1], 'E');
    edge_route_table_free(t);
}

/* Many literal children at one node (hashed) and a few (binary search) answer the same. */
static void
test_fanout(void **state)
{
    static const unsigned counts[] = {1, 7, 8, 9, 300};

    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        struct edge_route_builder *b = edge_route_builder_new();
        struct edge_route_table *t;
        struct edge_route_match m;
        char path[64], scratch[64];
        static const char *const ids[300];

        for (unsigned i = 0; i < counts[c]; i++) {
            /* Lengths 1..n and shared prefixes: "x", "xx", ... and "l0", "l1", ... */
            if (i % 2)
                (void)snprintf(path, sizeof(path), "/%.*s", (int)(i / 2 % 40 + 1),
                               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            else
                (void)snprintf(path, sizeof(path), "/l%u", i);
            assert_int_equal(edge_route_builder_add(b, "GET", path, (void *)&ids[i], NULL, 0),
                             i % 2 && i >= 80 ? -EEXIST : 0);
            (void)snprintf(path, sizeof(path), "/l%u/tail", i);
            assert_int_equal(edge_route_builder_add(b, "GET", path, (void *)&ids[i], NULL, 0), 0);
        }
        assert_int_equal(edge_route_builder_add(b, "GET", "/{other}", "param", NULL, 0), 0);
        t = edge_route_builder_finish(b);
        for (unsigned i = 0; i < counts[c]; i++) {
            size_t n;

            if (i % 2)
                n = (size_t)snprintf(path, sizeof(path), "/%.*s", (int)(i / 2 % 40 + 1),
                                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            else
                n = (size_t)snprintf(path, sizeof(path), "/l%u", i);
            assert_int_equal(edge_route_lookup(t, "GET", 3, path, n, scratch, sizeof(scratch), &m),
                             0);
            assert_int_equal(m.status, 200);
            if (i < 80)
                assert_ptr_equal(m.route, &ids[i]);
            n = (size_t)snprintf(path, sizeof(path), "/l%u/tail", i);
            assert_int_equal(edge_route_lookup(t, "GET", 3, path, n, scratch, sizeof(scratch), &m),
                             0);
            assert_int_equal(m.status, 200);
            assert_ptr_equal(m.route, &ids[i]);
        }
        /* Not a literal child: the parameter answers; a literal with a dead end backtracks. */
        assert_int_equal(edge_route_lookup(t, "GET", 3, "/nope", 5, scratch, sizeof(scratch), &m),
                         0);
        assert_string_equal(m.route, "param");
        assert_int_equal(edge_route_lookup(t, "GET", 3, "/l0x", 4, scratch, sizeof(scratch), &m),
                         0);
        assert_string_equal(m.route, "param");
        assert_int_equal(edge_route_lookup(t, "GET", 3, "/l0/tai", 7, scratch, sizeof(scratch), &m),
                         0);
        assert_int_equal(m.status, 404);
        edge_route_table_free(t);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),           cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_scratch),         cmocka_unit_test(test_many_segments),
        cmocka_unit_test(test_allow_truncated), cmocka_unit_test(test_fanout),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
