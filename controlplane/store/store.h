/* The control plane's store: the only module that calls sqlite3_*. SQLite in WAL mode with
 * foreign keys on and synchronous=FULL (an acknowledged write survives SIGKILL and power loss);
 * schema versioned by PRAGMA user_version with forward-only migrations.
 * Every mutation is one transaction (BEGIN IMMEDIATE) that bumps the global revision and writes
 * an audit row; a failure anywhere in it leaves nothing behind.
 *
 * Messages returned through ret_* are owned by the caller (edge_pb_free()). Mutations and
 * lookups return 0 or a negative errno and fill a struct cp_store_err (below) with a message
 * that names the object; the Admin handlers map the errno to a gRPC status:
 *   -EINVAL  bad input the store itself detects          INVALID_ARGUMENT
 *   -E2BIG   a per-object limit is reached               INVALID_ARGUMENT
 *   -ENOENT  unknown object                              NOT_FOUND
 *   -EEXIST  duplicate                                   ALREADY_EXISTS
 *   -EBUSY   other objects depend on it (named)          FAILED_PRECONDITION
 *   -ENODATA the operation needs data that is not there  FAILED_PRECONDITION
 *   -EAGAIN  the database is locked by another process   UNAVAILABLE
 *   -ENOSPC  the disk is full                            RESOURCE_EXHAUSTED
 *   -EIO     anything else (I/O, corruption, -ENOMEM)    INTERNAL
 * The store validates references and uniqueness; syntax checks (names, ports, templates) are
 * the Admin layer's job (controlplane/api/validate.h), so callers validate first. */
#ifndef CP_STORE_H
#define CP_STORE_H

#include "edge/v1/admin.pb-c.h"
#include "edge/v1/config.pb-c.h"
#include "edge/v1/resources.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cp_store;

/* Opens (creating if needed) and migrates the database. NULL on failure with a clear message
 * in err (unwritable path, not a database, corrupt, newer schema than this binary). */
struct cp_store *cp_store_open(const char *path, char *err, size_t err_len);
void cp_store_close(struct cp_store *st);

/* The current global revision (0 for an empty store). */
uint64_t cp_store_revision(struct cp_store *st);
/* A random id of this database, created once, stable across restarts. Borrowed. */
const char *cp_store_id(struct cp_store *st);

/* The whole configuration at the current revision as a full ConfigUpdate: every API, upstream,
 * deployment (with its routes), stage, domain mapping, key and plan as one Resource each,
 * sorted by (type, id). revision, store_id and full=true are set. Resource ids (config.proto):
 *   API, upstream: the name; deployment: its id; stage: api + "/" + stage;
 *   domain: host + " " + base_path (so "* " for the catch-all, "api.example.com /v1");
 *   key: its id; plan: its name.
 * Deployments are those a stage serves (current or canary): older ones stay in the store for
 * rollback but nodes have no use for them. Keys carry secret_sha256 and their plan names. */
int cp_store_load_config(struct cp_store *st, Edge__V1__ConfigUpdate **ret_update);

/* Admin token bootstrap: when the store has no admin token, make a random one, store only its
 * SHA-256, write it to token_path (mode 0600) and set *ret_created. */
int cp_store_admin_token_bootstrap(struct cp_store *st, const char *token_path, bool *ret_created,
                                   char *err, size_t err_len);
/* 0 when token is a valid admin token (constant-time compare of hashes), else -EACCES. */
int cp_store_token_check(struct cp_store *st, const char *token, size_t token_len);

/* Node bookkeeping; these writes do not bump the config revision. */
int cp_store_node_connected(struct cp_store *st, const char *id, const char *address,
                            const char *version, int64_t now);
int cp_store_node_ack(struct cp_store *st, const char *id, uint64_t revision, bool ok,
                      const char *error, int64_t now);
int cp_store_node_disconnected(struct cp_store *st, const char *id, int64_t now);
/* At start: no node is connected yet. */
int cp_store_nodes_reset(struct cp_store *st);

/* ---- errors ------------------------------------------------------------------------------- */

struct cp_store_err {
    int code; /* the negative errno also returned */
    char message[384];
};

