/* edgectl upstream create|list|get|update|delete */
#include "ctl.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UPSTREAM_OPTIONS                                                                           \
    "  --target HOST:PORT[,weight=W]  a target (repeatable; on update replaces the list)\n"        \
    "  --lb POLICY                    round_robin, least_request, consistent_hash, random\n"       \
    "  --connect-timeout-ms N         connect timeout (default 2000)\n"                            \
    "  --timeout-ms N                 response timeout (default 30000)\n"                          \
    "  --retries N                    retries on another target after a connect failure\n"         \
    "  --pool-size N                  idle keep-alive connections per target per worker\n"         \
    "  --health-path P                active health checks: HTTP path (\"\" turns them off)\n"     \
    "  --health-interval-ms N         ... every N ms\n"                                            \
    "  --health-timeout-ms N          ... each with this timeout\n"                                \
    "  --healthy-threshold N          ... successes to mark a target healthy\n"                    \
    "  --unhealthy-threshold N        ... failures to mark it unhealthy\n"                         \
    "  --tls [--sni NAME]             TLS to the targets (update: --no-tls)\n"

static const char upstream_usage[] =
    "Usage: edgectl upstream create NAME --target HOST:PORT[,weight=W]... [options]\n"
    "       edgectl upstream list\n"
    "       edgectl upstream get NAME\n"
    "       edgectl upstream update NAME [options]\n"
    "       edgectl upstream delete NAME\n"
    "Options:\n" UPSTREAM_OPTIONS;

static const struct ctl_opt upstream_opts[] = {
    {"target", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"lb", 0, CTL_OPT_ARG},
    {"connect-timeout-ms", 0, CTL_OPT_ARG},
    {"timeout-ms", 0, CTL_OPT_ARG},
    {"retries", 0, CTL_OPT_ARG},
    {"pool-size", 0, CTL_OPT_ARG},
    {"health-path", 0, CTL_OPT_ARG},
    {"health-interval-ms", 0, CTL_OPT_ARG},
    {"health-timeout-ms", 0, CTL_OPT_ARG},
    {"healthy-threshold", 0, CTL_OPT_ARG},
    {"unhealthy-threshold", 0, CTL_OPT_ARG},
    {"tls", 0, 0},
    {"no-tls", 0, 0},
    {"sni", 0, CTL_OPT_ARG},
    {NULL, 0, 0},
};

#define LB_PREFIX "LB_POLICY_"

/* "round_robin" or "LB_POLICY_ROUND_ROBIN" -> the enum value. */
static int
parse_lb(const char *s, Edge__V1__LbPolicy *ret)
{
    char name[64] = LB_PREFIX;
    size_t plen = strlen(LB_PREFIX);
    if (strncmp(s, LB_PREFIX, plen) == 0)
        s += plen;
    if (strlen(s) + plen >= sizeof(name))
        return -1;
    for (size_t i = 0; s[i]; i++)
        name[plen + i] = (char)toupper((unsigned char)s[i]);
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value_by_name(&edge__v1__lb_policy__descriptor, name);
    if (!v)
        return -1;
    *ret = (Edge__V1__LbPolicy)v->value;
    return 0;
}

/* The enum value as people type it: "round_robin". */
static void
format_lb(Edge__V1__LbPolicy lb, char *buf, size_t len)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&edge__v1__lb_policy__descriptor, (int)lb);
    const char *name = v ? v->name : "?";
    if (strncmp(name, LB_PREFIX, strlen(LB_PREFIX)) == 0)
        name += strlen(LB_PREFIX);
    size_t i = 0;
    for (; name[i] && i + 1 < len; i++)
        buf[i] = (char)tolower((unsigned char)name[i]);
    buf[i] = '\0';
}

static void
free_targets(Edge__V1__Upstream *u)
{
    for (size_t i = 0; i < u->n_targets; i++)
        edge_pb_free(u->targets[i]);
    free(u->targets);
    u->targets = NULL;
    u->n_targets = 0;
}

