/* The runtime snapshot: a ConfigUpdate compiled once, on the main thread, into immutable
 * structures that workers read without locks (DESIGN.md §4). Everything a snapshot holds lives
 * in its arena (plus the route tables), freed together when its last reference goes.
 *
 * Mutable per-worker state (pools, LB cursors, counters) is keyed by the stable ids that the
 * registry hands out, so it survives a swap. */
#ifndef DP_SNAPSHOT_H
#define DP_SNAPSHOT_H

#include "edge/v1/config.pb-c.h"
#include "policy/apikey.h"
#include "policy/buckets.h"
#include "policy/keychange.h"
#include "policy/keystore.h"
#include "policy/plan.h"
#include "policy/revoked.h"
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
    /* Throttle and quota words shared by the workers (policy/buckets.h); created by the
     * first compile, freed with dp_registries_policy_done(). */
    struct dp_buckets *buckets;
    /* Keys refused since a delta arrived, before it is compiled (policy/revoked.h). */
    struct dp_revoked revoked;
    /* The node's API keys, shared by every snapshot (policy/keystore.h); created by the first
     * compile, freed with dp_registries_policy_done(). */
    struct dp_keystore *keystore;
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

enum dp_lb_policy { DP_LB_RR, DP_LB_P2C, DP_LB_RANDOM, DP_LB_HASH };

struct dp_ring_point {
    uint64_t h;
    uint32_t idx; /* into targets */
};

struct dp_upstream {
    const char *name;
    uint32_t lb_id;
    enum dp_lb_policy lb;
    struct dp_target *targets;
    size_t n_targets;
    struct dp_ring_point *ring; /* DP_LB_HASH: sorted by h (upstream/lb_hash.h) */
    size_t n_ring;
    uint32_t connect_timeout_ms, timeout_ms, retries, pool_size;
    bool tls; /* not supported yet: requests get 502 rather than plaintext on a TLS port */
};

/* An upstream no Upstream resource defines: the literal target ("host:port") a stage
 * variable gives as a route's upstream. One per target per snapshot, default settings. */
struct dp_implicit_upstream {
    struct dp_upstream up;
    struct dp_implicit_upstream *next;
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
    const char *int_path; /* NULL: send the path after the stage base as it is */
    /* Non-NULL: the route answers 500 with this message (its upstream or integration path
     * names a stage variable the stage does not define, or one whose value names no
     * upstream; the rest of the snapshot serves). upstream is NULL then. */
    const char *error;
    const char *deployment_id; /* of the deployment this compile of the route belongs to */
    uint32_t timeout_ms;       /* response timeout; already defaulted from the upstream */
    uint64_t max_body_bytes;   /* 0: the node default */
    uint32_t stat_id;
    struct dp_route_policy policy; /* API key, throttle */
};

struct dp_deployment {
    const char *id;
    struct edge_route_table *table;
};

struct dp_stage {
    const char *api, *name;
    const struct dp_deployment *deployment; /* NULL: nothing deployed (404) */
    /* NULL: no canary. Otherwise it answers canary_per_10k / 10000 of the requests: drawn per
     * request, or with canary_sticky by a hash of the client address (dp_release_pick). */
    const struct dp_deployment *canary;
    uint32_t canary_per_10k;
    bool canary_sticky;
    /* This stage's own compiles of deployments whose routes use stage variables (at most
     * two: deployment and canary); the other stages share the plain compile. */
    struct dp_deployment *own;
    size_t n_own;
    bool mapped;                 /* true: has a domain mapping, so not served at /{api}/{stage} */
    struct dp_throttle throttle; /* default for every caller */
    uint64_t policy_id;          /* stable bucket name ("api/stage") */
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
    struct dp_implicit_upstream *implicit; /* literal targets from stage variables */
    struct dp_deployment *deployments;
    size_t n_deployments;
    struct dp_stage *stages;
    size_t n_stages;
    struct dp_mapping *mappings; /* precedence order: exact, wildcard, any; longest base first */
    size_t n_mappings;
    size_t n_apis, n_routes;
    /* Registry sizes when this snapshot was compiled: every id it uses is below these. */
    uint32_t n_pool_ids, n_lb_ids, n_stat_ids;
    struct dp_plan *plans;
    size_t n_plans;
    struct dp_keystore *keystore; /* borrowed from the registries */
    struct dp_keyindex *keys;     /* its lookup index as of this snapshot (a reference) */
    uint32_t *plan_of_name;       /* key store plan name id -> index into plans, or NO_PLAN */
    uint32_t n_plan_of_name;
    struct dp_buckets *buckets;       /* borrowed from the registries (outlives the snapshot) */
    const struct dp_revoked *revoked; /* the registries' too; NULL in tests without them */
};

#define DP_NO_PLAN UINT32_MAX

/* Compiles a full configuration. 0 with *ret (owned, one reference), or -EINVAL with the
 * reason in err (the configuration is refused), or -ENOMEM. Resolves target host names with
 * getaddrinfo: main thread only. The keys that cfg holds are all the keys (a reset). */
int dp_snapshot_compile(const Edge__V1__ConfigUpdate *cfg, struct dp_registries *reg,
                        struct dp_snapshot **ret, char *err, size_t err_len);
/* The same, with the key changes given apart (cfg's own key resources are then ignored).
 * They are applied to the key store only once the rest has compiled, so a refused
 * configuration changes no key. keys NULL: cfg's key resources are all the keys. */
int dp_snapshot_compile_keys(const Edge__V1__ConfigUpdate *cfg, const struct dp_key_changes *keys,
                             struct dp_registries *reg, struct dp_snapshot **ret, char *err,
                             size_t err_len);

/* Frees the shared policy words (daemon shutdown, after the last snapshot). */
void dp_registries_policy_done(struct dp_registries *reg);

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

/* ---- what a stage serves (snapshot/release.c) -------------------------------------------- */

/* true when tmpl names a stage variable: "${stageVariables.NAME}". */
bool dp_release_uses_vars(const char *tmpl);
/* The value of the stage's variable name[0..len), or NULL when it has none (stage may be
 * NULL). Borrowed from stage. */
const char *dp_release_var(const Edge__V1__Stage *stage, const char *name, size_t len);
/* true when a route's upstream reference is one stage variable, "${stageVariables.NAME}" (the
 * whole string), with its name (a slice of ref) in *ret_name and *ret_len. */
bool dp_release_upstream_var(const char *ref, const char **ret_name, size_t *ret_len);
/* A stage variable's value as a literal target: "host:port" or "http://host[:port][/]" (port
 * 80 by default; IPv6 in brackets). 0 with the host (without brackets, NUL-terminated) in
 * host and the port in *ret_port; -EINVAL when value is neither. */
/* Copies tmpl into out (NUL-terminated) with every ${stageVariables.NAME} replaced by the
 * stage's value. 0; -ENOENT with the undefined name (a slice of tmpl) in *ret_name and
 * *ret_name_len; -ENOSPC when out is too small. stage may be NULL (no variables). */
int dp_release_expand(const char *tmpl, const Edge__V1__Stage *stage, char *out, size_t out_len,
                      const char **ret_name, size_t *ret_name_len);
/* The deployment that answers this request: the canary or the stage's deployment (which may
 * be NULL: 404). rng is the worker's xorshift state; peer is used when the canary is sticky. */
const struct dp_deployment *dp_release_pick(const struct dp_stage *st,
                                            const struct sockaddr_in6 *peer, uint64_t *rng);

#endif
