/* edgectl: the command-line client of the Admin service (DESIGN.md §6). This file parses the
 * global flags and hands the rest to the noun's command; everything else is in ctl_lib. */
#include "cmd_key.h"
#include "ctl.h"
#include "edge_config.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "Usage: edgectl [GLOBAL FLAGS] NOUN VERB [ARGS] [FLAGS]\n"
    "\n"
    "Manage an Edge control plane through its Admin API.\n"
    "\n"
    "Commands:\n"
    "  api create|list|get|update|delete        APIs\n"
    "  route create|list|get|update|delete      routes of an API\n"
    "  upstream create|list|get|update|delete   upstream services and their targets\n"
    "  deploy API --stage S                     deploy an API's routes to a stage\n"
    "  deployment list|get                      deployments of an API\n"
    "  stage create|list|get|update|delete      stages of an API\n"
    "  domain map|list|unmap                    domain mappings\n"
    "  key create|list|get|enable|disable|rotate|revoke   API keys\n"
    "  plan create|list|get|update|delete|add-key|remove-key   usage plans\n"
    "  usage PLAN [--key K] [--from D --to D]   requests per key and day, quota left\n"
    "  node list                                data-plane nodes\n"
    "  status                                   control plane status\n"
    "  audit [--limit N]                        recent changes\n"
    "  version                                  edgectl's version\n"
    "\n"
    "Global flags (also accepted after the command):\n"
    "  --server ADDR:PORT   control plane address (env EDGE_SERVER; default 127.0.0.1:9090)\n"
    "  --token T            admin token (env EDGE_TOKEN)\n"
    "  --token-file F       read the admin token from a file\n"
    "  -o, --output FORMAT  table (default) or json\n"
    "  --timeout MS         per-call deadline in milliseconds (default 10000)\n"
    "  --ca-file F          PEM CA bundle: use TLS to the control plane\n"
    "  --cert-file F        client certificate (mTLS), with --key-file F\n"
    "  -h, --help           help; 'edgectl NOUN --help', 'edgectl NOUN VERB --help'\n"
    "\n"
    "Exit status: 0 success, 1 a failed call, 2 bad usage.\n";

static int
cmd_version(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"version", "Usage: edgectl version\n", NULL, 0, 0};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ctl_args_done(&a);
    if (ctx->output == CTL_OUTPUT_JSON)
        printf("{\n  \"version\": \"%s\"\n}\n", EDGE_VERSION);
    else
        printf("edgectl %s\n", EDGE_VERSION);
    return CTL_EXIT_OK;
}

static const struct ctl_verb nouns[] = {
    {"api", ctl_cmd_api},
    {"route", ctl_cmd_route},
    {"upstream", ctl_cmd_upstream},
    {"deploy", ctl_cmd_deploy},
    {"deployment", ctl_cmd_deployment},
    {"stage", ctl_cmd_stage},
    {"domain", ctl_cmd_domain},
    {"node", ctl_cmd_node},
    {"key", ctl_cmd_key},
    {"plan", ctl_cmd_plan},
    {"usage", ctl_cmd_usage},
    {"status", ctl_cmd_status},
    {"audit", ctl_cmd_audit},
    {"version", cmd_version},
    {NULL, NULL},
};

/* Nouns that take the remaining words themselves (no verb). */
static bool
is_verbless(const char *noun)
{
    return strcmp(noun, "deploy") == 0 || strcmp(noun, "status") == 0 ||
           strcmp(noun, "audit") == 0 || strcmp(noun, "version") == 0 || strcmp(noun, "usage") == 0;
}

static int
run(struct ctl_ctx *ctx, int argc, char **argv)
{
    const struct ctl_opt *const tables[] = {ctl_global_opts, NULL};
    char err[256];
    struct ctl_args a;

    if (ctl_args_parse(&a, tables, argc - 1, argv + 1, true, err, sizeof(err)) < 0)
        return ctl_usage_error(NULL, "%s", err);
    int r = CTL_EXIT_OK;
    if (a.help) {
        fputs(usage, stdout);
        r = CTL_EXIT_HELP;
    } else if (a.n_pos == 0) {
        r = ctl_usage_error(NULL, "missing command");
    } else {
        r = ctl_apply_global(ctx, &a, NULL);
    }
    if (r != CTL_EXIT_OK) {
        ctl_args_done(&a);
        return r;
    }

    const char *noun = a.pos[0];
    int sub_argc = (int)a.n_pos;
    char **sub_argv = a.pos;
    r = -1;
    for (const struct ctl_verb *n = nouns; n->name; n++) {
        if (strcmp(n->name, noun) != 0)
            continue;
        /* Verbless nouns see themselves as argv[0]; the others see their verb. */
        r = is_verbless(noun) ? n->fn(ctx, sub_argc, sub_argv)
                              : n->fn(ctx, sub_argc - 1, sub_argv + 1);
        break;
    }
    if (r < 0) {
        if (strcmp(noun, "help") == 0) {
            fputs(usage, stdout);
            r = CTL_EXIT_HELP;
        } else {
            r = ctl_usage_error(NULL, "unknown command \"%s\"", noun);
        }
    }
    ctl_args_done(&a);
    return r;
}

int
main(int argc, char **argv)
{
    struct ctl_ctx ctx;
    ctl_ctx_init(&ctx);
    int r = run(&ctx, argc, argv);
    ctl_ctx_done(&ctx);
    fflush(stdout);
    if (ferror(stdout) && r == CTL_EXIT_OK)
        r = CTL_EXIT_FAIL;
    return r == CTL_EXIT_HELP ? CTL_EXIT_OK : r;
}
