/* gRPC status code names (grpc/doc/statuscodes.md), for logs and messages. Apart from the
 * gRPC-core layer (rpc/) so that the data plane, which speaks gRPC without gRPC core, shares
 * the one table. */
#ifndef EDGE_STATUS_H
#define EDGE_STATUS_H

/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "UNKNOWN" for a code outside 0..16. */
const char *edge_status_name(int code);

#endif
