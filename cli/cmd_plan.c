/* edgectl plan create|list|get|update|delete|add-key|remove-key, and edgectl usage. */
#include "cmd_key.h"
#include "edge/v1/admin.pb-c.h"
#include "pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PLAN_OPTIONS                                                                               \
    "  --rate R --burst B         throttle per key: R requests per second, bursts of B\n"          \
    "  --quota N/day|week|month   at most N requests per key and period (UTC; weeks start\n"       \
    "                             on Monday)\n"                                                    \
    "  --stage API:STAGE          an API stage the plan covers (repeatable)\n"                     \
    "  --route-throttle API:STAGE:METHOD:PATH=R/B\n"                                               \
    "                             a throttle for one route of a covered stage (repeatable)\n"      \
    "  --description D\n"
#define PLAN_UPDATE_OPTIONS                                                                        \
    "  --remove-stage API:STAGE, --remove-route-throttle API:STAGE:METHOD:PATH (repeatable)\n"     \
    "  --no-throttle, --no-quota  drop the plan's throttle or quota\n"

static const char plan_usage[] =
    "Usage: edgectl plan create NAME [--rate R --burst B] [--quota N/day|week|month]\n"
    "                        [--stage API:STAGE]... [--route-throttle "
    "API:STAGE:METHOD:PATH=R/B]...\n"
    "                        [--description D]\n"
    "       edgectl plan list\n"
    "       edgectl plan get NAME\n"
    "       edgectl plan update NAME [create's options] [--remove-stage API:STAGE]...\n"
    "                        [--remove-route-throttle API:STAGE:METHOD:PATH]... [--no-throttle]\n"
    "                        [--no-quota]\n"
    "       edgectl plan delete NAME [--force]\n"
    "       edgectl plan add-key PLAN KEY\n"
    "       edgectl plan remove-key PLAN KEY\n"
    "A key may be in several plans but in at most one plan per API stage. delete is refused\n"
    "while keys subscribe; --force unsubscribes them.\n"
    "Options:\n" PLAN_OPTIONS PLAN_UPDATE_OPTIONS;

static const struct ctl_opt plan_opts[] = {
    {"rate", 0, CTL_OPT_ARG},
    {"burst", 0, CTL_OPT_ARG},
    {"quota", 0, CTL_OPT_ARG},
    {"stage", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"route-throttle", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"description", 0, CTL_OPT_ARG},
    {"remove-stage", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"remove-route-throttle", 0, CTL_OPT_ARG | CTL_OPT_MULTI},
    {"no-throttle", 0, 0},
    {"no-quota", 0, 0},
    {NULL, 0, 0},
};

/* "N/day|week|month" */
static int
parse_quota(const char *s, Edge__V1__Quota **ret)
{
    const char *slash = strchr(s, '/');
    char num[32];
    uint64_t limit;
    Edge__V1__QuotaPeriod period;

    if (!slash || (size_t)(slash - s) >= sizeof(num))
        return -EINVAL;
    memcpy(num, s, (size_t)(slash - s));
    num[slash - s] = '\0';
    if (ctl_parse_u64(num, 1, 1000000000000ull, &limit) < 0)
        return -EINVAL;
    if (strcmp(slash + 1, "day") == 0)
        period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY;
    else if (strcmp(slash + 1, "week") == 0)
        period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK;
    else if (strcmp(slash + 1, "month") == 0)
        period = EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH;
    else
        return -EINVAL;
    Edge__V1__Quota *q = edge_pb_new(&edge__v1__quota__descriptor);
    q->limit = limit;
    q->period = period;
    *ret = q;
    return 0;
}

/* Splits s at its first n ':' into owned strings parts[0..n] (the last is the rest). */
static int
split_colons(const char *s, size_t n, char **parts)
{
    const char *p = s;

    for (size_t i = 0; i < n; i++) {
        const char *c = strchr(p, ':');
        if (!c || c == p) {
            for (size_t j = 0; j < i; j++)
                free(parts[j]);
            return -EINVAL;
        }
        parts[i] = strndup(p, (size_t)(c - p));
        p = c + 1;
    }
    parts[n] = strdup(p);
    return 0;
}

static void
set_owned(char **field, char *v)
{
    if (*field && *field != protobuf_c_empty_string)
        free(*field);
    *field = v;
}

