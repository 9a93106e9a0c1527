/* Template and method validation: table-driven valid and invalid cases. */

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

static const char *const valid_templates[] = {
    "/",
    "/pets",
    "/pets/",
    "/pets/{id}",
    "/pets/{id}/",
    "/files/{name}.json",
    "/v{major}.{minor}",
    "/x-{a}-{b}-y",
    "/{proxy+}",
    "/api/{proxy+}",
    "/a/{b}/c/{d}",
    "/{a.b-c_d}",
    "/{_x9}",
    "/a:b@c!$'()*,;=&+~",
    "/%20space",
    "/caf%C3%A9",
    "/caf\xc3\xa9",
    "/%7Bliteral%7D",
    "/a%2Fb",
    NULL,
};

struct invalid_case {
    const char *path;
    const char *fragment; /* expected in the message */
};

static const struct invalid_case invalid_templates[] = {
    {"", "path: empty"},
    {"pets", "must start with '/'"},
    {"//", "empty segment at offset 1"},
    {"/a//b", "empty segment at offset 3"},
    {"/{id", "unclosed '{' at offset 1"},
    {"/pets/{id", "unclosed '{' at offset 6"},
    {"/{a/b}", "unclosed '{' at offset 1"},
    {"/id}", "unmatched '}' at offset 3"},
    {"/{a{b}}", "'{' inside a parameter name at offset 3"},
    {"/{}", "empty parameter name at offset 1"},
    {"/{+}", "empty parameter name at offset 1"},
    {"/{1a}", "must start with a letter or '_' at offset 2"},
    {"/{-a}", "must start with a letter"},
    {"/{a b}", "invalid character in parameter name at offset 3"},
    {"/{a+b}", "invalid character in parameter name at offset 3"},
    {"/{a}/{a}", "duplicate parameter 'a' at offset 5"},
    {"/{a}.{a}", "duplicate parameter 'a'"},
    {"/{p+}/x", "greedy parameter must be the last segment"},
    {"/{p+}/", "greedy parameter must be the last segment"},
    {"/x{p+}", "greedy parameter must be a whole segment (offset 2)"},
    {"/{p+}x", "greedy parameter must be a whole segment (offset 1)"},
    {"/{a}{b}", "adjacent parameters at offset 4"},
    {"/a b", "space at offset 2"},
    {"/a?b", "'?' at offset 2"},
    {"/a#b", "'#' at offset 2"},
    {"/a\tb", "control character 0x09 at offset 2"},
    {"/a\x7f", "control character 0x7f at offset 2"},
    {"/%zz", "invalid percent-encoding at offset 1"},
    {"/%2", "invalid percent-encoding at offset 1"},
    {"/a%", "invalid percent-encoding at offset 2"},
    {"/%00", "percent-encoded NUL at offset 1"},
    {"/%C3%28", "invalid UTF-8 in the literal at offset 1"},
    {"/%C0%AF", "invalid UTF-8"},       /* overlong '/' */
    {"/%E0%80%AF", "invalid UTF-8"},    /* overlong, 3 bytes */
    {"/%ED%A0%80", "invalid UTF-8"},    /* surrogate */
    {"/%F4%90%80%80", "invalid UTF-8"}, /* above U+10FFFF */
    {"/x/{a}\xff", "invalid UTF-8 in the literal at offset 6"},
    {NULL, NULL},
};

static void
test_valid(void **state)
{
    for (size_t i = 0; valid_templates[i]; i++) {
        char err[128] = "unset";
        int r = edge_route_template_validate(valid_templates[i], err, sizeof(err));

        if (r != 0)
            print_error("template %s: %d %s\n", valid_templates[i], r, err);
        assert_int_equal(r, 0);
        assert_string_equal(err, "");
    }
}

static void
test_invalid(void **state)
{
    for (size_t i = 0; invalid_templates[i].path; i++) {
        char err[128] = "";
        int r = edge_route_template_validate(invalid_templates[i].path, err, sizeof(err));

        if (r != -EINVAL || !strstr(err, invalid_templates[i].fragment))
            print_error("template #%zu \"%s\": %d \"%s\", want \"%s\"\n", i,
                        invalid_templates[i].path, r, err, invalid_templates[i].fragment);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err, invalid_templates[i].fragment));
    }
}

/* Builds "/s/s/.../s" with n segments, or "/{p0}/{p1}..." with params. */
static void
make_path(char *buf, size_t len, unsigned n, const char *fmt)
{
    size_t used = 0;

    buf[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        used += (size_t)snprintf(buf + used, len - used, fmt, i);
}

static void
test_limits(void **state)
{
    char path[4096], err[128];

    make_path(path, sizeof(path), 64, "/s");
    assert_int_equal(edge_route_template_validate(path, err, sizeof(err)), 0);
    make_path(path, sizeof(path), 65, "/s");
    assert_int_equal(edge_route_template_validate(path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "more than 64 segments"));

    make_path(path, sizeof(path), 16, "/{p%u}");
    assert_int_equal(edge_route_template_validate(path, err, sizeof(err)), 0);
    make_path(path, sizeof(path), 17, "/{p%u}");
    assert_int_equal(edge_route_template_validate(path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "more than 16 parameters"));

    memset(path, 'a', 2048);
    path[0] = '/';
    path[2048] = '\0';
    assert_int_equal(edge_route_template_validate(path, err, sizeof(err)), 0);
    path[2048] = 'a';
    path[2049] = '\0';
    assert_int_equal(edge_route_template_validate(path, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "longer than 2048 bytes"));
}

static void
test_err_buffer(void **state)
{
    char small[8];

    /* No buffer at all, and a buffer too small for the message: both fine, NUL-terminated. */
    assert_int_equal(edge_route_template_validate("/{x", NULL, 0), -EINVAL);
    assert_int_equal(edge_route_template_validate(NULL, NULL, 0), -EINVAL);
    assert_int_equal(edge_route_template_validate("/{x", small, sizeof(small)), -EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(edge_route_template_validate(NULL, small, sizeof(small)), -EINVAL);
}

static void
test_methods(void **state)
{
    static const char *const valid[] = {
        "GET", "ANY", "PROPFIND", "A", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF", NULL};
    static const char *const invalid[] = {
        "", "get", "GET ", "G-T", "GET1", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG", "G\xc3\x89T", NULL};

    for (size_t i = 0; valid[i]; i++)
        assert_int_equal(edge_route_method_validate(valid[i]), 0);
    for (size_t i = 0; invalid[i]; i++) {
        if (edge_route_method_validate(invalid[i]) != -EINVAL)
            print_error("method \"%s\" accepted\n", invalid[i]);
        assert_int_equal(edge_route_method_validate(invalid[i]), -EINVAL);
    }
    assert_int_equal(edge_route_method_validate(NULL), -EINVAL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),   cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_limits),  cmocka_unit_test(test_err_buffer),
        cmocka_unit_test(test_methods),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