/* ---- limits ------------------------------------------------------------------------------- */

#define CP_STORE_MAX_ROUTES_PER_API 10000
#define CP_STORE_MAX_AUDIT_LIMIT    1000

/* ---- APIs --------------------------------------------------------------------------------- */
/* actor is recorded in the audit row ("admin"). in is borrowed; server-owned fields of in
 * (created_at, updated_at, route_count) are ignored. */

int cp_store_api_create(struct cp_store *st, const char *actor, const Edge__V1__Api *in,
                        Edge__V1__Api **ret_api, struct cp_store_err *err);
int cp_store_api_get(struct cp_store *st, const char *name, Edge__V1__Api **ret_api,
                     struct cp_store_err *err);
/* Sorted by name. */
int cp_store_api_list(struct cp_store *st, Edge__V1__ListApisResponse **ret_list,
                      struct cp_store_err *err);
/* Replaces the description (the name identifies the API). */
int cp_store_api_update(struct cp_store *st, const char *actor, const Edge__V1__Api *in,
                        Edge__V1__Api **ret_api, struct cp_store_err *err);
/* Deletes the API with its routes, deployments and stages; -EBUSY while a domain mapping
 * points at one of its stages. */
int cp_store_api_delete(struct cp_store *st, const char *actor, const char *name,
                        uint64_t *ret_revision, struct cp_store_err *err);

/* ---- routes ------------------------------------------------------------------------------- */
/* Needs in->api and in->integration->upstream to exist (-ENOENT). Two routes of one API may
 * not share (host, method, path shape): the shape is the template with parameter names
 * dropped, so /pets/{id} and /pets/{pet} collide (-EEXIST). At most
 * CP_STORE_MAX_ROUTES_PER_API routes per API (-E2BIG). The id is assigned ("r-" + 12 hex). */
int cp_store_route_create(struct cp_store *st, const char *actor, const Edge__V1__Route *in,
                          Edge__V1__Route **ret_route, struct cp_store_err *err);
int cp_store_route_get(struct cp_store *st, const char *api, const char *id,
                       Edge__V1__Route **ret_route, struct cp_store_err *err);
/* Sorted by (path, method, host, id). */
int cp_store_route_list(struct cp_store *st, const char *api,
                        Edge__V1__ListRoutesResponse **ret_list, struct cp_store_err *err);
/* Replaces route (in->api, in->id) whole; id and created_at are kept. */
int cp_store_route_update(struct cp_store *st, const char *actor, const Edge__V1__Route *in,
                          Edge__V1__Route **ret_route, struct cp_store_err *err);
int cp_store_route_delete(struct cp_store *st, const char *actor, const char *api, const char *id,
                          uint64_t *ret_revision, struct cp_store_err *err);

/* ---- upstreams ---------------------------------------------------------------------------- */

int cp_store_upstream_create(struct cp_store *st, const char *actor, const Edge__V1__Upstream *in,
                             Edge__V1__Upstream **ret_upstream, struct cp_store_err *err);
int cp_store_upstream_get(struct cp_store *st, const char *name, Edge__V1__Upstream **ret_upstream,
                          struct cp_store_err *err);
/* Sorted by name. */
int cp_store_upstream_list(struct cp_store *st, Edge__V1__ListUpstreamsResponse **ret_list,
                           struct cp_store_err *err);
/* Replaces the upstream named in->name whole (targets included); created_at is kept. */
int cp_store_upstream_update(struct cp_store *st, const char *actor, const Edge__V1__Upstream *in,
                             Edge__V1__Upstream **ret_upstream, struct cp_store_err *err);
/* -EBUSY while a route uses it, or a deployment that a stage serves (current or canary) has a
 * route that uses it; the message names them. */
int cp_store_upstream_delete(struct cp_store *st, const char *actor, const char *name,
                             uint64_t *ret_revision, struct cp_store_err *err);

/* ---- deployments, stages, domain mappings -------------------------------------------------- */

/* Freezes the API's routes into a new deployment ("d-" + 12 hex), creates the stage when it
 * does not exist and points it at the deployment. -ENODATA for an API without routes. */
