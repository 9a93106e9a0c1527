/* edgectl deploy, deployment list|get, stage create|list|get|update|delete|promote-canary */
#include "ctl.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deploy ---------------------------------------------------------------------------- */

int
ctl_cmd_deploy(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt opts[] = {{"stage", 0, CTL_OPT_ARG},
                                          {"description", 0, CTL_OPT_ARG},
                                          {"canary-percent", 0, CTL_OPT_ARG},
                                          {"canary-sticky", 0, 0},
                                          {NULL, 0, 0}};
    static const struct ctl_cmd cmd = {
        "deploy",
        "Usage: edgectl deploy API --stage S [--description D]\n"
        "                      [--canary-percent P [--canary-sticky]]\n"
        "Freezes API's current routes into a new deployment, points stage S at it (creating\n"
        "the stage if needed) and prints the deployment id.\n"
        "With --canary-percent P (0 < P <= 100) the stage keeps its deployment and the new one\n"
        "becomes its canary, answering P % of requests (--canary-sticky: by client address, so\n"
        "a client stays on one side); `edgectl stage promote-canary` makes it the deployment.\n"
        "Upstreams see which deployment answered in the X-Edge-Deployment request header.\n",
        opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (!ctl_args_get(&a, "stage")) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "deploy: --stage is required");
    }
    Edge__V1__CreateDeploymentRequest req = EDGE__V1__CREATE_DEPLOYMENT_REQUEST__INIT;
    req.api = a.pos[0];
    req.stage = (char *)ctl_args_get(&a, "stage");
    if (ctl_args_get(&a, "description"))
        req.description = (char *)ctl_args_get(&a, "description");
    if ((r = ctl_flag_double(&cmd, &a, "canary-percent", 0, 100, &req.canary_percent)) != 0) {
        ctl_args_done(&a);
        return r;
    }
    if (ctl_args_has(&a, "canary-percent") && req.canary_percent <= 0) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "--canary-percent: must be above 0");
    }
    req.canary_sticky = ctl_args_has(&a, "canary-sticky");
    if (req.canary_sticky && !ctl_args_has(&a, "canary-percent")) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "--canary-sticky needs --canary-percent");
    }
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "CreateDeployment", &req.base, &edge__v1__deployment__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_done(ctx, resp, ((Edge__V1__Deployment *)resp)->id);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

/* ---- deployment ------------------------------------------------------------------------ */

static const char deployment_usage[] = "Usage: edgectl deployment list API\n"
                                       "       edgectl deployment get API ID\n";

static int
deployment_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"deployment list", "Usage: edgectl deployment list API\n",
                                       NULL, 1, 1};
    static const char *const headers[] = {"ID", "REVISION", "DESCRIPTION", "CREATED", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListDeploymentsRequest req = EDGE__V1__LIST_DEPLOYMENTS_REQUEST__INIT;
    req.api = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListDeployments", &req.base,
                 &edge__v1__list_deployments_response__descriptor, &resp);
    ctl_args_done(&a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListDeploymentsResponse *list = (Edge__V1__ListDeploymentsResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->deployments,
                                list->n_deployments) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_deployments; i++) {
            const Edge__V1__Deployment *d = list->deployments[i];
            char when[32];
            ctl_fmt_time(d->created_at, ctx->now, when, sizeof(when));
            ctl_table_cell(t, d->id);
            ctl_table_cellf(t, "%llu", (unsigned long long)d->revision);
            ctl_table_cell(t, d->description);
            ctl_table_cell(t, when);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
deployment_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"deployment get", "Usage: edgectl deployment get API ID\n",
                                       NULL, 2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__GetDeploymentRequest req = EDGE__V1__GET_DEPLOYMENT_REQUEST__INIT;
    req.api = a.pos[0];
    req.id = a.pos[1];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "GetDeployment", &req.base, &edge__v1__deployment__descriptor, &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

int
ctl_cmd_deployment(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"list", deployment_list}, {"get", deployment_get}, {NULL, NULL}};
    return ctl_dispatch(ctx, "deployment", deployment_usage, verbs, argc, argv);
}

/* ---- stage ----------------------------------------------------------------------------- */

