/* The Admin handlers, exposed for the unit tests and shared between api*.c. Each is an
 * edge_rpc_unary_fn whose ctx is the struct cp_ctx; call may be NULL (tests). */
#ifndef CP_API_INTERNAL_H
#define CP_API_INTERNAL_H

#include "rpc/rpc.h"
#include "store/store.h"

struct cp_ctx;

/* Who the audit log says made a change: there is one admin token for now. */
#define CP_API_ACTOR "admin"

/* Maps a store error to a gRPC status (see store.h for the errno table). */
void cp_api_store_fail(struct edge_rpc_status *st, const struct cp_store_err *err);
/* After a committed mutation: tells the watch module to push the new revision. */
void cp_api_published(struct cp_ctx *cp);

/* Fills st with INVALID_ARGUMENT and msg when r < 0; returns r < 0. */
bool cp_api_invalid(struct edge_rpc_status *st, int r, const char *msg);
/* A mutable copy of a request (validation normalises in place); NULL with st filled. */
void *cp_api_dup(const ProtobufCMessage *req, struct edge_rpc_status *st);
/* Answers a successful delete with its revision and publishes it. */
void cp_api_deleted(struct cp_ctx *cp, uint64_t revision, ProtobufCMessage **ret_resp);

#define CP_API_HANDLER(name)                                                                       \
    void name(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,            \
              ProtobufCMessage **ret_resp, struct edge_rpc_status *st)

CP_API_HANDLER(cp_api_create_api);
CP_API_HANDLER(cp_api_get_api);
CP_API_HANDLER(cp_api_list_apis);
CP_API_HANDLER(cp_api_update_api);
CP_API_HANDLER(cp_api_delete_api);

CP_API_HANDLER(cp_api_create_route);
CP_API_HANDLER(cp_api_get_route);
CP_API_HANDLER(cp_api_list_routes);
CP_API_HANDLER(cp_api_update_route);
CP_API_HANDLER(cp_api_delete_route);

CP_API_HANDLER(cp_api_create_upstream);
CP_API_HANDLER(cp_api_get_upstream);
CP_API_HANDLER(cp_api_list_upstreams);
CP_API_HANDLER(cp_api_update_upstream);
CP_API_HANDLER(cp_api_delete_upstream);

CP_API_HANDLER(cp_api_create_deployment);
CP_API_HANDLER(cp_api_get_deployment);
CP_API_HANDLER(cp_api_list_deployments);

CP_API_HANDLER(cp_api_create_stage);
CP_API_HANDLER(cp_api_get_stage);
CP_API_HANDLER(cp_api_list_stages);
CP_API_HANDLER(cp_api_update_stage);
CP_API_HANDLER(cp_api_delete_stage);
CP_API_HANDLER(cp_api_promote_canary);

CP_API_HANDLER(cp_api_create_domain_mapping);
CP_API_HANDLER(cp_api_list_domain_mappings);
CP_API_HANDLER(cp_api_delete_domain_mapping);

CP_API_HANDLER(cp_api_list_nodes);
CP_API_HANDLER(cp_api_get_status);
CP_API_HANDLER(cp_api_list_audit);
CP_API_HANDLER(cp_api_test_route);

#endif
