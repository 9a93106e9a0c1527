/* Registration of the Admin service, its authentication, and the store-error mapping. */
#include "api.h"

#include "api_internal.h"
#include "api_keys.h"
#include "cp.h"
#include "importer/importer.h"
#include "pb.h"
#include "watch/watch.h"

#include <errno.h>
#include <stdio.h>
#include <strings.h>

struct method {
    const char *name;
    const ProtobufCMessageDescriptor *req;
    edge_rpc_unary_fn fn;
};

static const struct method methods[] = {
    {"CreateApi", &edge__v1__api__descriptor, cp_api_create_api},
    {"GetApi", &edge__v1__get_api_request__descriptor, cp_api_get_api},
    {"ListApis", &edge__v1__list_apis_request__descriptor, cp_api_list_apis},
    {"UpdateApi", &edge__v1__api__descriptor, cp_api_update_api},
    {"DeleteApi", &edge__v1__delete_api_request__descriptor, cp_api_delete_api},

    {"CreateRoute", &edge__v1__route__descriptor, cp_api_create_route},
    {"GetRoute", &edge__v1__get_route_request__descriptor, cp_api_get_route},
    {"ListRoutes", &edge__v1__list_routes_request__descriptor, cp_api_list_routes},
    {"UpdateRoute", &edge__v1__route__descriptor, cp_api_update_route},
    {"DeleteRoute", &edge__v1__delete_route_request__descriptor, cp_api_delete_route},

    {"CreateUpstream", &edge__v1__upstream__descriptor, cp_api_create_upstream},
    {"GetUpstream", &edge__v1__get_upstream_request__descriptor, cp_api_get_upstream},
    {"ListUpstreams", &edge__v1__list_upstreams_request__descriptor, cp_api_list_upstreams},
    {"UpdateUpstream", &edge__v1__upstream__descriptor, cp_api_update_upstream},
    {"DeleteUpstream", &edge__v1__delete_upstream_request__descriptor, cp_api_delete_upstream},

    {"CreateDeployment", &edge__v1__create_deployment_request__descriptor,
     cp_api_create_deployment},
    {"GetDeployment", &edge__v1__get_deployment_request__descriptor, cp_api_get_deployment},
    {"ListDeployments", &edge__v1__list_deployments_request__descriptor, cp_api_list_deployments},

    {"CreateStage", &edge__v1__stage__descriptor, cp_api_create_stage},
    {"GetStage", &edge__v1__get_stage_request__descriptor, cp_api_get_stage},
    {"ListStages", &edge__v1__list_stages_request__descriptor, cp_api_list_stages},
    {"UpdateStage", &edge__v1__stage__descriptor, cp_api_update_stage},
    {"DeleteStage", &edge__v1__delete_stage_request__descriptor, cp_api_delete_stage},
    {"PromoteCanary", &edge__v1__promote_canary_request__descriptor, cp_api_promote_canary},

    {"CreateDomainMapping", &edge__v1__domain_mapping__descriptor, cp_api_create_domain_mapping},
    {"ListDomainMappings", &edge__v1__list_domain_mappings_request__descriptor,
     cp_api_list_domain_mappings},
    {"DeleteDomainMapping", &edge__v1__delete_domain_mapping_request__descriptor,
     cp_api_delete_domain_mapping},

    {"ListNodes", &edge__v1__list_nodes_request__descriptor, cp_api_list_nodes},
    {"GetStatus", &edge__v1__get_status_request__descriptor, cp_api_get_status},
    {"ListAudit", &edge__v1__list_audit_request__descriptor, cp_api_list_audit},

    {"ImportApi", &edge__v1__import_api_request__descriptor, cp_api_import_api},
    {"ExportApi", &edge__v1__export_api_request__descriptor, cp_api_export_api},

    {"CreateApiKey", &edge__v1__create_api_key_request__descriptor, cp_api_create_api_key},
    {"GetApiKey", &edge__v1__get_api_key_request__descriptor, cp_api_get_api_key},
    {"ListApiKeys", &edge__v1__list_api_keys_request__descriptor, cp_api_list_api_keys},
    {"SetApiKeyEnabled", &edge__v1__set_api_key_enabled_request__descriptor,
     cp_api_set_api_key_enabled},
    {"RotateApiKey", &edge__v1__rotate_api_key_request__descriptor, cp_api_rotate_api_key},
    {"DeleteApiKey", &edge__v1__delete_api_key_request__descriptor, cp_api_delete_api_key},
    {"CreateUsagePlan", &edge__v1__usage_plan__descriptor, cp_api_create_usage_plan},
    {"GetUsagePlan", &edge__v1__get_usage_plan_request__descriptor, cp_api_get_usage_plan},
    {"ListUsagePlans", &edge__v1__list_usage_plans_request__descriptor, cp_api_list_usage_plans},
    {"UpdateUsagePlan", &edge__v1__usage_plan__descriptor, cp_api_update_usage_plan},
    {"DeleteUsagePlan", &edge__v1__delete_usage_plan_request__descriptor, cp_api_delete_usage_plan},
    {"AddPlanKey", &edge__v1__plan_key_request__descriptor, cp_api_add_plan_key},
    {"RemovePlanKey", &edge__v1__plan_key_request__descriptor, cp_api_remove_plan_key},
    {"GetUsage", &edge__v1__get_usage_request__descriptor, cp_api_get_usage},
    {"TestRoute", &edge__v1__test_route_request__descriptor, cp_api_test_route},
};

