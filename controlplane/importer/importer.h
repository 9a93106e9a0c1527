/* OpenAPI import and export (OpenAPI 3.0, 3.1 and Swagger 2.0; JSON or YAML through libfyaml).
 *
 * Import is split in two: cp_importer_parse() turns a document into a plan (the API, its
 * routes, the upstreams the routes need and the warnings), touching nothing; the store's
 * cp_store_api_import() then writes the plan in one transaction. The Admin handlers for
 * ImportApi and ExportApi (import_rpc.c) tie the two together. */
#ifndef CP_IMPORTER_H
#define CP_IMPORTER_H

#include "edge/v1/admin.pb-c.h"
#include "edge/v1/resources.pb-c.h"
#include "rpc/rpc.h"

#include <stdbool.h>
#include <stddef.h>

/* Limits: a document larger than this is refused before parsing. */
#define CP_IMPORTER_MAX_DOCUMENT_BYTES (64u << 20)
#define CP_IMPORTER_MAX_WARNINGS       1000

struct cp_importer_opts {
    const char *name;     /* API name; NULL or "": slugified info.title */
    const char *upstream; /* an existing upstream for every route; NULL or "": the servers */
    const char *filename; /* for messages only; may be NULL */
};

/* Parses doc[0..len) (borrowed). On success returns 0 with *ret_resp (owned) holding api
 * (name, title, version, description, api_key_source), upstreams (those to create, validated
 * and with defaults filled) and warnings, and *ret_routes (owned) holding the routes, each
 * validated by cp_validate_route(). On failure returns -EINVAL (the document is unusable) with
 * a message in err that names the place: "line 3, column 7: ..." for syntax errors, a JSON
 * pointer ("#/paths/~1pets/get: ...") for the rest. */
int cp_importer_parse(const char *doc, size_t len, const struct cp_importer_opts *opts,
                      Edge__V1__ImportApiResponse **ret_resp,
                      Edge__V1__ListRoutesResponse **ret_routes, char *err, size_t err_len);

/* The slug of an OpenAPI title as an API name ("Swagger Petstore" -> "swagger-petstore"):
 * written into out (at least 64 bytes); "" when nothing usable is left. */
void cp_importer_slug(const char *title, char *out, size_t out_len);

/* Writes an OpenAPI 3.0 document for api and its routes (all borrowed). upstreams are those
 * the routes name (for servers: the first route's upstream gives servers[0] unless
 * server_url is set, as it is for a stage's invoke URL). json selects JSON over YAML.
 * *ret_doc is malloc'ed (free()). Returns 0 or -ENOMEM / -EIO with err filled. */
int cp_importer_export(const Edge__V1__Api *api, Edge__V1__Route *const *routes, size_t n_routes,
                       Edge__V1__Upstream *const *upstreams, size_t n_upstreams,
                       const char *server_url, bool json, char **ret_doc, size_t *ret_len,
                       char *err, size_t err_len);

/* The Admin handlers (edge_rpc_unary_fn; ctx is the struct cp_ctx). */
void cp_api_import_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                       ProtobufCMessage **ret_resp, struct edge_rpc_status *st);
void cp_api_export_api(void *ctx, const struct edge_rpc_call *call, const ProtobufCMessage *req,
                       ProtobufCMessage **ret_resp, struct edge_rpc_status *st);

#endif
