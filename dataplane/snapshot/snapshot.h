/* The runtime snapshot: a ConfigUpdate compiled once, on the main thread, into immutable
 * structures that workers read without locks (DESIGN.md §4). Everything a snapshot holds lives
 * in its arena (plus the route tables), freed together when its last reference goes.
 *
 * Mutable per-worker state (pools, LB cursors, counters) is keyed by the stable ids that the
 * registry hands out, so it survives a swap. */
#ifndef DP_SNAPSHOT_H
#define DP_SNAPSHOT_H

#include "edge/v1/config.pb-c.h"
#include "route.h"
#include "snapshot/arena.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Stable small integers for names ("host:port", upstream names, route labels). Main thread
 * only; ids are never reused, so workers may index arrays with them. */
struct dp_registry {
    char **names;
    size_t n, cap;
};

void dp_registry_init(struct dp_registry *r);
void dp_registry_done(struct dp_registry *r);
/* The id of name, adding it if new. 0 with *ret_id set, or -ENOMEM. */
int dp_registry_id(struct dp_registry *r, const char *name, uint32_t *ret_id);

struct dp_registries {
    struct dp_registry targets;   /* "host:port" -> per-worker connection pool */
    struct dp_registry upstreams; /* name -> per-worker LB state */
    struct dp_registry routes;    /* metrics label -> per-worker counters */
};

struct dp_target {
    const char *host;
    uint16_t port;
    uint32_t weight;
    uint32_t pool_id;
    bool resolved; /* false: the name did not resolve at compile time (a connect failure) */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    const char *authority; /* "host:port" */
};

enum dp_lb_policy { DP_LB_RR, DP_LB_P2C, DP_LB_RANDOM };

struct dp_upstream {
    const char *name;
    uint32_t lb_id;
    enum dp_lb_policy lb; /* consistent hash is not implemented yet: round robin */
    struct dp_target *targets;
    size_t n_targets;
    uint32_t connect_timeout_ms, timeout_ms, retries, pool_size;
    bool tls; /* not supported yet: requests get 502 rather than plaintext on a TLS port */
};

struct dp_header_match {
    const char *name, *value;
    size_t name_len, value_len;
};

struct dp_route {
    const char *id, *api, *method, *path;
    const char *host; /* NULL: any */
    struct dp_header_match *headers;
    size_t n_headers;
    const struct dp_upstream *upstream;
    const char *int_path;    /* NULL: send the path after the stage base as it is */
    uint32_t timeout_ms;     /* response timeout; already defaulted from the upstream */
    uint64_t max_body_bytes; /* 0: the node default */
    uint32_t stat_id;
};

struct dp_deployment {
    const char *id;
    struct edge_route_table *table;
};

struct dp_stage {
    const char *api, *name;
    const struct dp_deployment *deployment; /* NULL: nothing deployed (404) */
    bool mapped; /* true: has a domain mapping, so not served at /{api}/{stage} */
};

enum dp_host_kind { DP_HOST_EXACT, DP_HOST_WILDCARD, DP_HOST_ANY };

struct dp_mapping {
    enum dp_host_kind kind;
    const char *host; /* lower case; for WILDCARD the suffix with its dot (".example.com") */
    size_t host_len;
    const char *base; /* "" or "/v1" */
    size_t base_len;
    const struct dp_stage *stage;
};

struct dp_snapshot {
    atomic_uint refs;
    struct dp_arena arena;
    uint64_t revision;
    const char *store_id;
    struct dp_upstream *upstreams;
    size_t n_upstreams;
    struct dp_deployment *deployments;
    size_t n_deployments;
    struct dp_stage *stages;
    size_t n_stages;
    struct dp_mapping *mappings; /* precedence order: exact, wildcard, any; longest base first */
    size_t n_mappings;
    size_t n_apis, n_routes;
    /* Registry sizes when this snapshot was compiled: every id it uses is below these. */
    uint32_t n_pool_ids, n_lb_ids, n_stat_ids;
};

/* Compiles a full configuration. 0 with *ret (owned, one reference), or -EINVAL with the
 * reason in err (the configuration is refused), or -ENOMEM. Resolves target host names with
 * getaddrinfo: main thread only. */
int dp_snapshot_compile(const Edge__V1__ConfigUpdate *cfg, struct dp_registries *reg,
                        struct dp_snapshot **ret, char *err, size_t err_len);

struct dp_snapshot *dp_snapshot_ref(struct dp_snapshot *s);
/* Drops a reference; frees on the last. Any thread. Accepts NULL; returns NULL. */
struct dp_snapshot *dp_snapshot_unref(struct dp_snapshot *s);

struct dp_resolved {
    const struct dp_stage *stage;
    size_t rest_off; /* the route path starts at path + rest_off (empty rest means "/") */
};

/* Finds the stage for a request: domain mappings (exact host, then wildcard, then "*"; the
 * longest base path wins), then /{api}/{stage}/... for stages without a mapping. host is lower
 * case without the port. Returns 0, or -ENOENT. */
int dp_snapshot_resolve(const struct dp_snapshot *s, const char *host, size_t host_len,
                        const char *path, size_t path_len, struct dp_resolved *ret);

#endif
