/* The edgectl grammar (DESIGN.md §6) at the noun level: --help everywhere, and every usage
 * error exits 2 before anything is sent, so none of these cases needs a server. One case
 * checks that an unreachable server is a failed call (1), not a usage error. */
/* cmocka.h needs these before it. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "ctl.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct grammar_case {
    ctl_cmd_fn fn;
    const char *words[16]; /* what follows the noun (for verbless nouns, the noun itself) */
    int want;
};

#define HELP  CTL_EXIT_HELP
#define USAGE CTL_EXIT_USAGE

static const struct grammar_case cases[] = {
    /* api */
    {ctl_cmd_api, {NULL}, USAGE},
    {ctl_cmd_api, {"--help"}, HELP},
    {ctl_cmd_api, {"-h"}, HELP},
    {ctl_cmd_api, {"frob"}, USAGE},
    {ctl_cmd_api, {"create", "--help"}, HELP},
    {ctl_cmd_api, {"create", "shop", "-h"}, HELP},
    {ctl_cmd_api, {"create"}, USAGE},
    {ctl_cmd_api, {"create", "a", "b"}, USAGE},
    {ctl_cmd_api, {"create", "a", "--bogus"}, USAGE},
    {ctl_cmd_api, {"create", "a", "--description"}, USAGE},
    {ctl_cmd_api, {"list", "extra"}, USAGE},
    {ctl_cmd_api, {"list", "-o", "yaml"}, USAGE},
    {ctl_cmd_api, {"list", "--timeout", "0"}, USAGE},
    {ctl_cmd_api, {"list", "--timeout", "soon"}, USAGE},
    {ctl_cmd_api, {"list", "--server", "nohost"}, USAGE},
    {ctl_cmd_api, {"list", "--server", "[::1]"}, USAGE},
    {ctl_cmd_api, {"get"}, USAGE},
    {ctl_cmd_api, {"update", "a"}, USAGE},
    {ctl_cmd_api, {"update", "a", "-o", "json"}, USAGE}, /* a global flag changes nothing */
    {ctl_cmd_api, {"delete"}, USAGE},
    {ctl_cmd_api, {"delete", "--help"}, HELP},
    /* route */
    {ctl_cmd_route, {"--help"}, HELP},
    {ctl_cmd_route, {"create", "--help"}, HELP},
    {ctl_cmd_route, {"create", "a", "--method", "GET", "--path", "/x"}, USAGE},
    {ctl_cmd_route, {"create", "a", "--path", "/x", "--upstream", "u"}, USAGE},
    {ctl_cmd_route,
     {"create", "a", "--method", "GET", "--path", "/x", "--upstream", "u", "--timeout-ms", "-5"},
     USAGE},
    {ctl_cmd_route,
     {"create", "a", "--method", "GET", "--path", "/x", "--upstream", "u", "--header", "bad"},
     USAGE},
    {ctl_cmd_route,
     {"create", "a", "--method", "GET", "--path", "/x", "--upstream", "u", "--rate", "5"},
     USAGE},
    {ctl_cmd_route,
     {"create", "a", "--method", "GET", "--path", "/x", "--upstream", "u", "--rate", "x", "--burst",
      "1"},
     USAGE},
    {ctl_cmd_route,
     {"create", "a", "--method", "GET", "--path", "/x", "--upstream", "u", "--max-body-bytes",
      "1e3"},
     USAGE},
    {ctl_cmd_route,
     {"create", "a", "--method", "GET", "--path", "/x", "--upstream", "u", "--no-api-key-required"},
     USAGE},
    {ctl_cmd_route, {"list"}, USAGE},
    {ctl_cmd_route, {"get", "a"}, USAGE},
    {ctl_cmd_route, {"get", "a", "r", "x"}, USAGE},
    {ctl_cmd_route, {"update", "a", "r"}, USAGE},
    {ctl_cmd_route, {"update", "a", "r", "--api-key-required", "--no-api-key-required"}, USAGE},
    {ctl_cmd_route, {"update", "a", "r", "--timeout-ms", "99999999999"}, USAGE},
    {ctl_cmd_route, {"update", "a", "r", "--header", "X Y: z"}, USAGE},
    {ctl_cmd_route, {"delete", "a"}, USAGE},
    /* upstream */
    {ctl_cmd_upstream, {"create", "--help"}, HELP},
    {ctl_cmd_upstream, {"create", "u"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "h"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "::1:80"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "h:1,weight=0"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "h:1", "--target", "h:70000"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "h:1", "--lb", "fastest"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "h:1", "--retries", "11"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "h:1", "--health-interval-ms", "x"}, USAGE},
    {ctl_cmd_upstream, {"create", "u", "--target", "h:1", "--tls", "--no-tls"}, USAGE},
    {ctl_cmd_upstream, {"update", "u"}, USAGE},
    {ctl_cmd_upstream, {"update", "u", "--target", "bad"}, USAGE},
    {ctl_cmd_upstream, {"get"}, USAGE},
    {ctl_cmd_upstream, {"list", "x"}, USAGE},
    /* deploy, deployment, stage */
    {ctl_cmd_deploy, {"deploy"}, USAGE},
    {ctl_cmd_deploy, {"deploy", "a"}, USAGE},
    {ctl_cmd_deploy, {"deploy", "--help"}, HELP},
    {ctl_cmd_deploy, {"deploy", "a", "b", "--stage", "s"}, USAGE},
    {ctl_cmd_deployment, {"--help"}, HELP},
    {ctl_cmd_deployment, {"list"}, USAGE},
    {ctl_cmd_deployment, {"get", "a"}, USAGE},
    {ctl_cmd_deployment, {"create", "a"}, USAGE},
    {ctl_cmd_stage, {"--help"}, HELP},
    {ctl_cmd_stage, {"create", "a"}, USAGE},
    {ctl_cmd_stage, {"create", "a", "s", "--var", "novalue"}, USAGE},
    {ctl_cmd_stage, {"create", "a", "s", "--var", "=v"}, USAGE},
    {ctl_cmd_stage, {"create", "a", "s", "--unset-var", "k"}, USAGE},
    {ctl_cmd_stage, {"create", "a", "s", "--burst", "3"}, USAGE},
    {ctl_cmd_stage, {"update", "a", "s"}, USAGE},
    {ctl_cmd_stage, {"update", "a", "s", "--burst", "x"}, USAGE},
    {ctl_cmd_stage, {"update", "a", "s", "--var", "k"}, USAGE},
    {ctl_cmd_stage, {"list"}, USAGE},
    {ctl_cmd_stage, {"get", "a"}, USAGE},
    {ctl_cmd_stage, {"delete", "a", "s", "t"}, USAGE},
    /* domain, node, status, audit */
    {ctl_cmd_domain, {"--help"}, HELP},
    {ctl_cmd_domain, {"map", "h", "a"}, USAGE},
    {ctl_cmd_domain, {"map", "/v1", "a", "s"}, USAGE},
    {ctl_cmd_domain, {"unmap"}, USAGE},
    {ctl_cmd_domain, {"unmap", "/v1"}, USAGE},
    {ctl_cmd_domain, {"list", "x"}, USAGE},
    {ctl_cmd_node, {NULL}, USAGE},
    {ctl_cmd_node, {"list", "x"}, USAGE},
    {ctl_cmd_node, {"list", "--help"}, HELP},
    {ctl_cmd_status, {"status", "x"}, USAGE},
    {ctl_cmd_status, {"status", "--help"}, HELP},
    {ctl_cmd_audit, {"audit", "--limit", "0"}, USAGE},
    {ctl_cmd_audit, {"audit", "--limit", "x"}, USAGE},
    {ctl_cmd_audit, {"audit", "x"}, USAGE},
    {ctl_cmd_audit, {"audit", "-h"}, HELP},
    {ctl_cmd_api, {"list", "--cert-file", "c.pem"}, USAGE},
    {ctl_cmd_api, {"list", "--cert-file", "c.pem", "--key-file", "k.pem"}, USAGE},
    {ctl_cmd_api, {"list", "--key-file", "k.pem", "--ca-file", "ca.pem"}, USAGE},
    /* A well-formed command against a closed port: a failed call. */
    {ctl_cmd_api, {"list", "--server", "127.0.0.1:1", "--timeout", "2000"}, CTL_EXIT_FAIL},
    {ctl_cmd_audit, {"audit", "--limit", "5", "--server", "127.0.0.1:1"}, CTL_EXIT_FAIL},
};