#define STAGE_OPTIONS                                                                              \
    "  --deployment ID     the deployment the stage serves (update: rollback or forward)\n"        \
    "  --var k=v           a stage variable (repeatable): ${stageVariables.k} in a route's\n"      \
    "                      --upstream-path (undefined in a stage: its requests get 500)\n"         \
    "  --unset-var k       remove a stage variable (update only, repeatable)\n"                    \
    "  --rate R --burst B  default throttle for every caller, requests per second\n"               \
    "  --canary-deployment ID  a second deployment of the API that answers a share of requests\n"  \
    "  --canary-percent P  that share, 0..100 (uniform per request)\n"                             \
    "  --canary-sticky     pick the side by client address instead (--no-canary-sticky: undo)\n"   \
    "  --no-canary         remove the canary (update only)\n"                                      \
    "  --description D\n"

static const char stage_usage[] =
    "Usage: edgectl stage create API NAME [--deployment ID] [--var k=v]... [--rate R --burst B]\n"
    "                            [--description D]\n"
    "       edgectl stage list API\n"
    "       edgectl stage get API NAME\n"
    "       edgectl stage update API NAME [--deployment ID] [--var k=v]... [--unset-var k]...\n"
    "                            [--rate R --burst B] [--description D]\n"
    "       edgectl stage delete API NAME\n"
    "       edgectl stage promote-canary API NAME\n"
    "Options:\n" STAGE_OPTIONS;

static const struct ctl_opt stage_opts[] = {
    {"deployment", 0, CTL_OPT_ARG},
    {"var", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"unset-var", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"rate", 0, CTL_OPT_ARG},
    {"burst", 0, CTL_OPT_ARG},
    {"description", 0, CTL_OPT_ARG},
    {"canary-deployment", 0, CTL_OPT_ARG},
    {"canary-percent", 0, CTL_OPT_ARG},
    {"canary-sticky", 0, 0},
    {"no-canary-sticky", 0, 0},
    {"no-canary", 0, 0},
    {NULL, 0, 0},
};

static Edge__V1__Stage__VariablesEntry *
find_var(Edge__V1__Stage *s, const char *key, size_t *ret_index)
{
    for (size_t i = 0; i < s->n_variables; i++) {
        if (strcmp(s->variables[i]->key, key) == 0) {
            *ret_index = i;
            return s->variables[i];
        }
    }
    return NULL;
}

/* Sets key to value (both taken). */
static void
set_var(Edge__V1__Stage *s, char *key, char *value)
{
    size_t i;
    Edge__V1__Stage__VariablesEntry *e = find_var(s, key, &i);
    if (e) {
        if (e->value != protobuf_c_empty_string)
            free(e->value);
        e->value = value;
        if (key != protobuf_c_empty_string)
            free(key);
        return;
    }
    e = edge_pb_new(&edge__v1__stage__variables_entry__descriptor);
    e->key = key;
    e->value = value;
    edge_pb_append((void ***)&s->variables, &s->n_variables, e);
}

static void
unset_var(Edge__V1__Stage *s, const char *key)
{
    size_t i;
    Edge__V1__Stage__VariablesEntry *e = find_var(s, key, &i);
    if (!e)
        return; /* already absent: unsetting is idempotent */
    edge_pb_free(e);
    memmove(&s->variables[i], &s->variables[i + 1],
            (s->n_variables - i - 1) * sizeof(*s->variables));
    s->n_variables--;
}

