/* The ImportApi and ExportApi Admin handlers: parse (or load) here, write (or read) in the
 * store, one transaction per import. */
#include "api/api_internal.h"
#include "api/validate.h"
#include "cp.h"
#include "importer.h"
#include "pb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cp_api_import_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__ImportApiRequest *in = (const Edge__V1__ImportApiRequest *)req;
    Edge__V1__ImportApiResponse *resp = NULL;
    Edge__V1__ListRoutesResponse *routes = NULL;
    struct cp_store_err e = {0};
    char err[512];
    (void)call;

    if (in->name && *in->name &&
        cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        return;
    if (in->upstream && *in->upstream &&
        cp_api_invalid(st, cp_validate_upstream_ref("upstream", in->upstream, err, sizeof(err)),
                       err))
        return;
    if (in->mode != EDGE__V1__IMPORT_MODE__IMPORT_MODE_CREATE &&
        in->mode != EDGE__V1__IMPORT_MODE__IMPORT_MODE_OVERWRITE &&
        in->mode != EDGE__V1__IMPORT_MODE__IMPORT_MODE_MERGE) {
        (void)edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT, "mode: unknown import mode %d",
                            (int)in->mode);
        return;
    }
    struct cp_importer_opts opts = {
        .name = in->name, .upstream = in->upstream, .filename = in->filename};
    int r = cp_importer_parse((const char *)in->document.data, in->document.len, &opts, &resp,
                              &routes, err, sizeof(err));
    if (r < 0) {
        (void)edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
        return;
    }
    r = cp_store_api_import(cp->store, CP_API_ACTOR, in->mode, in->dry_run, routes, resp, &e);
    edge_pb_free(routes);
    if (r < 0) {
        cp_api_store_fail(st, &e);
        edge_pb_free(resp);
        return;
    }
    if (!in->dry_run)
        cp_api_published(cp);
    *ret_resp = &resp->base;
}

/* The upstreams the routes name, each once, as the store has them. */
static int
load_upstreams(struct cp_ctx *cp, Edge__V1__Route *const *routes, size_t n,
               Edge__V1__ListUpstreamsResponse *out, struct cp_store_err *e)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = routes[i]->integration ? routes[i]->integration->upstream : NULL;
        bool seen = !name || !*name;
        for (size_t j = 0; !seen && j < out->n_upstreams; j++)
            seen = strcmp(out->upstreams[j]->name, name) == 0;
        if (seen)
            continue;
        Edge__V1__Upstream *u;
        int r = cp_store_upstream_get(cp->store, name, &u, e);
        if (r == -ENOENT)
            continue; /* a frozen deployment may name an upstream deleted since */
        if (r < 0)
            return r;
        edge_pb_append((void ***)&out->upstreams, &out->n_upstreams, u);
    }
    return 0;
}

void
cp_api_export_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                  ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    struct cp_ctx *cp = ctx;
    const Edge__V1__ExportApiRequest *in = (const Edge__V1__ExportApiRequest *)req;
    struct cp_store_err e = {0};
    Edge__V1__Api *api = NULL;
    Edge__V1__ListRoutesResponse *list = NULL;
    Edge__V1__Deployment *dep = NULL;
    Edge__V1__Stage *stage = NULL;
    Edge__V1__ListUpstreamsResponse *ups =
        edge_pb_new(&edge__v1__list_upstreams_response__descriptor);
    char err[512], url[512] = "";
    Edge__V1__Route *const *routes;
    size_t n_routes;
    (void)call;

    if (cp_api_invalid(st, cp_validate_name("name", in->name, err, sizeof(err)), err))
        goto out;
    bool json = false;
    if (in->format && *in->format) {
        if (strcmp(in->format, "json") == 0) {
            json = true;
        } else if (strcmp(in->format, "yaml") != 0) {
            (void)edge_rpc_fail(st, GRPC_STATUS_INVALID_ARGUMENT,
                                "format: must be yaml or json, not '%s'", in->format);
            goto out;
        }
    }
    if (cp_store_api_get(cp->store, in->name, &api, &e) < 0)
        goto store_fail;
    if (in->stage && *in->stage) {
        if (cp_api_invalid(st, cp_validate_name("stage", in->stage, err, sizeof(err)), err))
            goto out;
        if (cp_store_stage_get(cp->store, in->name, in->stage, &stage, &e) < 0)
            goto store_fail;
        if (!stage->deployment_id || !*stage->deployment_id) {
            (void)edge_rpc_fail(st, GRPC_STATUS_FAILED_PRECONDITION,
                                "stage '%s' of api '%s' has nothing deployed", in->stage, in->name);
            goto out;
        }
        if (cp_store_deployment_get(cp->store, in->name, stage->deployment_id, &dep, &e) < 0)
            goto store_fail;
        routes = dep->routes;
        n_routes = dep->n_routes;
        /* The data plane serves a stage at /{api}/{stage} on any listener; the host is a
         * placeholder the operator replaces with a node's address or a mapped domain. */
        (void)snprintf(url, sizeof(url), "http://edge.example.invalid/%s/%s", in->name, in->stage);
    } else {
        if (cp_store_route_list(cp->store, in->name, &list, &e) < 0)
            goto store_fail;
        routes = list->routes;
        n_routes = list->n_routes;
    }
    if (load_upstreams(cp, routes, n_routes, ups, &e) < 0)
        goto store_fail;
    char *doc = NULL;
    size_t len = 0;
    if (cp_importer_export(api, routes, n_routes, ups->upstreams, ups->n_upstreams,
                           url[0] ? url : NULL, json, &doc, &len, err, sizeof(err)) < 0) {
        (void)edge_rpc_fail(st, GRPC_STATUS_INTERNAL, "export: %s", err);
        goto out;
    }
    Edge__V1__ExportApiResponse *resp = edge_pb_new(&edge__v1__export_api_response__descriptor);
    resp->document.data = edge_xcalloc(1, len + 1);
    memcpy(resp->document.data, doc, len);
    resp->document.len = len;
    free(doc);
    resp->content_type = edge_pb_strdup(json ? "application/json" : "application/yaml");
    *ret_resp = &resp->base;
    goto out;
store_fail:
    cp_api_store_fail(st, &e);
out:
    edge_pb_free(api);
    edge_pb_free(list);
    edge_pb_free(dep);
    edge_pb_free(stage);
    edge_pb_free(ups);
}