int
cp_api_register(struct cp_ctx *cp)
{
    char path[96];

    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        (void)snprintf(path, sizeof(path), "/edge.v1.Admin/%s", methods[i].name);
        int r = edge_rpc_server_add_unary(cp->rpc, path, methods[i].req, methods[i].fn, cp_api_auth,
                                          cp);
        if (r != 0)
            return r;
    }
    return 0;
}

int
cp_api_auth(void *ctx, const struct edge_rpc_call *call, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    size_t len = 0;
    const char *v = edge_rpc_call_metadata(call, "authorization", &len);

    if (!v || len < 7 || strncasecmp(v, "Bearer ", 7) != 0)
        return edge_rpc_fail(st, GRPC_STATUS_UNAUTHENTICATED, "missing bearer token");
    v += 7;
    len -= 7;
    while (len > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0)
        return edge_rpc_fail(st, GRPC_STATUS_UNAUTHENTICATED, "missing bearer token");
    if (cp_store_token_check(cp->store, v, len) != 0)
        return edge_rpc_fail(st, GRPC_STATUS_UNAUTHENTICATED, "invalid token");
    return 0;
}

void
cp_api_store_fail(struct edge_rpc_status *st, const struct cp_store_err *err)
{
    grpc_status_code code;

    switch (err->code) {
    case -EINVAL:
    case -E2BIG:
        code = GRPC_STATUS_INVALID_ARGUMENT;
        break;
    case -ENOENT:
        code = GRPC_STATUS_NOT_FOUND;
        break;
    case -EEXIST:
        code = GRPC_STATUS_ALREADY_EXISTS;
        break;
    case -EBUSY:
    case -ENODATA:
        code = GRPC_STATUS_FAILED_PRECONDITION;
        break;
    case -EAGAIN:
        code = GRPC_STATUS_UNAVAILABLE;
        break;
    case -ENOSPC:
        code = GRPC_STATUS_RESOURCE_EXHAUSTED;
        break;
    default:
        code = GRPC_STATUS_INTERNAL;
        break;
    }
    (void)edge_rpc_fail(st, code, "%s", err->message[0] ? err->message : "store error");
}

void
cp_api_published(struct cp_ctx *cp)
{
    /* The unit tests drive handlers without a watch module. */
    if (cp->watch)
        cp_watch_publish(cp->watch);
}

bool
cp_api_invalid(struct edge_rpc_status *st, int r, const char *msg)
{
    if (r < 0)
        (void)edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
    return r < 0;
}

void *
cp_api_dup(const ProtobufCMessage *req, struct edge_rpc_status *st)
{
    void *copy = edge_pb_dup(req);

    if (!copy)
        (void)edge_rpc_fail(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return copy;
}

void
cp_api_deleted(struct cp_ctx *cp, uint64_t revision, ProtobufCMessage **ret_resp)
{
    Edge__V1__DeleteResponse *resp = edge_pb_new(&edge__v1__delete_response__descriptor);

    resp->revision = revision;
    cp_api_published(cp);
    *ret_resp = &resp->base;
}
