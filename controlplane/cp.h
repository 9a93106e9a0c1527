/* The control plane daemon's context, passed to every module (no global mutable state). */
#ifndef CP_H
#define CP_H

#include <stdint.h>

struct cp_store;
struct cp_watch;
struct edge_rpc_server;

struct cp_ctx {
    struct cp_store *store;
    struct cp_watch *watch;
    struct edge_rpc_server *rpc;
    const char *db_path;
    int64_t started_at; /* unix seconds */
};

#endif
