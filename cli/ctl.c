#include "ctl.h"

#include "pb.h"
#include "rpc/rpc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CTL_DEFAULT_SERVER     "127.0.0.1:9090"
#define CTL_DEFAULT_TIMEOUT_MS 10000u
#define CTL_MAX_TOKEN_BYTES    4096

const struct ctl_opt ctl_global_opts[] = {
    {"server", 0, CTL_OPT_ARG},    {"token", 0, CTL_OPT_ARG},    {"token-file", 0, CTL_OPT_ARG},
    {"output", 'o', CTL_OPT_ARG},  {"timeout", 0, CTL_OPT_ARG},  {"ca-file", 0, CTL_OPT_ARG},
    {"cert-file", 0, CTL_OPT_ARG}, {"key-file", 0, CTL_OPT_ARG}, {NULL, 0, 0},
};

void
ctl_ctx_init(struct ctl_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->server = CTL_DEFAULT_SERVER;
    ctx->timeout_ms = CTL_DEFAULT_TIMEOUT_MS;
    ctx->output = CTL_OUTPUT_TABLE;
    ctx->now = (int64_t)time(NULL);
    const char *s = getenv("EDGE_SERVER");
    if (s && *s)
        ctx->server = s;
    s = getenv("EDGE_TOKEN");
    if (s && *s)
        ctx->env_token = s;
}

void
ctl_ctx_done(struct ctl_ctx *ctx)
{
    edge_rpc_client_free(ctx->client);
    ctx->client = NULL;
    if (ctx->grpc_initialised)
        grpc_shutdown();
    ctx->grpc_initialised = false;
    if (ctx->token_buf) {
        /* The token is a credential: do not leave it in freed memory. */
        explicit_bzero(ctx->token_buf, strlen(ctx->token_buf));
        free(ctx->token_buf);
        ctx->token_buf = NULL;
    }
}

int
ctl_usage_error(const char *cmd_name, const char *fmt, ...)
{
    va_list ap;
    fputs("edgectl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'edgectl%s%s --help'.\n", cmd_name ? " " : "", cmd_name ? cmd_name : "");
    return CTL_EXIT_USAGE;
}

/* gRPC targets may carry a resolver scheme; only a plain address is checked here. */
static bool
server_needs_check(const char *s)
{
    static const char *const schemes[] = {"unix:", "unix-abstract:", "dns:", "ipv4:", "ipv6:"};
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strncmp(s, schemes[i], strlen(schemes[i])) == 0)
            return false;
    return true;
}

int
ctl_apply_global(struct ctl_ctx *ctx, const struct ctl_args *a, const char *cmd_name)
{
    const char *v;
    if ((v = ctl_args_get(a, "server"))) {
        uint32_t port;
        if (server_needs_check(v) && ctl_parse_hostport(v, NULL, &port) < 0)
            return ctl_usage_error(cmd_name, "--server: bad address \"%s\" (expected HOST:PORT)",
                                   v);
        ctx->server = v;
    }
    if ((v = ctl_args_get(a, "output")) && ctl_output_parse(v, &ctx->output) < 0)
        return ctl_usage_error(
            cmd_name, "-o: unknown output format \"%s\" (table or json; yaml for api export)", v);
    if (ctx->output == CTL_OUTPUT_YAML && (!cmd_name || strcmp(cmd_name, "api export") != 0))
        return ctl_usage_error(cmd_name, "-o yaml: only `api export` writes YAML (table or json)");
    if ((v = ctl_args_get(a, "timeout")) &&
        ctl_parse_u32(v, 1, 24u * 3600 * 1000, &ctx->timeout_ms) < 0)
        return ctl_usage_error(cmd_name, "--timeout: bad number \"%s\" (milliseconds, 1..86400000)",
                               v);
    if ((v = ctl_args_get(a, "token"))) {
        ctx->token = v;
        ctx->token_file = NULL;
    }
    if ((v = ctl_args_get(a, "token-file"))) {
        ctx->token_file = v;
        ctx->token = NULL;
    }
    if ((v = ctl_args_get(a, "ca-file")))
        ctx->ca_file = v;
    if ((v = ctl_args_get(a, "cert-file")))
        ctx->cert_file = v;
    if ((v = ctl_args_get(a, "key-file")))
        ctx->key_file = v;
    return CTL_EXIT_OK;
}

int
ctl_begin(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, int argc, char **argv,
          struct ctl_args *ret_args)
{
    const struct ctl_opt *const tables[] = {cmd->opts, ctl_global_opts, NULL};
    const struct ctl_opt *const *t = cmd->opts ? tables : tables + 1;
    char err[256];
    struct ctl_args a;

