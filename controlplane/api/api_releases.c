/* Admin handlers for deployments, stages and domain mappings. */
#include "api_internal.h"
#include "cp.h"
#include "pb.h"
#include "validate.h"

#include <math.h>

/* ---- deployments -------------------------------------------------------------------------- */

void
cp_api_create_deployment(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                         ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__CreateDeploymentRequest *in = (const Edge__V1__CreateDeploymentRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Deployment *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_deployment_request(in, err, sizeof(err)), err))
        return;
    if (!isfinite(in->canary_percent) || in->canary_percent < 0 || in->canary_percent > 100) {
        (void)edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT, "canary_percent: must be 0..100");
        return;
    }
    if (in->canary_sticky && in->canary_percent == 0) {
        (void)edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT,
                            "canary_sticky: needs canary_percent > 0");
        return;
    }
    int r;
    if (in->canary_percent > 0) {
        Edge__V1__Canary c = EDGE__V1__CANARY__INIT;
        c.percent = in->canary_percent;
        c.sticky = in->canary_sticky;
        r = cp_store_deployment_create_canary(cp->store, CP_API_ACTOR, in->api, in->stage,
                                              in->description, &c, &out, &e);
    } else {
        r = cp_store_deployment_create(cp->store, CP_API_ACTOR, in->api, in->stage, in->description,
                                       &out, &e);
    }
    if (r < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_published(cp);
    *ret_resp = &out->base;
}

void
cp_api_get_deployment(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetDeploymentRequest *in = (const Edge__V1__GetDeploymentRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Deployment *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err) ||
        cp_api_invalid(st, cp_validate_id("id", in->id, 'd', false, err, sizeof(err)), err))
        return;
    if (cp_store_deployment_get(cp->store, in->api, in->id, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_list_deployments(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                        ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__ListDeploymentsRequest *in = (const Edge__V1__ListDeploymentsRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ListDeploymentsResponse *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err))
        return;
    if (cp_store_deployment_list(cp->store, in->api, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

/* ---- stages ------------------------------------------------------------------------------- */

static void
write_stage(struct cp_ctx *cp, const ProtobufCMessage *req, bool update,
            ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_store_err e = {0};
    char err[256];
    Edge__V1__Stage *in = cp_api_dup(req, st), *out = NULL;

    if (!in || cp_api_invalid(st, cp_validate_stage(in, err, sizeof(err)), err))
        goto out;
    int r = update ? cp_store_stage_update(cp->store, CP_API_ACTOR, in, &out, &e)
                   : cp_store_stage_create(cp->store, CP_API_ACTOR, in, &out, &e);
    if (r < 0) {
        cp_api_store_fail(st, &e);
        goto out;
    }
    cp_api_published(cp);
    *ret_resp = &out->base;
out:
    edge_pb_free(in);
}

void
cp_api_create_stage(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_stage(ctx, req, false, ret_resp, st);
}

void
cp_api_update_stage(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_stage(ctx, req, true, ret_resp, st);
}

void
cp_api_promote_canary(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__PromoteCanaryRequest *in = (const Edge__V1__PromoteCanaryRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Stage *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err) ||
        cp_api_invalid(st, cp_validate_name("stage", in->stage, err, sizeof(err)), err))
        return;
    if (cp_store_stage_promote_canary(cp->store, CP_API_ACTOR, in->api, in->stage, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_published(cp);
    *ret_resp = &out->base;
}

void
cp_api_get_stage(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                 ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetStageRequest *in = (const Edge__V1__GetStageRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Stage *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err) ||
        cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        return;
    if (cp_store_stage_get(cp->store, in->api, in->name, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_list_stages(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                   ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__ListStagesRequest *in = (const Edge__V1__ListStagesRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ListStagesResponse *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err))
        return;
    if (cp_store_stage_list(cp->store, in->api, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_delete_stage(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__DeleteStageRequest *in = (const Edge__V1__DeleteStageRequest *)req;
    struct cp_store_err e = {0};
    uint64_t rev;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err) ||
        cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        return;
    if (cp_store_stage_delete(cp->store, CP_API_ACTOR, in->api, in->name, &rev, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_deleted(cp, rev, ret_resp);
}

/* ---- domain mappings ---------------------------------------------------------------------- */

void
cp_api_create_domain_mapping(void *ctx, const struct edge_rpc_call *call,
                             const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    char err[256];
    Edge__V1__DomainMapping *in = cp_api_dup(req, st), *out = NULL;

    if (!in || cp_api_invalid(st, cp_validate_domain(in, err, sizeof(err)), err))
        goto out;
    if (cp_store_domain_create(cp->store, CP_API_ACTOR, in, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        goto out;
    }
    cp_api_published(cp);
    *ret_resp = &out->base;
out:
    edge_pb_free(in);
}

void
cp_api_list_domain_mappings(void *ctx, const struct edge_rpc_call *call,
                            const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                            struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    Edge__V1__ListDomainMappingsResponse *out;

    if (cp_store_domain_list(cp->store, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_delete_domain_mapping(void *ctx, const struct edge_rpc_call *call,
                             const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                             struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    char err[256];
    uint64_t rev;
    Edge__V1__DeleteDomainMappingRequest *in = cp_api_dup(req, st);

    if (!in)
        return;
    /* Same normalisation as on create, so that "API.example.com" finds its mapping. */
    Edge__V1__DomainMapping probe = EDGE__V1__DOMAIN_MAPPING__INIT;
    probe.host = in->host;
    probe.base_path = in->base_path;
    probe.api = "x";
    probe.stage = "x";
    if (cp_api_invalid(st, cp_validate_domain(&probe, err, sizeof(err)), err))
        goto out;
    if (cp_store_domain_delete(cp->store, CP_API_ACTOR, in->host, in->base_path, &rev, &e) < 0) {
        cp_api_store_fail(st, &e);
        goto out;
    }
    cp_api_deleted(cp, rev, ret_resp);
out:
    edge_pb_free(in);
}