/* "API:STAGE" */
static int
parse_stage(const char *s, Edge__V1__PlanStage **ret)
{
    char *parts[2];

    if (split_colons(s, 1, parts) < 0)
        return -EINVAL;
    if (!*parts[1] || strchr(parts[1], ':')) {
        free(parts[0]);
        free(parts[1]);
        return -EINVAL;
    }
    Edge__V1__PlanStage *ps = edge_pb_new(&edge__v1__plan_stage__descriptor);
    set_owned(&ps->api, parts[0]);
    set_owned(&ps->stage, parts[1]);
    *ret = ps;
    return 0;
}

/* "API:STAGE:METHOD:PATH" (with_throttle: then "=R/B"). The path runs to the last '='. */
static int
parse_route_throttle(const char *s, bool with_throttle, Edge__V1__RouteThrottle **ret)
{
    char *parts[4];
    double rate = 0;
    uint32_t burst = 0;

    if (split_colons(s, 3, parts) < 0)
        return -EINVAL;
    if (with_throttle) {
        char *eq = strrchr(parts[3], '=');
        char *slash = eq ? strchr(eq, '/') : NULL;
        if (slash)
            *slash = '\0';
        if (!eq || !slash || ctl_parse_double(eq + 1, 0, 1e9, &rate) < 0 ||
            ctl_parse_u32(slash + 1, 0, 1000000000u, &burst) < 0) {
            for (int i = 0; i < 4; i++)
                free(parts[i]);
            return -EINVAL;
        }
        *eq = '\0';
    }
    if (!*parts[3]) {
        for (int i = 0; i < 4; i++)
            free(parts[i]);
        return -EINVAL;
    }
    Edge__V1__RouteThrottle *t = edge_pb_new(&edge__v1__route_throttle__descriptor);
    set_owned(&t->api, parts[0]);
    set_owned(&t->stage, parts[1]);
    set_owned(&t->method, parts[2]);
    set_owned(&t->path, parts[3]);
    if (with_throttle) {
        t->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
        t->throttle->rate = rate;
        t->throttle->burst = burst;
    }
    *ret = t;
    return 0;
}

static bool
same_stage(const Edge__V1__PlanStage *a, const Edge__V1__PlanStage *b)
{
    return strcmp(a->api, b->api) == 0 && strcmp(a->stage, b->stage) == 0;
}

static bool
same_route(const Edge__V1__RouteThrottle *a, const Edge__V1__RouteThrottle *b)
{
    return strcmp(a->api, b->api) == 0 && strcmp(a->stage, b->stage) == 0 &&
           strcmp(a->method, b->method) == 0 && strcmp(a->path, b->path) == 0;
}

/* Removes element i of an owned message array. */
static void
remove_at(void **arr, size_t *n, size_t i)
{
    edge_pb_free(arr[i]);
    memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(*arr));
    (*n)--;
}

