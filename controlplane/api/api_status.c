/* Admin handlers for nodes, status and the audit log. */
#include "api_internal.h"
#include "cp.h"
#include "edge_config.h"
#include "pb.h"
#include "watch/watch.h"

void
cp_api_list_nodes(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    Edge__V1__ListNodesResponse *out;

    if (cp_store_node_list(cp->store, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_get_status(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    struct cp_store_counts c;

    if (cp_store_counts(cp->store, &c, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    Edge__V1__Status *out = edge_pb_new(&edge__v1__status__descriptor);
    out->version = edge_pb_strdup(EDGE_VERSION);
    out->revision = cp_store_revision(cp->store);
    out->store_id = edge_pb_strdup(cp_store_id(cp->store));
    out->started_at = cp->started_at;
    out->apis = c.apis;
    out->routes = c.routes;
    out->upstreams = c.upstreams;
    out->stages = c.stages;
    out->deployments = c.deployments;
    out->nodes_connected = cp->watch ? cp_watch_connected(cp->watch) : 0;
    out->nodes_known = c.nodes_known;
    out->db_path = edge_pb_strdup(cp->db_path ? cp->db_path : cp_store_path(cp->store));
    *ret_resp = &out->base;
}

void
cp_api_list_audit(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__ListAuditRequest *in = (const Edge__V1__ListAuditRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ListAuditResponse *out;

    if (in->limit > CP_STORE_MAX_AUDIT_LIMIT) {
        (void)edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT, "limit: at most %d",
                            CP_STORE_MAX_AUDIT_LIMIT);
        return;
    }
    if (cp_store_audit_list(cp->store, in->limit, in->after_revision, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}