    if (ctl_args_parse(&a, t, argc - 1, argv + 1, false, err, sizeof(err)) < 0)
        return ctl_usage_error(cmd->name, "%s", err);
    if (a.help) {
        fputs(cmd->usage, stdout);
        ctl_args_done(&a);
        return CTL_EXIT_HELP;
    }
    int r = CTL_EXIT_OK;
    if (a.n_pos < cmd->min_pos)
        r = ctl_usage_error(cmd->name, "%s: missing argument", cmd->name);
    else if (a.n_pos > cmd->max_pos)
        r = ctl_usage_error(cmd->name, "%s: unexpected argument \"%s\"", cmd->name,
                            a.pos[cmd->max_pos]);
    else
        r = ctl_apply_global(ctx, &a, cmd->name);
    /* TLS flags may come before the noun and after the verb: check them together here. */
    if (r == CTL_EXIT_OK && !ctx->cert_file != !ctx->key_file)
        r = ctl_usage_error(cmd->name, "--cert-file and --key-file go together");
    else if (r == CTL_EXIT_OK && ctx->cert_file && !ctx->ca_file)
        r = ctl_usage_error(cmd->name, "--cert-file needs --ca-file (mutual TLS)");
    if (r != CTL_EXIT_OK) {
        ctl_args_done(&a);
        return r;
    }
    *ret_args = a;
    return CTL_EXIT_OK;
}

int
ctl_flag_u32(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name, uint32_t min,
             uint32_t max, uint32_t *ret)
{
    const char *v = ctl_args_get(a, name);
    if (v && ctl_parse_u32(v, min, max, ret) < 0)
        return ctl_usage_error(cmd->name, "--%s: bad number \"%s\" (expected %u..%u)", name, v, min,
                               max);
    return 0;
}

int
ctl_flag_u64(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name, uint64_t min,
             uint64_t max, uint64_t *ret)
{
    const char *v = ctl_args_get(a, name);
    if (v && ctl_parse_u64(v, min, max, ret) < 0)
        return ctl_usage_error(cmd->name, "--%s: bad number \"%s\" (expected %llu..%llu)", name, v,
                               (unsigned long long)min, (unsigned long long)max);
    return 0;
}

int
ctl_flag_double(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name, double min,
                double max, double *ret)
{
    const char *v = ctl_args_get(a, name);
    if (v && ctl_parse_double(v, min, max, ret) < 0)
        return ctl_usage_error(cmd->name, "--%s: bad number \"%s\" (expected %g..%g)", name, v, min,
                               max);
    return 0;
}

int
ctl_flag_throttle(const struct ctl_cmd *cmd, const struct ctl_args *a,
                  Edge__V1__Throttle **throttle)
{
    bool has_rate = ctl_args_has(a, "rate"), has_burst = ctl_args_has(a, "burst");
    double rate = 0;
    uint32_t burst = 0;
    int r;

    if (!has_rate && !has_burst)
        return 0;
    if ((r = ctl_flag_double(cmd, a, "rate", 0, 1e9, &rate)) != 0 ||
        (r = ctl_flag_u32(cmd, a, "burst", 0, 1000000000u, &burst)) != 0)
        return r;
    if (!*throttle && !(has_rate && has_burst))
        return ctl_usage_error(cmd->name, "--rate and --burst go together");
    if (!*throttle)
        *throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    if (has_rate)
        (*throttle)->rate = rate;
    if (has_burst)
        (*throttle)->burst = burst;
    return 0;
}

/* Reads the first line of path, without surrounding blanks. */
static int
read_token_file(const char *path, char **ret)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -errno;
    char *buf = edge_xcalloc(1, CTL_MAX_TOKEN_BYTES + 1);
    size_t n = fread(buf, 1, CTL_MAX_TOKEN_BYTES, f);
    int err = ferror(f) ? -EIO : 0;
    fclose(f);
    char *nl = strpbrk(buf, "\r\n");
    if (nl)
        *nl = '\0';
    else if (n == CTL_MAX_TOKEN_BYTES)
        err = -EFBIG;
    char *start = buf + strspn(buf, " \t");
    size_t len = strlen(start);
    while (len > 0 && (start[len - 1] == ' ' || start[len - 1] == '\t'))
        len--;
    memmove(buf, start, len);
    buf[len] = '\0';
    if (err == 0 && len == 0)
        err = -ENODATA;
    if (err < 0) {
        explicit_bzero(buf, CTL_MAX_TOKEN_BYTES);
        free(buf);
        return err;
    }
    *ret = buf;
    return 0;
}

