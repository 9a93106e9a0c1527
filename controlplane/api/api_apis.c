/* Admin handlers for APIs and their routes. */
#include "api_internal.h"
#include "cp.h"
#include "pb.h"
#include "validate.h"

/* ---- APIs --------------------------------------------------------------------------------- */

static void
write_api(struct cp_ctx *cp, const ProtobufCMessage *req, bool update, ProtobufCMessage **ret_resp,
          struct edge_rpc_status *st)
{
    struct cp_store_err e = {0};
    char err[256];
    Edge__V1__Api *in = cp_api_dup(req, st), *out = NULL;

    if (!in || cp_api_invalid(st, cp_validate_api(in, err, sizeof(err)), err))
        goto out;
    int r = update ? cp_store_api_update(cp->store, CP_API_ACTOR, in, &out, &e)
                   : cp_store_api_create(cp->store, CP_API_ACTOR, in, &out, &e);
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
cp_api_create_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_api(ctx, req, false, ret_resp, st);
}

void
cp_api_update_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_api(ctx, req, true, ret_resp, st);
}

void
cp_api_get_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
               ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetApiRequest *in = (const Edge__V1__GetApiRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Api *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        return;
    if (cp_store_api_get(cp->store, in->name, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_list_apis(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                 ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    struct cp_store_err e = {0};
    Edge__V1__ListApisResponse *out;

    if (cp_store_api_list(cp->store, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_delete_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__DeleteApiRequest *in = (const Edge__V1__DeleteApiRequest *)req;
    struct cp_store_err e = {0};
    uint64_t rev;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        return;
    if (cp_store_api_delete(cp->store, CP_API_ACTOR, in->name, &rev, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_deleted(cp, rev, ret_resp);
}

/* ---- routes ------------------------------------------------------------------------------- */

static void
write_route(struct cp_ctx *cp, const ProtobufCMessage *req, bool update,
            ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_store_err e = {0};
    char err[256];
    Edge__V1__Route *in = cp_api_dup(req, st), *out = NULL;

    if (!in || cp_api_invalid(st, cp_validate_route(in, update, err, sizeof(err)), err))
        goto out;
    int r = update ? cp_store_route_update(cp->store, CP_API_ACTOR, in, &out, &e)
                   : cp_store_route_create(cp->store, CP_API_ACTOR, in, &out, &e);
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
cp_api_create_route(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_route(ctx, req, false, ret_resp, st);
}

void
cp_api_update_route(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    write_route(ctx, req, true, ret_resp, st);
}

void
cp_api_get_route(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                 ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__GetRouteRequest *in = (const Edge__V1__GetRouteRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Route *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err) ||
        cp_api_invalid(st, cp_validate_id("id", in->id, 'r', false, err, sizeof(err)), err))
        return;
    if (cp_store_route_get(cp->store, in->api, in->id, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_list_routes(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                   ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__ListRoutesRequest *in = (const Edge__V1__ListRoutesRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__ListRoutesResponse *out;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err))
        return;
    if (cp_store_route_list(cp->store, in->api, &out, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    *ret_resp = &out->base;
}

void
cp_api_delete_route(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                    ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__DeleteRouteRequest *in = (const Edge__V1__DeleteRouteRequest *)req;
    struct cp_store_err e = {0};
    uint64_t rev;
    char err[256];

    if (cp_api_invalid(st, cp_validate_name("api", in->api, err, sizeof(err)), err) ||
        cp_api_invalid(st, cp_validate_id("id", in->id, 'r', false, err, sizeof(err)), err))
        return;
    if (cp_store_route_delete(cp->store, CP_API_ACTOR, in->api, in->id, &rev, &e) < 0) {
        cp_api_store_fail(st, &e);
        return;
    }
    cp_api_deleted(cp, rev, ret_resp);
}
