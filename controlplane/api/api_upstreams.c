/* Admin handlers for upstreams. */
#include "api_internal.h"
#include "cp.h"
#include "pb.h"
#include "validate.h"

static void
write_upstream(struct cp_ctx *cp, const ProtobufCMessage *req, bool update,
               ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_store_err e = {0};
    char err[256];
    Edge__V1__Upstream *in = cp_api_dup(req, st), *out = NULL;

    if (!in || cp_api_invalid(st, cp_validate_upstream(in, err, sizeof(err)), err))
        goto out;
    int r = update ? cp_store_upstream_update(cp->store, CP_API_ACTOR, in, &out, &e)
                   : cp_store_upstream_create(cp->store, CP_API_ACTOR, in, &out, &e);
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
cp_api_create_upstream(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                       ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_upstream(ctx, req, false, ret_resp, st);
}

void
cp_api_update_upstream(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                       ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_upstream(ctx, req, true, ret_resp, st);
}

void
cp_api_get_upstream(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetUpstreamRequest *in = (const Edge__V1__GetUpstreamRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Upstream *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        return;
    if (cp_store_upstream_get(cp->store, in->name, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_list_upstreams(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    Edge__V1__ListUpstreamsResponse *out;

    if (cp_store_upstream_list(cp->store, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_delete_upstream(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                       ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__DeleteUpstreamRequest *in = (const Edge__V1__DeleteUpstreamRequest *)req;
    struct cp_store_err e = {0};
    uint64_t rev;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        return;
    if (cp_store_upstream_delete(cp->store, CP_API_ACTOR, in->name, &rev, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_deleted(cp, rev, ret_resp);
}