static int
connect_client(struct ctl_ctx *ctx)
{
    const char *token = ctx->token;
    if (!token && ctx->token_file) {
        int r = read_token_file(ctx->token_file, &ctx->token_buf);
        if (r < 0) {
            fprintf(stderr, "edgectl: cannot read token file %s: %s\n", ctx->token_file,
                    r == -ENODATA ? "empty" : strerror(-r));
            return CTL_EXIT_FAIL;
        }
        token = ctx->token_buf;
    }
    if (!token)
        token = ctx->env_token;

    struct edge_rpc_client_config cfg = {
        .token = token,
        .ca_file = ctx->ca_file,
        .cert_file = ctx->cert_file,
        .key_file = ctx->key_file,
    };
    char err[256] = "";
    /* grpc_init() is refcounted, so this pairs with the shutdown in ctl_ctx_done() whatever
     * the rpc layer does itself; done here so that --help and usage errors skip it. */
    grpc_init();
    ctx->grpc_initialised = true;
    ctx->client = edge_rpc_client_new(ctx->server, &cfg, err, sizeof(err));
    if (!ctx->client) {
        fprintf(stderr, "edgectl: cannot connect to %s: %s\n", ctx->server, err);
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

int
ctl_call(struct ctl_ctx *ctx, const char *method, const ProtobufCMessage *req,
         const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp)
{
    if (!ctx->client) {
        int r = connect_client(ctx);
        if (r != CTL_EXIT_OK)
            return r;
    }
    char path[128];
    snprintf(path, sizeof(path), "/edge.v1.Admin/%s", method);
    struct edge_rpc_status st = {0};
    ProtobufCMessage *resp = NULL;
    grpc_status_code code =
        edge_rpc_client_call(ctx->client, path, req, resp_desc, (int)ctx->timeout_ms, &resp, &st);
    if (code == GRPC_STATUS_OK && !resp) {
        code = GRPC_STATUS_INTERNAL;
        snprintf(st.message, sizeof(st.message), "empty response to %s", method);
    }
    if (code != GRPC_STATUS_OK) {
        st.message[sizeof(st.message) - 1] = '\0';
        fprintf(stderr, "edgectl: %s: %s\n", edge_rpc_code_name(code),
                st.message[0] ? st.message : "(no message)");
        edge_pb_free(resp);
        return CTL_EXIT_FAIL;
    }
    *ret_resp = resp;
    return CTL_EXIT_OK;
}

void
ctl_set_str(char **field, const char *v)
{
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = edge_pb_strdup(v);
}

int
ctl_print_object(struct ctl_ctx *ctx, const ProtobufCMessage *msg)
{
    int r = ctx->output == CTL_OUTPUT_JSON ? ctl_print_json_message(stdout, msg)
                                           : ctl_print_describe(stdout, msg, ctx->now);
    if (r < 0) {
        fprintf(stderr, "edgectl: cannot format the response: %s\n", strerror(-r));
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

int
ctl_print_done(struct ctl_ctx *ctx, const ProtobufCMessage *msg, const char *line)
{
    if (ctx->output == CTL_OUTPUT_JSON)
        return ctl_print_object(ctx, msg);
    puts(line);
    return CTL_EXIT_OK;
}

static void
list_verbs(FILE *out, const struct ctl_verb *verbs)
{
    for (const struct ctl_verb *v = verbs; v->name; v++)
        fprintf(out, "%s%s", v == verbs ? "" : ", ", v->name);
}

int
ctl_dispatch(struct ctl_ctx *ctx, const char *noun, const char *usage, const struct ctl_verb *verbs,
             int argc, char **argv)
{
    if (argc < 1) {
        fprintf(stderr, "edgectl: %s: missing command (", noun);
        list_verbs(stderr, verbs);
        fprintf(stderr, ")\nTry 'edgectl %s --help'.\n", noun);
        return CTL_EXIT_USAGE;
    }
    if (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
        strcmp(argv[0], "help") == 0) {
        fputs(usage, stdout);
        return CTL_EXIT_HELP;
    }
    for (const struct ctl_verb *v = verbs; v->name; v++)
        if (strcmp(v->name, argv[0]) == 0)
            return v->fn(ctx, argc, argv);
    fprintf(stderr, "edgectl: %s: unknown command \"%s\" (", noun, argv[0]);
    list_verbs(stderr, verbs);
    fprintf(stderr, ")\nTry 'edgectl %s --help'.\n", noun);
    return CTL_EXIT_USAGE;
}