static int
apply_upstream_flags(const struct ctl_cmd *cmd, const struct ctl_args *a, Edge__V1__Upstream *u)
{
    const char *v;
    int r;

    if ((v = ctl_args_get(a, "lb")) && parse_lb(v, &u->lb) < 0)
        return ctl_usage_error(cmd->name,
                               "--lb: unknown policy \"%s\" (round_robin, least_request, "
                               "consistent_hash, random)",
                               v);
    if ((r = ctl_flag_u32(cmd, a, "connect-timeout-ms", 0, 3600u * 1000, &u->connect_timeout_ms)) ||
        (r = ctl_flag_u32(cmd, a, "timeout-ms", 0, 3600u * 1000, &u->timeout_ms)) ||
        (r = ctl_flag_u32(cmd, a, "retries", 0, 10, &u->retries)) ||
        (r = ctl_flag_u32(cmd, a, "pool-size", 0, 100000, &u->pool_size)))
        return r;
    if (ctl_args_has(a, "tls") && ctl_args_has(a, "no-tls"))
        return ctl_usage_error(cmd->name, "--tls and --no-tls conflict");
    if (ctl_args_has(a, "tls"))
        u->tls = 1;
    if (ctl_args_has(a, "no-tls"))
        u->tls = 0;
    if ((v = ctl_args_get(a, "sni")))
        ctl_set_str(&u->sni, v);

    static const struct ctl_opt health_opts[] = {
        {"health-path", 0, 0},       {"health-interval-ms", 0, 0},  {"health-timeout-ms", 0, 0},
        {"healthy-threshold", 0, 0}, {"unhealthy-threshold", 0, 0}, {NULL, 0, 0},
    };
    bool any_health = false;
    for (const struct ctl_opt *o = health_opts; o->name; o++)
        any_health = any_health || ctl_args_has(a, o->name);
    if (any_health) {
        if (!u->health_check)
            u->health_check = edge_pb_new(&edge__v1__health_check__descriptor);
        Edge__V1__HealthCheck *h = u->health_check;
        if ((v = ctl_args_get(a, "health-path")))
            ctl_set_str(&h->path, v);
        if ((r = ctl_flag_u32(cmd, a, "health-interval-ms", 0, 3600u * 1000, &h->interval_ms)) ||
            (r = ctl_flag_u32(cmd, a, "health-timeout-ms", 0, 3600u * 1000, &h->timeout_ms)) ||
            (r = ctl_flag_u32(cmd, a, "healthy-threshold", 0, 1000, &h->healthy_threshold)) ||
            (r = ctl_flag_u32(cmd, a, "unhealthy-threshold", 0, 1000, &h->unhealthy_threshold)))
            return r;
    }

    if (ctl_args_has(a, "target")) {
        Edge__V1__Target **targets = NULL;
        size_t n = 0, cursor = 0;
        while ((v = ctl_args_next(a, "target", &cursor))) {
            if (ctl_parse_targets(v, &targets, &n) < 0) {
                for (size_t i = 0; i < n; i++)
                    edge_pb_free(targets[i]);
                free(targets);
                return ctl_usage_error(
                    cmd->name, "--target: bad target \"%s\" (expected HOST:PORT[,weight=W])", v);
            }
        }
        free_targets(u);
        u->targets = targets;
        u->n_targets = n;
    }
    return 0;
}

static int
upstream_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "upstream create",
        "Usage: edgectl upstream create NAME --target HOST:PORT[,weight=W]... [options]\n"
        "Creates an upstream (a named set of targets).\nOptions:\n" UPSTREAM_OPTIONS,
        upstream_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (!ctl_args_has(&a, "target"))
        r = ctl_usage_error(cmd.name, "upstream create: --target is required");
    else if (ctl_args_has(&a, "no-tls"))
        r = ctl_usage_error(cmd.name, "--no-tls is for upstream update");
    if (r != CTL_EXIT_OK) {
        ctl_args_done(&a);
        return r;
    }
    Edge__V1__Upstream *u = edge_pb_new(&edge__v1__upstream__descriptor);
    u->name = edge_pb_strdup(a.pos[0]);
    ProtobufCMessage *resp = NULL;
    r = apply_upstream_flags(&cmd, &a, u);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "CreateUpstream", &u->base, &edge__v1__upstream__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "upstream %s created", ((Edge__V1__Upstream *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(u);
    ctl_args_done(&a);
    return r;
}

static void
format_targets(const Edge__V1__Upstream *u, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < u->n_targets && off < len; i++) {
        const Edge__V1__Target *t = u->targets[i];
        bool v6 = strchr(t->host, ':') != NULL;
        int n = snprintf(buf + off, len - off, "%s%s%s%s:%u", i ? "," : "", v6 ? "[" : "", t->host,
                         v6 ? "]" : "", t->port);
        if (n > 0 && t->weight > 1 && off + (size_t)n < len)
            n += snprintf(buf + off + n, len - off - n, "(w=%u)", t->weight);
        off += n > 0 ? (size_t)n : 0;
    }
}