int cp_store_deployment_create(struct cp_store *st, const char *actor, const char *api,
                               const char *stage, const char *description,
                               Edge__V1__Deployment **ret_deployment, struct cp_store_err *err);
/* The same, but the new deployment becomes the existing stage's canary at canary->percent
 * (sticky as given) and the stage keeps serving its deployment: -ENOENT without the stage,
 * -ENODATA when it serves no deployment yet. */
int cp_store_deployment_create_canary(struct cp_store *st, const char *actor, const char *api,
                                      const char *stage, const char *description,
                                      const Edge__V1__Canary *canary,
                                      Edge__V1__Deployment **ret_deployment,
                                      struct cp_store_err *err);
/* With its routes. */
int cp_store_deployment_get(struct cp_store *st, const char *api, const char *id,
                            Edge__V1__Deployment **ret_deployment, struct cp_store_err *err);
/* Newest first, routes left empty. */
int cp_store_deployment_list(struct cp_store *st, const char *api,
                             Edge__V1__ListDeploymentsResponse **ret_list,
                             struct cp_store_err *err);

/* in->deployment_id and in->canary->deployment_id, when set, must be deployments of the same
 * API (-ENOENT) whose upstreams all still exist (-ENODATA). */
int cp_store_stage_create(struct cp_store *st, const char *actor, const Edge__V1__Stage *in,
                          Edge__V1__Stage **ret_stage, struct cp_store_err *err);
int cp_store_stage_get(struct cp_store *st, const char *api, const char *name,
                       Edge__V1__Stage **ret_stage, struct cp_store_err *err);
/* Sorted by name; variables sorted by key. */
int cp_store_stage_list(struct cp_store *st, const char *api,
                        Edge__V1__ListStagesResponse **ret_list, struct cp_store_err *err);
/* Replaces stage (in->api, in->name) whole (variables included); created_at is kept. */
int cp_store_stage_update(struct cp_store *st, const char *actor, const Edge__V1__Stage *in,
                          Edge__V1__Stage **ret_stage, struct cp_store_err *err);
/* The canary deployment becomes the stage's deployment and the canary is cleared, in one
 * transaction; -ENODATA when the stage has no canary deployment. */
int cp_store_stage_promote_canary(struct cp_store *st, const char *actor, const char *api,
                                  const char *name, Edge__V1__Stage **ret_stage,
                                  struct cp_store_err *err);
/* -EBUSY while a domain mapping points at it. */
int cp_store_stage_delete(struct cp_store *st, const char *actor, const char *api, const char *name,
                          uint64_t *ret_revision, struct cp_store_err *err);

/* Needs the API and its stage (-ENOENT); (host, base_path) is unique (-EEXIST). */
int cp_store_domain_create(struct cp_store *st, const char *actor,
                           const Edge__V1__DomainMapping *in, Edge__V1__DomainMapping **ret_domain,
                           struct cp_store_err *err);
/* Sorted by (host, base_path). */
int cp_store_domain_list(struct cp_store *st, Edge__V1__ListDomainMappingsResponse **ret_list,
                         struct cp_store_err *err);
int cp_store_domain_delete(struct cp_store *st, const char *actor, const char *host,
                           const char *base_path, uint64_t *ret_revision, struct cp_store_err *err);

/* ---- API keys and usage plans (as far as the Config snapshot needs them) ------------------- */

/* Stores a key: in->name, enabled, expires_at and plans (names of existing plans, -ENOENT)
 * are used; secret_sha256 is the SHA-256 of the secret (32 bytes) and prefix its first
 * characters. The id is assigned ("k-" + 12 hex). The secret itself is never stored. */
int cp_store_key_create(struct cp_store *st, const char *actor, const Edge__V1__ApiKey *in,
                        const uint8_t secret_sha256[32], const char *prefix,
                        Edge__V1__ApiKey **ret_key, struct cp_store_err *err);
/* Stores a plan: name (unique), description, throttle, quota, stages (existing API stages,
 * -ENOENT) and route throttles. */