static void
test_grammar(void **state)
{
    /* The commands print usage and errors; keep the test log to the verdicts. */
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(saved_out >= 0 && saved_err >= 0 && null_fd >= 0);
    dup2(null_fd, 1);
    dup2(null_fd, 2);
    close(null_fd);
    unsetenv("EDGE_SERVER");
    unsetenv("EDGE_TOKEN");

    size_t failed = 0;
    char report[4096] = "";
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[17];
        int argc = 0;
        while (cases[i].words[argc]) {
            argv[argc] = (char *)cases[i].words[argc];
            argc++;
        }
        argv[argc] = NULL;
        struct ctl_ctx ctx;
        ctl_ctx_init(&ctx);
        int got = cases[i].fn(&ctx, argc, argv);
        ctl_ctx_done(&ctx);
        if (got != cases[i].want) {
            size_t len = strlen(report);
            snprintf(report + len, sizeof(report) - len, "case %zu (%s %s): got %d, want %d\n", i,
                     cases[i].words[0] ? cases[i].words[0] : "", argc > 1 ? argv[1] : "", got,
                     cases[i].want);
            failed++;
        }
    }

    fflush(stdout);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    if (failed)
        fail_msg("%zu grammar cases failed:\n%s", failed, report);
}

static void
test_env(void **state)
{
    setenv("EDGE_SERVER", "10.1.2.3:7000", 1);
    setenv("EDGE_TOKEN", "secret", 1);
    struct ctl_ctx ctx;
    ctl_ctx_init(&ctx);
    assert_string_equal(ctx.server, "10.1.2.3:7000");
    assert_string_equal(ctx.env_token, "secret");
    assert_int_equal(ctx.timeout_ms, 10000);
    assert_int_equal(ctx.output, CTL_OUTPUT_TABLE);

    /* Flags beat the environment, and the last token source given wins. */
    static const struct ctl_opt *const tables[] = {ctl_global_opts, NULL};
    char *argv[] = {"--server", "[::1]:9", "--token-file", "/x", "-o", "json", "--timeout", "50"};
    struct ctl_args a;
    char err[128];
    assert_int_equal(ctl_args_parse(&a, tables, 8, argv, false, err, sizeof(err)), 0);
    assert_int_equal(ctl_apply_global(&ctx, &a, NULL), CTL_EXIT_OK);
    assert_string_equal(ctx.server, "[::1]:9");
    assert_string_equal(ctx.token_file, "/x");
    assert_null(ctx.token);
    assert_int_equal(ctx.output, CTL_OUTPUT_JSON);
    assert_int_equal(ctx.timeout_ms, 50);
    ctl_args_done(&a);
    char *argv2[] = {"--token", "t2", "--server", "unix:/run/edge.sock"};
    assert_int_equal(ctl_args_parse(&a, tables, 4, argv2, false, err, sizeof(err)), 0);
    assert_int_equal(ctl_apply_global(&ctx, &a, NULL), CTL_EXIT_OK);
    assert_string_equal(ctx.token, "t2");
    assert_null(ctx.token_file);
    assert_string_equal(ctx.server, "unix:/run/edge.sock");
    ctl_args_done(&a);
    ctl_ctx_done(&ctx);
    unsetenv("EDGE_SERVER");
    unsetenv("EDGE_TOKEN");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grammar),
        cmocka_unit_test(test_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