static int
upstream_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"upstream list", "Usage: edgectl upstream list\n", NULL, 0,
                                       0};
    static const char *const headers[] = {"NAME",   "LB",      "TARGETS", "TLS",
                                          "HEALTH", "CREATED", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ctl_args_done(&a);
    Edge__V1__ListUpstreamsRequest req = EDGE__V1__LIST_UPSTREAMS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListUpstreams", &req.base, &edge__v1__list_upstreams_response__descriptor,
                 &resp);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListUpstreamsResponse *list = (Edge__V1__ListUpstreamsResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->upstreams, list->n_upstreams) <
            0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_upstreams; i++) {
            const Edge__V1__Upstream *u = list->upstreams[i];
            char lb[32], targets[512], when[32];
            format_lb(u->lb, lb, sizeof(lb));
            format_targets(u, targets, sizeof(targets));
            ctl_fmt_time(u->created_at, ctx->now, when, sizeof(when));
            ctl_table_cell(t, u->name);
            ctl_table_cell(t, lb);
            ctl_table_cell(t, targets);
            ctl_table_cell(t, u->tls ? (u->sni[0] ? u->sni : "yes") : "no");
            ctl_table_cell(t, u->health_check ? u->health_check->path : NULL);
            ctl_table_cell(t, when);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
get_upstream(struct ctl_ctx *ctx, const char *name, ProtobufCMessage **ret)
{
    Edge__V1__GetUpstreamRequest req = EDGE__V1__GET_UPSTREAM_REQUEST__INIT;
    req.name = (char *)name;
    return ctl_call(ctx, "GetUpstream", &req.base, &edge__v1__upstream__descriptor, ret);
}

static int
upstream_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"upstream get", "Usage: edgectl upstream get NAME\n", NULL,
                                       1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ProtobufCMessage *resp = NULL;
    r = get_upstream(ctx, a.pos[0], &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
upstream_update(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"upstream update",
                                       "Usage: edgectl upstream update NAME [options]\n"
                                       "Changes the given fields of an upstream.\n"
                                       "Options:\n" UPSTREAM_OPTIONS,
                                       upstream_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (!ctl_args_any(&a, upstream_opts)) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "upstream update: nothing to change");
    }
    ProtobufCMessage *cur = NULL, *resp = NULL;
    /* Flags are checked on a scratch upstream first, so that a bad one exits 2 before any
     * call. */
    Edge__V1__Upstream *scratch = edge_pb_new(&edge__v1__upstream__descriptor);
    r = apply_upstream_flags(&cmd, &a, scratch);
    edge_pb_free(scratch);
    if (r == CTL_EXIT_OK)
        r = get_upstream(ctx, a.pos[0], &cur);
    if (r == CTL_EXIT_OK)
        r = apply_upstream_flags(&cmd, &a, (Edge__V1__Upstream *)cur);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "UpdateUpstream", cur, &edge__v1__upstream__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "upstream %s updated", ((Edge__V1__Upstream *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(cur);
    ctl_args_done(&a);
    return r;
}

static int
upstream_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"upstream delete", "Usage: edgectl upstream delete NAME\n",
                                       NULL, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DeleteUpstreamRequest req = EDGE__V1__DELETE_UPSTREAM_REQUEST__INIT;
    req.name = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "DeleteUpstream", &req.base, &edge__v1__delete_response__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "upstream %s deleted", a.pos[0]);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

int
ctl_cmd_upstream(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"create", upstream_create}, {"list", upstream_list},     {"get", upstream_get},
        {"update", upstream_update}, {"delete", upstream_delete}, {NULL, NULL},
    };
    return ctl_dispatch(ctx, "upstream", upstream_usage, verbs, argc, argv);
}
