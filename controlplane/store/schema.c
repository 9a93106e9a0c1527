/* The schema as forward-only migrations: migrations[i] takes PRAGMA user_version from i to
 * i + 1. Never edit a released step; append a new one. Each step runs inside the open's
 * migration transaction, so a database is never left half-migrated.
 *
 * Conventions: integer row ids for joins, text ids where the wire carries one (routes,
 * deployments, keys); names unique per scope; ON DELETE CASCADE only where the owner's
 * deletion is meant to take the rows along (an API its routes, an upstream its targets);
 * references that must block a deletion (a route's upstream, a mapping's stage) have none, and
 * the store checks them first to name the dependents. Nested lists that nobody queries
 * (header matches, route throttles) are JSON text. */
#include "store_internal.h"

const char *const cp_store_migrations[] = {
    /* 0 -> 1: the Foundation schema. */
    "CREATE TABLE meta ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  revision INTEGER NOT NULL,"
    "  store_id TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"

    "CREATE TABLE apis ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"

    "CREATE TABLE upstreams ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  lb INTEGER NOT NULL,"
    "  connect_timeout_ms INTEGER NOT NULL,"
    "  timeout_ms INTEGER NOT NULL,"
    "  retries INTEGER NOT NULL,"
    "  pool_size INTEGER NOT NULL,"
    "  tls INTEGER NOT NULL,"
    "  sni TEXT NOT NULL,"
    "  hc_set INTEGER NOT NULL,"
    "  hc_path TEXT NOT NULL,"
    "  hc_interval_ms INTEGER NOT NULL,"
    "  hc_timeout_ms INTEGER NOT NULL,"
    "  hc_healthy INTEGER NOT NULL,"
    "  hc_unhealthy INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL);"

    "CREATE TABLE upstream_targets ("
    "  upstream_id INTEGER NOT NULL REFERENCES upstreams(id) ON DELETE CASCADE,"
    "  pos INTEGER NOT NULL,"
    "  host TEXT NOT NULL,"
    "  port INTEGER NOT NULL,"
    "  weight INTEGER NOT NULL,"
    "  PRIMARY KEY (upstream_id, pos));"

    "CREATE TABLE routes ("
    "  id TEXT PRIMARY KEY,"
    "  api_id INTEGER NOT NULL REFERENCES apis(id) ON DELETE CASCADE,"
    "  method TEXT NOT NULL,"
    "  path TEXT NOT NULL,"
    "  shape TEXT NOT NULL,"
    "  host TEXT NOT NULL,"
    "  headers TEXT NOT NULL," /* JSON [{"name":..,"value":..}] */
    "  upstream_id INTEGER NOT NULL REFERENCES upstreams(id),"
    "  integration_path TEXT NOT NULL,"
    "  integration_timeout_ms INTEGER NOT NULL,"
    "  api_key_required INTEGER NOT NULL,"
    "  authorizer TEXT NOT NULL,"
    "  max_body_bytes INTEGER NOT NULL,"
    "  throttle_rate REAL," /* NULL: no override */
    "  throttle_burst INTEGER,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (api_id, host, method, shape));"
    "CREATE INDEX routes_upstream ON routes(upstream_id);"

    /* routes: a packed edge.v1.ListRoutesResponse, frozen at creation. */
    "CREATE TABLE deployments ("
    "  id TEXT PRIMARY KEY,"
    "  api_id INTEGER NOT NULL REFERENCES apis(id) ON DELETE CASCADE,"
    "  description TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  revision INTEGER NOT NULL,"
    "  routes BLOB NOT NULL);"
    "CREATE INDEX deployments_api ON deployments(api_id);"

    /* Which upstreams a deployment's routes name: by name, because a deployment no stage
     * serves must not keep its upstreams from being deleted. */
    "CREATE TABLE deployment_upstreams ("
    "  deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,"
    "  upstream TEXT NOT NULL,"
    "  PRIMARY KEY (deployment_id, upstream));"
    "CREATE INDEX deployment_upstreams_upstream ON deployment_upstreams(upstream);"

    "CREATE TABLE stages ("
    "  id INTEGER PRIMARY KEY,"
    "  api_id INTEGER NOT NULL REFERENCES apis(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  deployment_id TEXT REFERENCES deployments(id),"
    "  throttle_rate REAL,"
    "  throttle_burst INTEGER,"
    "  canary_deployment_id TEXT REFERENCES deployments(id),"
    "  canary_percent REAL NOT NULL,"
    "  canary_sticky INTEGER NOT NULL,"
    "  canary_set INTEGER NOT NULL,"
    "  description TEXT NOT NULL,"
    "  access_log INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  UNIQUE (api_id, name));"

    "CREATE TABLE stage_variables ("
    "  stage_id INTEGER NOT NULL REFERENCES stages(id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (stage_id, name));"

    "CREATE TABLE domain_mappings ("
    "  host TEXT NOT NULL,"
    "  base_path TEXT NOT NULL,"
    "  stage_id INTEGER NOT NULL REFERENCES stages(id),"
    "  certificate TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (host, base_path));"
    "CREATE INDEX domain_mappings_stage ON domain_mappings(stage_id);"

    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  prefix TEXT NOT NULL,"
    "  secret_sha256 BLOB NOT NULL UNIQUE,"
    "  enabled INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  last_used_at INTEGER NOT NULL);"

    "CREATE TABLE usage_plans ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  description TEXT NOT NULL,"
    "  throttle_rate REAL,"
    "  throttle_burst INTEGER,"
    "  quota_limit INTEGER," /* NULL: no quota */
    "  quota_period INTEGER NOT NULL,"
    "  route_throttles TEXT NOT NULL," /* JSON [{"api","stage","method","path","rate","burst"}] */
    "  created_at INTEGER NOT NULL);"

    "CREATE TABLE plan_stages ("
    "  plan_id INTEGER NOT NULL REFERENCES usage_plans(id) ON DELETE CASCADE,"
    "  stage_id INTEGER NOT NULL REFERENCES stages(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (plan_id, stage_id));"

    "CREATE TABLE plan_keys ("
    "  plan_id INTEGER NOT NULL REFERENCES usage_plans(id) ON DELETE CASCADE,"
    "  key_id TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (plan_id, key_id));"
    "CREATE INDEX plan_keys_key ON plan_keys(key_id);"

    "CREATE TABLE nodes ("
    "  id TEXT PRIMARY KEY,"
    "  address TEXT NOT NULL,"
    "  version TEXT NOT NULL,"
    "  acked_revision INTEGER NOT NULL DEFAULT 0,"
    "  nacked_revision INTEGER NOT NULL DEFAULT 0,"
    "  last_error TEXT NOT NULL DEFAULT '',"
    "  last_seen INTEGER NOT NULL,"
    "  connected INTEGER NOT NULL,"
    "  first_seen INTEGER NOT NULL);"

    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY,"
    "  revision INTEGER NOT NULL,"
    "  at INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  object_type TEXT NOT NULL,"
    "  object_id TEXT NOT NULL);"
    "CREATE INDEX audit_revision ON audit(revision);"

    "CREATE TABLE admin_tokens ("
    "  id INTEGER PRIMARY KEY,"
    "  sha256 BLOB NOT NULL UNIQUE,"
    "  created_at INTEGER NOT NULL);",

    /* API keys and usage plans: key names become unique (no Admin call could create keys
     * before this step, so no duplicates exist); per key, plan and UTC day request counts
     * reported by the nodes. usage names its key and plan as text without a reference, so
     * that the history outlives a revoked key or a deleted plan. */
    "CREATE UNIQUE INDEX api_keys_name ON api_keys(name);"
    "CREATE TABLE usage ("
    "  key_id TEXT NOT NULL,"
    "  plan TEXT NOT NULL,"
    "  day TEXT NOT NULL," /* YYYY-MM-DD, UTC */
    "  count INTEGER NOT NULL,"
    "  PRIMARY KEY (plan, key_id, day));",

    /* OpenAPI import/export: what a document says about the API and each operation. The
     * defaults make existing rows read as they did before. auth_requirements is a JSON array
     * of scheme names. */
    "ALTER TABLE apis ADD COLUMN title TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE apis ADD COLUMN version TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE apis ADD COLUMN api_key_source TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE routes ADD COLUMN operation_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE routes ADD COLUMN summary TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE routes ADD COLUMN api_key_in TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE routes ADD COLUMN api_key_name TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE routes ADD COLUMN auth_requirements TEXT NOT NULL DEFAULT '[]';",
};

const int cp_store_n_migrations = sizeof(cp_store_migrations) / sizeof(cp_store_migrations[0]);