int cp_store_plan_create(struct cp_store *st, const char *actor, const Edge__V1__UsagePlan *in,
                         Edge__V1__UsagePlan **ret_plan, struct cp_store_err *err);

/* Keys (keys.c). "key" arguments name a key by id or by name (id first). Returned keys never
 * carry secret_sha256. Names are unique (-EEXIST "key 'x' already exists"); a duplicate
 * secret is -EEXIST without naming the key that holds it. A key is in at most one plan per
 * API stage: a change that breaks the rule is -EBUSY naming the key, stage and plans. */
/* Many keys in one transaction and one revision (tests and benchmarks). */
int cp_store_key_create_bulk(struct cp_store *st, const char *actor, Edge__V1__ApiKey *const *in,
                             const uint8_t (*secret_sha256)[32], const char *const *prefixes,
                             size_t n, uint64_t *ret_revision, struct cp_store_err *err);
int cp_store_key_get(struct cp_store *st, const char *key, Edge__V1__ApiKey **ret_key,
                     struct cp_store_err *err);
/* Sorted by name; plan non-empty: its subscribers only (-ENOENT for an unknown plan). */
int cp_store_key_list(struct cp_store *st, const char *plan,
                      Edge__V1__ListApiKeysResponse **ret_list, struct cp_store_err *err);
int cp_store_key_set_enabled(struct cp_store *st, const char *actor, const char *key, bool enabled,
                             Edge__V1__ApiKey **ret_key, struct cp_store_err *err);
/* New secret hash and prefix; id, name, plans kept. */
int cp_store_key_rotate(struct cp_store *st, const char *actor, const char *key,
                        const uint8_t secret_sha256[32], const char *prefix,
                        Edge__V1__ApiKey **ret_key, struct cp_store_err *err);
/* Revocation; its usage rows stay. */
int cp_store_key_delete(struct cp_store *st, const char *actor, const char *key,
                        uint64_t *ret_revision, struct cp_store_err *err);
/* Plans. Update replaces the plan named in->name whole (created_at kept). Delete is -EBUSY
 * while keys subscribe unless force, which unsubscribes them. */
int cp_store_plan_get(struct cp_store *st, const char *name, Edge__V1__UsagePlan **ret_plan,
                      struct cp_store_err *err);
int cp_store_plan_list(struct cp_store *st, Edge__V1__ListUsagePlansResponse **ret_list,
                       struct cp_store_err *err);
int cp_store_plan_update(struct cp_store *st, const char *actor, const Edge__V1__UsagePlan *in,
                         Edge__V1__UsagePlan **ret_plan, struct cp_store_err *err);
int cp_store_plan_delete(struct cp_store *st, const char *actor, const char *name, bool force,
                         uint64_t *ret_revision, struct cp_store_err *err);
/* Subscribes (add, idempotent) or unsubscribes (-ENOENT when it was not subscribed) a key;
 * returns the key with its plans. */
int cp_store_plan_key(struct cp_store *st, const char *actor, const char *plan, const char *key,
                      bool add, Edge__V1__ApiKey **ret_key, struct cp_store_err *err);
/* Usage (usage.c): counts per key, plan and UTC day ("YYYY-MM-DD"); adding bumps no revision.
 * Get: req->from/to default to the 30 days up to today (now), at most 366 days; rows sorted
 * by (key name, day) with the quota left in each day's period. */
int cp_store_usage_add(struct cp_store *st, const char *key_id, const char *plan, const char *day,
                       uint64_t count, struct cp_store_err *err);
/* Adding also sets the key's last_used_at (now). A batch (begin, adds, end) is one
 * transaction: one fsync for a whole usage report. */
int cp_store_usage_batch(struct cp_store *st, bool begin, struct cp_store_err *err);
/* The key's count under plan on the UTC days that [from_s, to_s) touches. */
int cp_store_usage_sum(struct cp_store *st, const char *key_id, const char *plan, int64_t from_s,
                       int64_t to_s, uint64_t *ret, struct cp_store_err *err);
int cp_store_usage_get(struct cp_store *st, const Edge__V1__GetUsageRequest *req, int64_t now,
                       Edge__V1__GetUsageResponse **ret_usage, struct cp_store_err *err);

