/* The Admin service (proto/edge/v1/admin.proto): unary handlers over the store. */
#ifndef CP_API_H
#define CP_API_H

#include "rpc/rpc.h"

struct cp_ctx;

/* Registers every Admin method on cp->rpc (before edge_rpc_server_start()), each guarded by
 * cp_api_auth; unknown methods get UNIMPLEMENTED from the layer.
 * Returns 0 or the first registration error. */
int cp_api_register(struct cp_ctx *cp);

/* An edge_rpc_auth_fn: the call must carry "authorization: Bearer <admin token>"; otherwise
 * UNAUTHENTICATED ("missing bearer token" / "invalid token"). ctx is the struct cp_ctx. */
int cp_api_auth(void *ctx, const struct edge_rpc_call *call, struct edge_rpc_status *st);

#endif