static int
apply_plan_flags(const struct ctl_cmd *cmd, const struct ctl_args *a, Edge__V1__UsagePlan *p)
{
    const char *v;
    size_t cursor;
    int r;

    if ((v = ctl_args_get(a, "description")))
        ctl_set_str(&p->description, v);
    if (ctl_args_has(a, "no-throttle")) {
        if (ctl_args_has(a, "rate") || ctl_args_has(a, "burst"))
            return ctl_usage_error(cmd->name, "--no-throttle conflicts with --rate/--burst");
        edge_pb_free(p->throttle);
        p->throttle = NULL;
    }
    if ((r = ctl_flag_throttle(cmd, a, &p->throttle)))
        return r;
    if (ctl_args_has(a, "no-quota")) {
        if (ctl_args_has(a, "quota"))
            return ctl_usage_error(cmd->name, "--no-quota conflicts with --quota");
        edge_pb_free(p->quota);
        p->quota = NULL;
    }
    if ((v = ctl_args_get(a, "quota"))) {
        Edge__V1__Quota *q;
        if (parse_quota(v, &q) < 0)
            return ctl_usage_error(cmd->name,
                                   "--quota: bad quota \"%s\" (expected N/day, N/week or "
                                   "N/month, N 1..1000000000000)",
                                   v);
        edge_pb_free(p->quota);
        p->quota = q;
    }
    cursor = 0;
    while ((v = ctl_args_next(a, "remove-stage", &cursor))) {
        Edge__V1__PlanStage *ps;
        if (parse_stage(v, &ps) < 0)
            return ctl_usage_error(cmd->name, "--remove-stage: bad stage \"%s\" (API:STAGE)", v);
        for (size_t i = 0; i < p->n_stages; i++)
            if (same_stage(p->stages[i], ps)) {
                remove_at((void **)p->stages, &p->n_stages, i);
                break;
            }
        /* Route throttles of a stage the plan no longer covers go with it. */
        for (size_t i = p->n_route_throttles; i-- > 0;)
            if (strcmp(p->route_throttles[i]->api, ps->api) == 0 &&
                strcmp(p->route_throttles[i]->stage, ps->stage) == 0)
                remove_at((void **)p->route_throttles, &p->n_route_throttles, i);
        edge_pb_free(ps);
    }
    cursor = 0;
    while ((v = ctl_args_next(a, "stage", &cursor))) {
        Edge__V1__PlanStage *ps;
        if (parse_stage(v, &ps) < 0)
            return ctl_usage_error(cmd->name, "--stage: bad stage \"%s\" (expected API:STAGE)", v);
        bool dup = false;
        for (size_t i = 0; i < p->n_stages && !dup; i++)
            dup = same_stage(p->stages[i], ps);
        if (dup)
            edge_pb_free(ps);
        else
            edge_pb_append((void ***)&p->stages, &p->n_stages, ps);
    }
    cursor = 0;
    while ((v = ctl_args_next(a, "remove-route-throttle", &cursor))) {
        Edge__V1__RouteThrottle *t;
        if (parse_route_throttle(v, false, &t) < 0)
            return ctl_usage_error(cmd->name,
                                   "--remove-route-throttle: bad route \"%s\" "
                                   "(API:STAGE:METHOD:PATH)",
                                   v);
        for (size_t i = 0; i < p->n_route_throttles; i++)
            if (same_route(p->route_throttles[i], t)) {
                remove_at((void **)p->route_throttles, &p->n_route_throttles, i);
                break;
            }
        edge_pb_free(t);
    }
    cursor = 0;
    while ((v = ctl_args_next(a, "route-throttle", &cursor))) {
        Edge__V1__RouteThrottle *t;
        if (parse_route_throttle(v, true, &t) < 0)
            return ctl_usage_error(cmd->name,
                                   "--route-throttle: bad throttle \"%s\" (expected "
                                   "API:STAGE:METHOD:PATH=RATE/BURST)",
                                   v);
        bool replaced = false;
        for (size_t i = 0; i < p->n_route_throttles && !replaced; i++) {
            if (same_route(p->route_throttles[i], t)) {
                edge_pb_free(p->route_throttles[i]);
                p->route_throttles[i] = t;
                replaced = true;
            }
        }
        if (!replaced)
            edge_pb_append((void ***)&p->route_throttles, &p->n_route_throttles, t);
    }
    return 0;
}