/* ---- OpenAPI import ------------------------------------------------------------------------ */

/* Writes an import plan in one transaction (controlplane/importer makes the plan). resp->api
 * (name, title, version, description, api_key_source) and resp->upstreams (created when
 * missing, kept as they are when they exist) are read; routes (borrowed, validated) are
 * matched to the API's routes by (method, shape) with no host: "add", "change" (detail says
 * what) or "keep"; with OVERWRITE the API's other routes are removed ("remove"), with MERGE
 * they stay. CREATE needs a new API (-EEXIST). Fills resp->changes, replaces resp->api with
 * the stored API and sets resp->revision. dry_run does the same and rolls back (revision 0).
 * Any failure leaves nothing behind: -ENOENT for an upstream a route names that does not
 * exist, -EEXIST for conflicting routes, -E2BIG past CP_STORE_MAX_ROUTES_PER_API. */
int cp_store_api_import(struct cp_store *st, const char *actor, Edge__V1__ImportMode mode,
                        bool dry_run, const Edge__V1__ListRoutesResponse *routes,
                        Edge__V1__ImportApiResponse *resp, struct cp_store_err *err);

/* ---- nodes, status, audit ----------------------------------------------------------------- */

/* Sorted by id. */
int cp_store_node_list(struct cp_store *st, Edge__V1__ListNodesResponse **ret_list,
                       struct cp_store_err *err);

struct cp_store_counts {
    uint32_t apis;
    uint32_t routes;
    uint32_t upstreams;
    uint32_t stages;
    uint32_t deployments;
    uint32_t nodes_known;
};
int cp_store_counts(struct cp_store *st, struct cp_store_counts *ret_counts,
                    struct cp_store_err *err);

/* Entries with revision > after_revision, newest first; limit 0 means 100, capped at
 * CP_STORE_MAX_AUDIT_LIMIT. */
int cp_store_audit_list(struct cp_store *st, uint32_t limit, uint64_t after_revision,
                        Edge__V1__ListAuditResponse **ret_list, struct cp_store_err *err);

/* The database file this store opened. Borrowed. */
const char *cp_store_path(struct cp_store *st);
/* The schema version this binary migrates to. */
int cp_store_schema_version(void);

/* ---- incremental configuration (config.c, changes.c) --------------------------------------- */
/* Every write to a table that feeds a Config Resource records the resource's (type, id) in a
 * change log (SQLite triggers, so every write path is covered), numbered by a sequence that
 * only grows. The newest CP_STORE_CHANGES_KEPT entries are kept. */

#define CP_STORE_CHANGES_KEPT 100000

/* One Resource of the current configuration, exactly as cp_store_load_config() would carry
 * it: 0 and *ret_resource (owned), 1 when it is not in the configuration (gone, or a
 * deployment no stage serves), or a negative errno. Runs in the caller's read transaction
 * when there is one. */
int cp_store_resource_load(struct cp_store *st, Edge__V1__ResourceType type, const char *id,
                           Edge__V1__Resource **ret_resource);
/* cp_store_load_config() and, read in the same transaction, the newest change sequence that
 * configuration includes. */
int cp_store_load_config_seq(struct cp_store *st, Edge__V1__ConfigUpdate **ret_update,
                             uint64_t *ret_seq);
/* What changed after after_seq, as loaded at the current revision, in one transaction: a
 * ConfigUpdate (full=false, base_revision 0) whose put holds the changed resources that exist
 * and remove the ones that do not, each (type, id) once, both sorted by (type, id); revision
 * and store_id are set. *ret_seq is the newest sequence it includes. A resource may be in put
 * although it is unchanged, or in remove although the caller never had it. Returns 1 (and
 * nothing) when the log no longer holds every change after after_seq or holds more than
 * max_changes of them: the caller reloads everything (cp_store_load_config_seq()). */
int cp_store_load_changes(struct cp_store *st, uint64_t after_seq, size_t max_changes,
                          Edge__V1__ConfigUpdate **ret_delta, uint64_t *ret_seq);

#endif
