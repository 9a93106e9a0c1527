/* edgectl's argument parsing: flag tables, numbers with bounds, HOST:PORT, targets, headers
 * and k=v, each table-driven with valid and invalid cases. */
/* cmocka.h needs these before it. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "args.h"
#include "pb.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct ctl_opt local_opts[] = {
    {"method", 0, CTL_OPT_ARG},
    {"header", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"tls", 0, 0},
    {"verbose", 'v', 0},
    {NULL, 0, 0},
};
static const struct ctl_opt shared_opts[] = {
    {"output", 'o', CTL_OPT_ARG},
    {"server", 0, CTL_OPT_ARG},
    {NULL, 0, 0},
};
static const struct ctl_opt *const tables[] = {local_opts, shared_opts, NULL};

/* Parses a NULL-terminated word list (copied, since the parser borrows argv). */
static int
parse(struct ctl_args *a, bool stop, char *err, size_t err_len, ...)
{
    static char *argv[32];
    int argc = 0;
    va_list ap;
    va_start(ap, err_len);
    for (const char *w; (w = va_arg(ap, const char *)) && argc < 31;)
        argv[argc++] = (char *)w;
    va_end(ap);
    argv[argc] = NULL;
    return ctl_args_parse(a, tables, argc, argv, stop, err, err_len);
}

static void
test_flags(void **state)
{
    struct ctl_args a;
    char err[256];

    assert_int_equal(parse(&a, false, err, sizeof(err), "api", "--method", "GET", "--header=A: b",
                           "-o", "json", "x", "--header", "C: d", "--tls", "-v", NULL),
                     0);
    assert_int_equal(a.n_pos, 2);
    assert_string_equal(a.pos[0], "api");
    assert_string_equal(a.pos[1], "x");
    assert_string_equal(ctl_args_get(&a, "method"), "GET");
    assert_string_equal(ctl_args_get(&a, "output"), "json");
    assert_true(ctl_args_has(&a, "tls"));
    assert_null(ctl_args_get(&a, "tls"));
    assert_true(ctl_args_has(&a, "verbose"));
    assert_false(ctl_args_has(&a, "server"));
    assert_true(ctl_args_any(&a, local_opts));
    assert_false(a.help);
    size_t cursor = 0;
    assert_string_equal(ctl_args_next(&a, "header", &cursor), "A: b");
    assert_string_equal(ctl_args_next(&a, "header", &cursor), "C: d");
    assert_null(ctl_args_next(&a, "header", &cursor));
    ctl_args_done(&a);

    /* -ojson, "--" ends flags, "-" is positional, -h anywhere */
    assert_int_equal(parse(&a, false, err, sizeof(err), "-ojson", "-", "--", "--tls", "-h", NULL),
                     0);
    assert_string_equal(ctl_args_get(&a, "output"), "json");
    assert_int_equal(a.n_pos, 3);
    assert_string_equal(a.pos[0], "-");
    assert_string_equal(a.pos[1], "--tls");
    assert_string_equal(a.pos[2], "-h");
    assert_false(a.help);
    assert_false(ctl_args_any(&a, local_opts));
    ctl_args_done(&a);

    assert_int_equal(parse(&a, false, err, sizeof(err), "x", "--help", NULL), 0);
    assert_true(a.help);
    ctl_args_done(&a);
    assert_int_equal(parse(&a, false, err, sizeof(err), "-vh", NULL), 0);
    assert_true(a.help);
    assert_true(ctl_args_has(&a, "verbose"));
    ctl_args_done(&a);

    /* Global flags before the noun: parsing stops at the first positional. */
    assert_int_equal(
        parse(&a, true, err, sizeof(err), "--server", "h:1", "api", "list", "-o", "json", NULL), 0);
    assert_string_equal(ctl_args_get(&a, "server"), "h:1");
    assert_null(ctl_args_get(&a, "output"));
    assert_int_equal(a.n_pos, 4);
    assert_string_equal(a.pos[2], "-o");
    ctl_args_done(&a);
}

