/* Admin handlers for usage plans, plan membership and usage. */
#include "api_keys.h"
#include "cp.h"
#include "pb.h"
#include "validate.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Plans are stricter than cp_validate_throttle(): a plan's throttle is a promise to callers,
 * so it must say something (rate > 0 and a burst). */
static int
validate_plan_throttle(const char *field, const Edge__V1__Throttle *t, char *err, size_t err_len)
{
    if (!isfinite(t->rate) || t->rate <= 0 || t->rate > CP_PLAN_MAX_RATE)
        return fail(err, err_len, "%s.rate: must be > 0 and <= %g requests per second", field,
                    CP_PLAN_MAX_RATE);
    if (t->burst < 1 || t->burst > CP_PLAN_MAX_BURST)
        return fail(err, err_len, "%s.burst: required with rate, 1..%u", field, CP_PLAN_MAX_BURST);
    return 0;
}

static bool
plan_has_stage(const Edge__V1__UsagePlan *p, const char *api, const char *stage)
{
    for (size_t i = 0; i < p->n_stages; i++)
        if (strcmp(p->stages[i]->api, api) == 0 && strcmp(p->stages[i]->stage, stage) == 0)
            return true;
    return false;
}

static int
validate_plan(const Edge__V1__UsagePlan *p, char *err, size_t err_len)
{
    char field[64];
    int r;

    if ((r = cp_validate_name("plan.name", p->name, err, err_len)) < 0 ||
        (r = cp_validate_text("plan.description", p->description, CP_MAX_DESCRIPTION_LEN, err,
                              err_len)) < 0)
        return r;
    if (p->throttle && (r = validate_plan_throttle("plan.throttle", p->throttle, err, err_len)) < 0)
        return r;
    if (p->quota) {
        if (p->quota->limit < 1 || p->quota->limit > CP_PLAN_MAX_QUOTA)
            return fail(err, err_len, "plan.quota.limit: must be 1..%llu",
                        (unsigned long long)CP_PLAN_MAX_QUOTA);
        if (p->quota->period != EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_DAY &&
            p->quota->period != EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_WEEK &&
            p->quota->period != EDGE__V1__QUOTA_PERIOD__QUOTA_PERIOD_MONTH)
            return fail(err, err_len, "plan.quota.period: must be DAY, WEEK or MONTH");
    }
    if (p->n_stages > CP_MAX_PLAN_STAGES)
        return fail(err, err_len, "plan.stages: at most %d", CP_MAX_PLAN_STAGES);
    for (size_t i = 0; i < p->n_stages; i++) {
        (void)snprintf(field, sizeof(field), "plan.stages[%zu].api", i);
        if ((r = cp_validate_name(field, p->stages[i]->api, err, err_len)) < 0)
            return r;
        (void)snprintf(field, sizeof(field), "plan.stages[%zu].stage", i);
        if ((r = cp_validate_name(field, p->stages[i]->stage, err, err_len)) < 0)
            return r;
    }
    if (p->n_route_throttles > CP_MAX_PLAN_ROUTE_THROTTLES)
        return fail(err, err_len, "plan.route_throttles: at most %d", CP_MAX_PLAN_ROUTE_THROTTLES);
    for (size_t i = 0; i < p->n_route_throttles; i++) {
        const Edge__V1__RouteThrottle *t = p->route_throttles[i];
        (void)snprintf(field, sizeof(field), "plan.route_throttles[%zu]", i);
        char sub[80];
        (void)snprintf(sub, sizeof(sub), "%s.api", field);
        if ((r = cp_validate_name(sub, t->api, err, err_len)) < 0)
            return r;
        (void)snprintf(sub, sizeof(sub), "%s.stage", field);
        if ((r = cp_validate_name(sub, t->stage, err, err_len)) < 0)
            return r;
        (void)snprintf(sub, sizeof(sub), "%s.method", field);
        if ((r = cp_validate_method(sub, t->method, err, err_len)) < 0)
            return r;
        (void)snprintf(sub, sizeof(sub), "%s.path", field);
        if ((r = cp_validate_path_template(sub, t->path, err, err_len)) < 0)
            return r;
        (void)snprintf(sub, sizeof(sub), "%s.throttle", field);
        if (!t->throttle)
            return fail(err, err_len, "%s: required", sub);
        if ((r = validate_plan_throttle(sub, t->throttle, err, err_len)) < 0)
            return r;
        if (!plan_has_stage(p, t->api, t->stage))
            return fail(err, err_len, "%s: stage %s/%s is not one of the plan's stages", field,
                        t->api, t->stage);
        for (size_t j = 0; j < i; j++) {
            const Edge__V1__RouteThrottle *o = p->route_throttles[j];
            if (strcmp(o->api, t->api) == 0 && strcmp(o->stage, t->stage) == 0 &&
                strcmp(o->method, t->method) == 0 && strcmp(o->path, t->path) == 0)
                return fail(err, err_len, "%s: duplicate of route_throttles[%zu]", field, j);
        }
    }
    return 0;
}