static int
plan_create(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"plan create",
                                       "Usage: edgectl plan create NAME [options]\n"
                                       "Creates a usage plan.\nOptions:\n" PLAN_OPTIONS,
                                       plan_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (ctl_args_has(&a, "remove-stage") || ctl_args_has(&a, "remove-route-throttle") ||
        ctl_args_has(&a, "no-throttle") || ctl_args_has(&a, "no-quota")) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "--remove-*/--no-* are for plan update");
    }
    Edge__V1__UsagePlan *p = edge_pb_new(&edge__v1__usage_plan__descriptor);
    p->name = edge_pb_strdup(a.pos[0]);
    ProtobufCMessage *resp = NULL;
    r = apply_plan_flags(&cmd, &a, p);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "CreateUsagePlan", &p->base, &edge__v1__usage_plan__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[160];
        snprintf(line, sizeof(line), "plan %s created", ((Edge__V1__UsagePlan *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(p);
    ctl_args_done(&a);
    return r;
}

static const char *
period_name(Edge__V1__QuotaPeriod p)
{
    switch (p) {
    case EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY:
        return "day";
    case EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK:
        return "week";
    case EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH:
        return "month";
    default:
        return "?";
    }
}

static int
plan_list(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"plan list", "Usage: edgectl plan list\n", NULL, 0, 0};
    static const char *const headers[] = {
        "NAME", "THROTTLE", "QUOTA", "STAGES", "ROUTE THROTTLES", "DESCRIPTION", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListUsagePlansRequest req = EDGE__V1__LIST_USAGE_PLANS_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "ListUsagePlans", &req.base, &edge__v1__list_usage_plans_response__descriptor,
                 &resp);
    ctl_args_done(&a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__ListUsagePlansResponse *list = (Edge__V1__ListUsagePlansResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        if (ctl_print_json_list(stdout, (ProtobufCMessage **)list->plans, list->n_plans) < 0)
            r = CTL_EXIT_FAIL;
    } else {
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < list->n_plans; i++) {
            const Edge__V1__UsagePlan *p = list->plans[i];
            char throttle[64] = "", quota[64] = "", stages[512] = "";
            size_t off = 0;
            if (p->throttle)
                snprintf(throttle, sizeof(throttle), "%g/s burst %u", p->throttle->rate,
                         p->throttle->burst);
            if (p->quota)
                snprintf(quota, sizeof(quota), "%llu/%s", (unsigned long long)p->quota->limit,
                         period_name(p->quota->period));
            for (size_t s = 0; s < p->n_stages && off < sizeof(stages); s++) {
                int n = snprintf(stages + off, sizeof(stages) - off, "%s%s:%s", s ? "," : "",
                                 p->stages[s]->api, p->stages[s]->stage);
                off += n > 0 ? (size_t)n : 0;
            }
            ctl_table_cell(t, p->name);
            ctl_table_cell(t, throttle);
            ctl_table_cell(t, quota);
            ctl_table_cell(t, stages);
            ctl_table_cellf(t, "%zu", p->n_route_throttles);
            ctl_table_cell(t, p->description);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}

static int
get_plan(struct ctl_ctx *ctx, const char *name, ProtobufCMessage **ret)
{
    Edge__V1__GetUsagePlanRequest req = EDGE__V1__GET_USAGE_PLAN_REQUEST__INIT;
    req.name = (char *)name;
    return ctl_call(ctx, "GetUsagePlan", &req.base, &edge__v1__usage_plan__descriptor, ret);
}

static int
plan_get(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"plan get", "Usage: edgectl plan get NAME\n", NULL, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    ProtobufCMessage *resp = NULL;
    r = get_plan(ctx, a.pos[0], &resp);
    if (r == CTL_EXIT_OK)
        r = ctl_print_object(ctx, resp);
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
plan_update(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_cmd cmd = {"plan update",
                                       "Usage: edgectl plan update NAME [options]\n"
                                       "Changes the given fields of a plan.\n"
                                       "Options:\n" PLAN_OPTIONS PLAN_UPDATE_OPTIONS,
                                       plan_opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    if (!ctl_args_any(&a, plan_opts)) {
        ctl_args_done(&a);
        return ctl_usage_error(cmd.name, "plan update: nothing to change");
    }
    ProtobufCMessage *cur = NULL, *resp = NULL;
    /* Flags are checked on a scratch plan before anything is fetched. */
    Edge__V1__UsagePlan *scratch = edge_pb_new(&edge__v1__usage_plan__descriptor);
    scratch->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    r = apply_plan_flags(&cmd, &a, scratch);
    edge_pb_free(scratch);
    if (r == CTL_EXIT_OK)
        r = get_plan(ctx, a.pos[0], &cur);
    if (r == CTL_EXIT_OK)
        r = apply_plan_flags(&cmd, &a, (Edge__V1__UsagePlan *)cur);
    if (r == CTL_EXIT_OK)
        r = ctl_call(ctx, "UpdateUsagePlan", cur, &edge__v1__usage_plan__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[160];
        snprintf(line, sizeof(line), "plan %s updated", ((Edge__V1__UsagePlan *)resp)->name);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    edge_pb_free(cur);
    ctl_args_done(&a);
    return r;
}

static int
plan_delete(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt opts[] = {{"force", 0, 0}, {NULL, 0, 0}};
    static const struct ctl_cmd cmd = {
        "plan delete",
        "Usage: edgectl plan delete NAME [--force]\n"
        "Refused while keys subscribe to the plan; --force unsubscribes them (the keys stay).\n",
        opts, 1, 1};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__DeleteUsagePlanRequest req = EDGE__V1__DELETE_USAGE_PLAN_REQUEST__INIT;
    req.name = a.pos[0];
    req.force = ctl_args_has(&a, "force");
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "DeleteUsagePlan", &req.base, &edge__v1__delete_response__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[160];
        snprintf(line, sizeof(line), "plan %s deleted", a.pos[0]);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
plan_key(struct ctl_ctx *ctx, int argc, char **argv, bool add)
{
    static const struct ctl_cmd add_cmd = {"plan add-key",
                                           "Usage: edgectl plan add-key PLAN KEY\n"
                                           "Subscribes KEY (id or name) to PLAN.\n",
                                           NULL, 2, 2};
    static const struct ctl_cmd remove_cmd = {
        "plan remove-key", "Usage: edgectl plan remove-key PLAN KEY\n", NULL, 2, 2};
    struct ctl_args a;
    int r = ctl_begin(ctx, add ? &add_cmd : &remove_cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__PlanKeyRequest req = EDGE__V1__PLAN_KEY_REQUEST__INIT;
    req.plan = a.pos[0];
    req.key = a.pos[1];
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, add ? "AddPlanKey" : "RemovePlanKey", &req.base,
                 &edge__v1__api_key__descriptor, &resp);
    if (r == CTL_EXIT_OK) {
        char line[256];
        snprintf(line, sizeof(line), "key %s %s plan %s", ((Edge__V1__ApiKey *)resp)->name,
                 add ? "added to" : "removed from", a.pos[0]);
        r = ctl_print_done(ctx, resp, line);
    }
    edge_pb_free(resp);
    ctl_args_done(&a);
    return r;
}

static int
plan_add_key(struct ctl_ctx *ctx, int argc, char **argv)
{
    return plan_key(ctx, argc, argv, true);
}

static int
plan_remove_key(struct ctl_ctx *ctx, int argc, char **argv)
{
    return plan_key(ctx, argc, argv, false);
}

int
ctl_cmd_plan(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_verb verbs[] = {
        {"create", plan_create},
        {"list", plan_list},
        {"get", plan_get},
        {"update", plan_update},
        {"delete", plan_delete},
        {"add-key", plan_add_key},
        {"remove-key", plan_remove_key},
        {NULL, NULL},
    };
    return ctl_dispatch(ctx, "plan", plan_usage, verbs, argc, argv);
}

/* ---- usage ----------------------------------------------------------------------------- */

int
ctl_cmd_usage(struct ctl_ctx *ctx, int argc, char **argv)
{
    static const struct ctl_opt opts[] = {
        {"key", 0, CTL_OPT_ARG}, {"from", 0, CTL_OPT_ARG}, {"to", 0, CTL_OPT_ARG}, {NULL, 0, 0}};
    static const struct ctl_cmd cmd = {
        "usage",
        "Usage: edgectl usage PLAN [--key K] [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
        "Requests per key and day (UTC) as the nodes reported them, and the quota left in\n"
        "each day's period. Default: the 30 days up to today, at most 366 days.\n",
        opts, 1, 1};
    static const char *const headers[] = {"KEY", "ID", "DAY", "COUNT", "REMAINING", NULL};
    struct ctl_args a;
    int r = ctl_begin(ctx, &cmd, argc, argv, &a);
    if (r != CTL_EXIT_OK)
        return r;
    Edge__V1__GetUsageRequest req = EDGE__V1__GET_USAGE_REQUEST__INIT;
    req.plan = a.pos[0];
    if (ctl_args_get(&a, "key"))
        req.key = (char *)ctl_args_get(&a, "key");
    if (ctl_args_get(&a, "from"))
        req.from = (char *)ctl_args_get(&a, "from");
    if (ctl_args_get(&a, "to"))
        req.to = (char *)ctl_args_get(&a, "to");
    ProtobufCMessage *resp = NULL;
    r = ctl_call(ctx, "GetUsage", &req.base, &edge__v1__get_usage_response__descriptor, &resp);
    ctl_args_done(&a);
    if (r != CTL_EXIT_OK)
        return r;
    const Edge__V1__GetUsageResponse *u = (const Edge__V1__GetUsageResponse *)resp;
    if (ctx->output == CTL_OUTPUT_JSON) {
        r = ctl_print_object(ctx, resp);
    } else {
        if (u->quota)
            printf("plan %s, quota %llu/%s, %s .. %s\n", u->plan,
                   (unsigned long long)u->quota->limit, period_name(u->quota->period), u->from,
                   u->to);
        else
            printf("plan %s, no quota, %s .. %s\n", u->plan, u->from, u->to);
        struct ctl_table *t = ctl_table_new(headers);
        for (size_t i = 0; i < u->n_days; i++) {
            const Edge__V1__UsageDay *d = u->days[i];
            ctl_table_cell(t, d->key_name[0] ? d->key_name : "(revoked)");
            ctl_table_cell(t, d->key_id);
            ctl_table_cell(t, d->day);
            ctl_table_cellf(t, "%llu", (unsigned long long)d->count);
            if (u->unlimited)
                ctl_table_cell(t, "unlimited");
            else
                ctl_table_cellf(t, "%llu", (unsigned long long)d->remaining);
        }
        ctl_table_print(t, stdout);
        ctl_table_free(t);
    }
    edge_pb_free(resp);
    return r;
}