/* --canary-* and --no-canary into s->canary. */
static int
apply_canary_flags(const struct ctl_cmd *cmd, const struct ctl_args *a, Edge__V1__Stage *s)
{
    bool any = ctl_args_has(a, "canary-deployment") || ctl_args_has(a, "canary-percent") ||
               ctl_args_has(a, "canary-sticky") || ctl_args_has(a, "no-canary-sticky");
    double percent = 0;
    int r;

    if (ctl_args_has(a, "no-canary")) {
        if (any)
            return ctl_usage_error(cmd->name, "--no-canary goes alone, without --canary-*");
        s->canary = edge_pb_free(s->canary);
        return 0;
    }
    if (ctl_args_has(a, "canary-sticky") && ctl_args_has(a, "no-canary-sticky"))
        return ctl_usage_error(cmd->name, "--canary-sticky or --no-canary-sticky, not both");
    if (!any)
        return 0;
    if ((r = ctl_flag_double(cmd, a, "canary-percent", 0, 100, &percent)) != 0)
        return r;
    if (!s->canary)
        s->canary = edge_pb_new(&edge__v1__canary__descriptor);
    if (ctl_args_has(a, "canary-deployment"))
        ctl_set_str(&s->canary->deployment_id, ctl_args_get(a, "canary-deployment"));
    if (ctl_args_has(a, "canary-percent"))
        s->canary->percent = percent;
    if (ctl_args_has(a, "canary-sticky"))
        s->canary->sticky = true;
    if (ctl_args_has(a, "no-canary-sticky"))
        s->canary->sticky = false;
    return 0;
}

static int
apply_stage_flags(const struct ctl_cmd *cmd, const struct ctl_args *a, Edge__V1__Stage *s)
{
    const char *v;
    size_t cursor = 0;
    int r;

    if ((v = ctl_args_get(a, "deployment")))
        ctl_set_str(&s->deployment_id, v);
    if ((v = ctl_args_get(a, "description")))
        ctl_set_str(&s->description, v);
    if ((r = ctl_flag_throttle(cmd, a, &s->throttle)))
        return r;
    if ((r = apply_canary_flags(cmd, a, s)))
        return r;
    /* Validate every --var before changing anything. */
    while ((v = ctl_args_next(a, "var", &cursor)))
        if (!strchr(v, '=') || v[0] == '=')
            return ctl_usage_error(cmd->name, "--var: bad variable \"%s\" (expected k=v)", v);
    cursor = 0;
    while ((v = ctl_args_next(a, "unset-var", &cursor)))
        unset_var(s, v);
    cursor = 0;
    while ((v = ctl_args_next(a, "var", &cursor))) {
        char *key, *value;
        (void)ctl_parse_kv(v, &key, &value); /* checked above */
        set_var(s, key, value);
    }
    return 0;
}