static void
write_plan(struct cp_ctx *cp, const ProtobufCMessage *req, bool update, ProtobufCMessage **ret_resp,
           struct edge_rpc_status *st)
{
    const Edge__V1__UsagePlan *in = (const Edge__V1__UsagePlan *)req;
    struct cp_store_err e = {0};
    Edge__V1__UsagePlan *out = NULL;
    char err[256];

    if (cp_api_invalid(st, validate_plan(in, err, sizeof(err)), err))
        return;
    int r = update ? cp_store_plan_update(cp->store, CP_API_ACTOR, in, &out, &e)
                   : cp_store_plan_create(cp->store, CP_API_ACTOR, in, &out, &e);
    if (r < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_published(cp);
    *ret_resp = &out->base;
}

void
cp_api_create_usage_plan(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                         ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_plan(ctx, req, false, ret_resp, st);
}

void
cp_api_update_usage_plan(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                         ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_plan(ctx, req, true, ret_resp, st);
}

static bool
valid_name(const char *field, const char *name, struct edge_rpc_status *st)
{
    char err[160];

    return !cp_api_invalid(st, cp_validate_name(field, name, err, sizeof(err)), err);
}

void
cp_api_get_usage_plan(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetUsagePlanRequest *in = (const Edge__V1__GetUsagePlanRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__UsagePlan *out;

    if (!valid_name("name", in->name, st))
        return;
    if (cp_store_plan_get(cp->store, in->name, &out, &e) < 0)
        cp_api_store_fail(st, &e);
    else
        *ret_resp = &out->base;
}

void
cp_api_list_usage_plans(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                        ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    Edge__V1__ListUsagePlansResponse *out;

    if (cp_store_plan_list(cp->store, &out, &e) < 0)
        cp_api_store_fail(st, &e);
    else
        *ret_resp = &out->base;
}

void
cp_api_delete_usage_plan(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                         ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__DeleteUsagePlanRequest *in = (const Edge__V1__DeleteUsagePlanRequest *)req;
    struct cp_store_err e = {0};
    uint64_t rev;

    if (!valid_name("name", in->name, st))
        return;
    if (cp_store_plan_delete(cp->store, CP_API_ACTOR, in->name, in->force, &rev, &e) < 0)
        cp_api_store_fail(st, &e);
    else
        cp_api_deleted(cp, rev, ret_resp);
}

static void
plan_key(struct cp_ctx *cp, const ProtobufCMessage *req, bool add, ProtobufCMessage **ret_resp,
         struct edge_rpc_status *st)
{
    const Edge__V1__PlanKeyRequest *in = (const Edge__V1__PlanKeyRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ApiKey *out;

    if (!valid_name("plan", in->plan, st) || !valid_name("key", in->key, st))
        return;
    if (cp_store_plan_key(cp->store, CP_API_ACTOR, in->plan, in->key, add, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_published(cp);
    *ret_resp = &out->base;
}

void
cp_api_add_plan_key(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    plan_key(ctx, req, true, ret_resp, st);
}

void
cp_api_remove_plan_key(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                       ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    plan_key(ctx, req, false, ret_resp, st);
}

void
cp_api_get_usage(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                 ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetUsageRequest *in = (const Edge__V1__GetUsageRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__GetUsageResponse *out;

    if (!valid_name("plan", in->plan, st) ||
        (in->key && *in->key && !valid_name("key", in->key, st)))
        return;
    if (cp_store_usage_get(cp->store, in, (int64_t)time(NULL), &out, &e) < 0)
        cp_api_store_fail(st, &e);
    else
        *ret_resp = &out->base;
}