static void
test_flag_errors(void **state)
{
    static const struct {
        const char *words[4];
        const char *message;
    } cases[] = {
        {{"--bogus"}, "unknown option --bogus"},
        {{"--bogus=1"}, "unknown option --bogus"},
        {{"-x"}, "unknown option -x"},
        {{"--method"}, "option --method needs a value"},
        {{"-o"}, "option -o needs a value"},
        {{"--tls=yes"}, "option --tls takes no value"},
        {{"--method", "A", "--method", "B"}, "option --method given more than once"},
        {{"-o", "json", "--output=table"}, "option --output given more than once"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ctl_args a;
        char err[256] = "";
        char *argv[5] = {0};
        int argc = 0;
        while (argc < 4 && cases[i].words[argc]) {
            argv[argc] = (char *)cases[i].words[argc];
            argc++;
        }
        assert_int_equal(ctl_args_parse(&a, tables, argc, argv, false, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, cases[i].message);
        assert_int_equal(a.n_pos, 0);
        assert_null(a.vals);
    }
}

static void
test_numbers(void **state)
{
    static const struct {
        const char *s;
        uint32_t min, max;
        int ret;
        uint32_t want;
    } u32[] = {
        {"0", 0, UINT32_MAX, 0, 0},
        {"4294967295", 0, UINT32_MAX, 0, UINT32_MAX},
        {"4294967296", 0, UINT32_MAX, -ERANGE, 0},
        {"99999999999999999999999", 0, UINT32_MAX, -ERANGE, 0},
        {"10", 1, 10, 0, 10},
        {"11", 1, 10, -ERANGE, 0},
        {"0", 1, 10, -ERANGE, 0},
        {"007", 0, 10, 0, 7},
        {"-1", 0, 10, -EINVAL, 0},
        {"+1", 0, 10, -EINVAL, 0},
        {" 1", 0, 10, -EINVAL, 0},
        {"1 ", 0, 10, -EINVAL, 0},
        {"1x", 0, 10, -EINVAL, 0},
        {"0x10", 0, 100, -EINVAL, 0},
        {"", 0, 10, -EINVAL, 0},
        {"1.5", 0, 10, -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(u32) / sizeof(u32[0]); i++) {
        uint32_t v = 12345;
        assert_int_equal(ctl_parse_u32(u32[i].s, u32[i].min, u32[i].max, &v), u32[i].ret);
        assert_int_equal(v, u32[i].ret == 0 ? u32[i].want : 12345);
    }

    uint64_t v64 = 0;
    assert_int_equal(ctl_parse_u64("18446744073709551615", 0, UINT64_MAX, &v64), 0);
    assert_true(v64 == UINT64_MAX);
    assert_int_equal(ctl_parse_u64("18446744073709551616", 0, UINT64_MAX, &v64), -ERANGE);
    assert_int_equal(ctl_parse_u64(NULL, 0, UINT64_MAX, &v64), -EINVAL);

    static const struct {
        const char *s;
        int ret;
        double want;
    } dbl[] = {
        {"1.5", 0, 1.5},     {".5", 0, 0.5},         {"100", 0, 100},       {"1e3", 0, 1000},
        {"0", 0, 0},         {"1000.5", -ERANGE, 0}, {"-1", -EINVAL, 0},    {"inf", -EINVAL, 0},
        {"nan", -EINVAL, 0}, {"0x1p3", -EINVAL, 0},  {"1e400", -ERANGE, 0}, {"1.5x", -EINVAL, 0},
        {"", -EINVAL, 0},    {".", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof(dbl) / sizeof(dbl[0]); i++) {
        double d = -7;
        assert_int_equal(ctl_parse_double(dbl[i].s, 0, 1000, &d), dbl[i].ret);
        if (dbl[i].ret == 0)
            assert_true(d == dbl[i].want);
        else
            assert_true(d == -7);
    }
}

static void
test_hostport(void **state)
{
    static const struct {
        const char *s;
        const char *host; /* NULL: invalid */
        uint32_t port;
    } cases[] = {
        {"127.0.0.1:80", "127.0.0.1", 80},
        {"localhost:65535", "localhost", 65535},
        {"svc-1.internal_x:1", "svc-1.internal_x", 1},
        {"[::1]:80", "::1", 80},
        {"[2001:db8::1]:8443", "2001:db8::1", 8443},
        {"[fe80::1%eth0]:8080", "fe80::1%eth0", 8080},
        {"[::ffff:10.0.0.1]:9", "::ffff:10.0.0.1", 9},
        {"a:0", NULL, 0},
        {"a:65536", NULL, 0},
        {"a:123456789", NULL, 0},
        {":80", NULL, 0},
        {"a:", NULL, 0},
        {"a", NULL, 0},
        {"", NULL, 0},
        {"::1:80", NULL, 0},
        {"::1", NULL, 0},
        {"[::1]", NULL, 0},
        {"[::1]80", NULL, 0},
        {"[::1]:", NULL, 0},
        {"[]:80", NULL, 0},
        {"[abc]:80", NULL, 0},
        {"[::1:80", NULL, 0},
        {"a b:80", NULL, 0},
        {"a/b:80", NULL, 0},
        {"a:80x", NULL, 0},
        {"a:-1", NULL, 0},
        {"a:+80", NULL, 0},
        {"http://a:80", NULL, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *host = NULL;
        uint32_t port = 0;
        int r = ctl_parse_hostport(cases[i].s, &host, &port);
        if (!cases[i].host) {
            assert_int_equal(r, -EINVAL);
            assert_null(host);
            continue;
        }
        assert_int_equal(r, 0);
        assert_string_equal(host, cases[i].host);
        assert_int_equal(port, cases[i].port);
        free(host);
    }
    uint32_t port;
    assert_int_equal(ctl_parse_hostport("h:9090", NULL, &port), 0);
    assert_int_equal(port, 9090);
}

static void
free_targets(Edge__V1__Target **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        edge_pb_free(t[i]);
    free(t);
}

static void
test_targets(void **state)
{
    Edge__V1__Target **t = NULL;
    size_t n = 0;

    assert_int_equal(ctl_parse_targets("10.0.0.1:8080", &t, &n), 0);
    assert_int_equal(ctl_parse_targets("[::1]:80,weight=1000", &t, &n), 0);
    assert_int_equal(ctl_parse_targets("a:1,b:2,weight=3", &t, &n), 0);
    assert_int_equal(n, 4);
    assert_string_equal(t[0]->host, "10.0.0.1");
    assert_int_equal(t[0]->port, 8080);
    assert_int_equal(t[0]->weight, 0); /* the server reads 0 as 1 */
    assert_string_equal(t[1]->host, "::1");
    assert_int_equal(t[1]->port, 80);
    assert_int_equal(t[1]->weight, 1000);
    assert_string_equal(t[2]->host, "a");
    assert_int_equal(t[2]->weight, 0);
    assert_string_equal(t[3]->host, "b");
    assert_int_equal(t[3]->port, 2);
    assert_int_equal(t[3]->weight, 3);

    static const char *const bad[] = {
        "",
        "a",
        "a:1,weight=0",
        "a:1,weight=1001",
        "a:1,weight=",
        "a:1,weight=x",
        "a:1,weight=-1",
        "weight=3",
        "a:1,weight=2,weight=3",
        "a:1,",
        ",a:1",
        "a:1,b",
        "a:1,wieght=2",
        "::1:80",
        "a:1,weight=99999999999",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ctl_parse_targets(bad[i], &t, &n), -EINVAL);
        assert_int_equal(n, 4); /* nothing appended on failure */
    }
    free_targets(t, n);
}

static void
test_header(void **state)
{
    static const struct {
        const char *s, *name, *value; /* name NULL: invalid */
    } cases[] = {
        {"X-Env: prod", "X-Env", "prod"},
        {"x-env:prod", "x-env", "prod"},
        {"X:  spaced value \t", "X", "spaced value"},
        {"X:", "X", ""},
        {"X: a:b", "X", "a:b"},
        {": v", NULL, NULL},
        {"X Y: v", NULL, NULL},
        {"X", NULL, NULL},
        {"", NULL, NULL},
        {"X: a\nb", NULL, NULL},
        {"X(: v", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Edge__V1__HeaderMatch *h = NULL;
        int r = ctl_parse_header(cases[i].s, &h);
        if (!cases[i].name) {
            assert_int_equal(r, -EINVAL);
            assert_null(h);
            continue;
        }
        assert_int_equal(r, 0);
        assert_string_equal(h->name, cases[i].name);
        assert_string_equal(h->value, cases[i].value);
        edge_pb_free(h);
    }
}

static void
test_kv(void **state)
{
    static const struct {
        const char *s, *key, *value;
    } cases[] = {
        {"a=b", "a", "b"},     {"a=", "a", ""},
        {"a=b=c", "a", "b=c"}, {"url=http://x/?q=1", "url", "http://x/?q=1"},
        {"=b", NULL, NULL},    {"a", NULL, NULL},
        {"", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *k = NULL, *v = NULL;
        int r = ctl_parse_kv(cases[i].s, &k, &v);
        if (!cases[i].key) {
            assert_int_equal(r, -EINVAL);
            assert_null(k);
            continue;
        }
        assert_int_equal(r, 0);
        assert_string_equal(k, cases[i].key);
        assert_string_equal(v, cases[i].value);
        if (k != protobuf_c_empty_string)
            free(k);
        if (v != protobuf_c_empty_string)
            free(v);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags),   cmocka_unit_test(test_flag_errors),
        cmocka_unit_test(test_numbers), cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_targets), cmocka_unit_test(test_header),
        cmocka_unit_test(test_kv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