static int
stage_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"stage create",
                                       "Usage: edgectl stage create API NAME [options]\n"
                                       "Creates a stage of API.\nOptions:\n" STAGE_OPTIONS,
                                       stage_opts, 2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (ctl_args_has(&a, "unset-var") || ctl_args_has(&a, "no-canary")) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "--unset-var and --no-canary are for stage update");
    }
    Edge__V1__Stage *s = edge_pb_new(&edge__v1__stage__descriptor);
    s->api = edge_pb_strdup(a.pos[0]);
    s->name = edge_pb_strdup(a.pos[1]);
    ProtobufCMessage *resp = NULL;
    r = apply_stage_flags(&cmd, &a, s);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "CreateStage", &s->base, &edge__v1__stage__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "stage %s/%s created", ((Edge__V1__Stage *)resp)->api,
                 ((Edge__V1__Stage *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(s);
    ctl_args_done(&a);
    return r;
}

static int
stage_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"stage list", "Usage: edgectl stage list API\n", NULL, 1, 1};
    static const char *const headers[] = {"NAME",   "DEPLOYMENT",  "VARIABLES", "THROTTLE",
                                          "CANARY", "DESCRIPTION", "UPDATED",   NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListStagesRequest req = EDGE__V1__LIST_STAGES_REQUEST__INIT;
    req.api = a.pos[0];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListStages", &req.base, &edge__v1__list_stages_response__descriptor, &resp);
    ctl_args_done(&a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListStagesResponse *list = (Edge__V1__ListStagesResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->stages, list->n_stages) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_stages; i++) {
            const Edge__V1__Stage *s = list->stages[i];
            char vars[512] = "", throttle[64] = "", canary[64] = "", when[32];
            size_t off = 0;
            for (size_t v = 0; v < s->n_variables && off < sizeof(vars); v++) {
                int n = snprintf(vars + off, sizeof(vars) - off, "%s%s=%s", v ? "," : "",
                                 s->variables[v]->key, s->variables[v]->value);
                off += n > 0 ? (size_t)n : 0;
            }
            if (s->throttle)
                snprintf(throttle, sizeof(throttle), "%g/s burst %u", s->throttle->rate,
                         s->throttle->burst);
            if (s->canary && s->canary->deployment_id[0])
                snprintf(canary, sizeof(canary), "%s %g%%%s", s->canary->deployment_id,
                         s->canary->percent, s->canary->sticky ? " sticky" : "");
            ctl_fmt_time(s->updated_at, ctx->now, when, sizeof(when));
            ctl_table_cell(t, s->name);
            ctl_table_cell(t, s->deployment_id);
            ctl_table_cell(t, vars);
            ctl_table_cell(t, throttle);
            ctl_table_cell(t, canary);
            ctl_table_cell(t, s->description);
            ctl_table_cell(t, when);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
get_stage(struct ctl_ctx *ctx, const char *api, const char *name, ProtobufCMessage **ret)
{
    Edge__V1__GetStageRequest req = EDGE__V1__GET_STAGE_REQUEST__INIT;
    req.api = (char *)api;
    req.name = (char *)name;
    return ctl_call(ctx, "GetStage", &req.base, &edge__v1__stage__descriptor, ret);
}

static int
stage_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"stage get", "Usage: edgectl stage get API NAME\n", NULL, 2,
                                       2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ProtobufCMessage *resp = NULL;
    r = get_stage(ctx, a.pos[0], a.pos[1], &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
stage_update(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"stage update",
                                       "Usage: edgectl stage update API NAME [options]\n"
                                       "Changes the given fields of a stage; --deployment ID\n"
                                       "rolls it back (or forward) to that deployment.\n"
                                       "Options:\n" STAGE_OPTIONS,
                                       stage_opts, 2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (!ctl_args_any(&a, stage_opts)) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "stage update: nothing to change");
    }
    ProtobufCMessage *cur = NULL, *resp = NULL;
    /* Flags are checked on a scratch stage first, as route update does. */
    Edge__V1__Stage *scratch = edge_pb_new(&edge__v1__stage__descriptor);
    scratch->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    r = apply_stage_flags(&cmd, &a, scratch);
    edge_pb_free(scratch);
    if (r == CTL_EXIT_OK)
        r = get_stage(ctx, a.pos[0], a.pos[1], &cur);
    if (r == CTL_EXIT_OK)
        r = apply_stage_flags(&cmd, &a, (Edge__V1__Stage *)cur);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "UpdateStage", cur, &edge__v1__stage__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "stage %s/%s updated", ((Edge__V1__Stage *)resp)->api,
                 ((Edge__V1__Stage *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(cur);
    ctl_args_done(&a);
    return r;
}

static int
stage_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"stage delete", "Usage: edgectl stage delete API NAME\n",
                                       NULL, 2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DeleteStageRequest req = EDGE__V1__DELETE_STAGE_REQUEST__INIT;
    req.api = a.pos[0];
    req.name = a.pos[1];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "DeleteStage", &req.base, &edge__v1__delete_response__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "stage %s/%s deleted", a.pos[0], a.pos[1]);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
stage_promote_canary(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {
        "stage promote-canary",
        "Usage: edgectl stage promote-canary API NAME\n"
        "Makes the stage's canary deployment its deployment and removes the canary, in one\n"
        "change: every node moves all traffic to it at once.\n",
        NULL, 2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__PromoteCanaryRequest req = EDGE__V1__PROMOTE_CANARY_REQUEST__INIT;
    req.api = a.pos[0];
    req.stage = a.pos[1];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "PromoteCanary", &req.base, &edge__v1__stage__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        const Edge__V1__Stage *g = (const Edge__V1__Stage *)resp;
        char line[256];
        snprintf(line, sizeof(line), "stage %s/%s now serves %s", g->api, g->name,
                 g->deployment_id);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

int
ctl_cmd_stage(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"create", stage_create},
        {"list", stage_list},
        {"get", stage_get},
        {"update", stage_update},
        {"delete", stage_delete},
        {"promote-canary", stage_promote_canary},
        {NULL, NULL},
    };
    return ctl_dispatch(ctx, "stage", stage_usage, verbs, argc, argv);
}
