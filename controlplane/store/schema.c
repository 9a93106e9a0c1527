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
    /* Incremental snapshots: every write to a table that feeds a Config Resource records the
     * resource's (type, id) in changes (ResourceType numbers of config.proto: 1 api,
     * 2 upstream, 3 deployment, 4 stage "api/stage", 5 domain "host base_path", 6 key,
     * 7 plan), so that the watch reloads only what changed whatever the write path (Admin,
     * importer, bulk). Duplicates are fine: readers dedup. INSERT ... SELECT skips an owner
     * that is already gone: the owner's own trigger recorded it. AUTOINCREMENT keeps seq
     * growing after rows are deleted; every commit (the revision bump) drops all but the
     * newest 100000 rows, and a reader whose last seq is older reloads everything.
     * api_keys.last_used_at is not in the trigger: it is usage, not configuration. */
    "CREATE TABLE changes ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  type INTEGER NOT NULL,"
    "  id TEXT NOT NULL);"
    "CREATE TRIGGER changes_trim AFTER UPDATE OF revision ON meta BEGIN"
    "  DELETE FROM changes WHERE seq <= (SELECT max(seq) FROM changes) - 100000; END;"

    "CREATE TRIGGER changes_apis_i AFTER INSERT ON apis BEGIN"
    "  INSERT INTO changes (type, id) VALUES (1, NEW.name); END;"
    "CREATE TRIGGER changes_apis_u AFTER UPDATE ON apis BEGIN"
    "  INSERT INTO changes (type, id) VALUES (1, OLD.name), (1, NEW.name); END;"
    "CREATE TRIGGER changes_apis_rename AFTER UPDATE OF name ON apis"
    "  WHEN OLD.name IS NOT NEW.name BEGIN"
    "  INSERT INTO changes (type, id) SELECT 4, OLD.name || '/' || name FROM stages"
    "    WHERE api_id = NEW.id;"
    "  INSERT INTO changes (type, id) SELECT 4, NEW.name || '/' || name FROM stages"
    "    WHERE api_id = NEW.id;"
    "  INSERT INTO changes (type, id) SELECT 3, id FROM deployments WHERE api_id = NEW.id;"
    "  INSERT INTO changes (type, id) SELECT 5, d.host || ' ' || d.base_path"
    "    FROM domain_mappings d JOIN stages g ON g.id = d.stage_id WHERE g.api_id = NEW.id;"
    "  INSERT INTO changes (type, id) SELECT 7, p.name FROM plan_stages ps"
    "    JOIN stages g ON g.id = ps.stage_id JOIN usage_plans p ON p.id = ps.plan_id"
    "    WHERE g.api_id = NEW.id; END;"
    "CREATE TRIGGER changes_apis_d BEFORE DELETE ON apis BEGIN"
    "  INSERT INTO changes (type, id) VALUES (1, OLD.name);"
    "  INSERT INTO changes (type, id) SELECT 4, OLD.name || '/' || name FROM stages"
    "    WHERE api_id = OLD.id;"
    "  INSERT INTO changes (type, id) SELECT 3, id FROM deployments WHERE api_id = OLD.id;"
    "  INSERT INTO changes (type, id) SELECT 7, p.name FROM plan_stages ps"
    "    JOIN stages g ON g.id = ps.stage_id JOIN usage_plans p ON p.id = ps.plan_id"
    "    WHERE g.api_id = OLD.id; END;"

    /* routes: the API's route_count. */
    "CREATE TRIGGER changes_routes_i AFTER INSERT ON routes BEGIN"
    "  INSERT INTO changes (type, id) SELECT 1, name FROM apis WHERE id = NEW.api_id; END;"
    "CREATE TRIGGER changes_routes_u AFTER UPDATE OF api_id ON routes BEGIN"
    "  INSERT INTO changes (type, id) SELECT 1, name FROM apis"
    "    WHERE id IN (OLD.api_id, NEW.api_id); END;"
    "CREATE TRIGGER changes_routes_d AFTER DELETE ON routes BEGIN"
    "  INSERT INTO changes (type, id) SELECT 1, name FROM apis WHERE id = OLD.api_id; END;"

    "CREATE TRIGGER changes_upstreams_i AFTER INSERT ON upstreams BEGIN"
    "  INSERT INTO changes (type, id) VALUES (2, NEW.name); END;"
    "CREATE TRIGGER changes_upstreams_u AFTER UPDATE ON upstreams BEGIN"
    "  INSERT INTO changes (type, id) VALUES (2, OLD.name), (2, NEW.name); END;"
    "CREATE TRIGGER changes_upstreams_d AFTER DELETE ON upstreams BEGIN"
    "  INSERT INTO changes (type, id) VALUES (2, OLD.name); END;"
    "CREATE TRIGGER changes_targets_i AFTER INSERT ON upstream_targets BEGIN"
    "  INSERT INTO changes (type, id) SELECT 2, name FROM upstreams"
    "    WHERE id = NEW.upstream_id; END;"
    "CREATE TRIGGER changes_targets_u AFTER UPDATE ON upstream_targets BEGIN"
    "  INSERT INTO changes (type, id) SELECT 2, name FROM upstreams"
    "    WHERE id IN (OLD.upstream_id, NEW.upstream_id); END;"
    "CREATE TRIGGER changes_targets_d AFTER DELETE ON upstream_targets BEGIN"
    "  INSERT INTO changes (type, id) SELECT 2, name FROM upstreams"
    "    WHERE id = OLD.upstream_id; END;"

    /* A deployment is in the configuration while a stage serves it (current or canary). */
    "CREATE TRIGGER changes_deployments_i AFTER INSERT ON deployments BEGIN"
    "  INSERT INTO changes (type, id) VALUES (3, NEW.id); END;"
    "CREATE TRIGGER changes_deployments_u AFTER UPDATE ON deployments BEGIN"
    "  INSERT INTO changes (type, id) VALUES (3, OLD.id), (3, NEW.id); END;"
    "CREATE TRIGGER changes_deployments_d AFTER DELETE ON deployments BEGIN"
    "  INSERT INTO changes (type, id) VALUES (3, OLD.id); END;"

    "CREATE TRIGGER changes_stages_i AFTER INSERT ON stages BEGIN"
    "  INSERT INTO changes (type, id) SELECT 4, name || '/' || NEW.name FROM apis"
    "    WHERE id = NEW.api_id;"
    "  INSERT INTO changes (type, id) SELECT 3, v FROM"
    "    (SELECT NEW.deployment_id AS v UNION SELECT NEW.canary_deployment_id)"
    "    WHERE v IS NOT NULL; END;"
    "CREATE TRIGGER changes_stages_u AFTER UPDATE ON stages BEGIN"
    "  INSERT INTO changes (type, id) SELECT 4, name || '/' || OLD.name FROM apis"
    "    WHERE id = OLD.api_id;"
    "  INSERT INTO changes (type, id) SELECT 4, name || '/' || NEW.name FROM apis"
    "    WHERE id = NEW.api_id;"
    "  INSERT INTO changes (type, id) SELECT 3, v FROM"
    "    (SELECT OLD.deployment_id AS v UNION SELECT OLD.canary_deployment_id"
    "     UNION SELECT NEW.deployment_id UNION SELECT NEW.canary_deployment_id)"
    "    WHERE v IS NOT NULL; END;"
    "CREATE TRIGGER changes_stages_rename AFTER UPDATE OF name, api_id ON stages"
    "  WHEN OLD.name IS NOT NEW.name OR OLD.api_id IS NOT NEW.api_id BEGIN"
    "  INSERT INTO changes (type, id) SELECT 5, host || ' ' || base_path FROM domain_mappings"
    "    WHERE stage_id = NEW.id;"
    "  INSERT INTO changes (type, id) SELECT 7, p.name FROM plan_stages ps"
    "    JOIN usage_plans p ON p.id = ps.plan_id WHERE ps.stage_id = NEW.id; END;"
    "CREATE TRIGGER changes_stages_d AFTER DELETE ON stages BEGIN"
    "  INSERT INTO changes (type, id) SELECT 4, name || '/' || OLD.name FROM apis"
    "    WHERE id = OLD.api_id;"
    "  INSERT INTO changes (type, id) SELECT 3, v FROM"
    "    (SELECT OLD.deployment_id AS v UNION SELECT OLD.canary_deployment_id)"
    "    WHERE v IS NOT NULL; END;"
    "CREATE TRIGGER changes_stage_vars_i AFTER INSERT ON stage_variables BEGIN"
    "  INSERT INTO changes (type, id) SELECT 4, a.name || '/' || g.name FROM stages g"
    "    JOIN apis a ON a.id = g.api_id WHERE g.id = NEW.stage_id; END;"
    "CREATE TRIGGER changes_stage_vars_u AFTER UPDATE ON stage_variables BEGIN"
    "  INSERT INTO changes (type, id) SELECT 4, a.name || '/' || g.name FROM stages g"
    "    JOIN apis a ON a.id = g.api_id WHERE g.id IN (OLD.stage_id, NEW.stage_id); END;"
    "CREATE TRIGGER changes_stage_vars_d AFTER DELETE ON stage_variables BEGIN"
    "  INSERT INTO changes (type, id) SELECT 4, a.name || '/' || g.name FROM stages g"
    "    JOIN apis a ON a.id = g.api_id WHERE g.id = OLD.stage_id; END;"

    "CREATE TRIGGER changes_domains_i AFTER INSERT ON domain_mappings BEGIN"
    "  INSERT INTO changes (type, id) VALUES (5, NEW.host || ' ' || NEW.base_path); END;"
    "CREATE TRIGGER changes_domains_u AFTER UPDATE ON domain_mappings BEGIN"
    "  INSERT INTO changes (type, id) VALUES (5, OLD.host || ' ' || OLD.base_path),"
    "    (5, NEW.host || ' ' || NEW.base_path); END;"
    "CREATE TRIGGER changes_domains_d AFTER DELETE ON domain_mappings BEGIN"
    "  INSERT INTO changes (type, id) VALUES (5, OLD.host || ' ' || OLD.base_path); END;"

    "CREATE TRIGGER changes_keys_i AFTER INSERT ON api_keys BEGIN"
    "  INSERT INTO changes (type, id) VALUES (6, NEW.id); END;"
    "CREATE TRIGGER changes_keys_u AFTER UPDATE OF id, name, prefix, secret_sha256, enabled,"
    "  expires_at, created_at ON api_keys BEGIN"
    "  INSERT INTO changes (type, id) VALUES (6, OLD.id), (6, NEW.id); END;"
    "CREATE TRIGGER changes_keys_d AFTER DELETE ON api_keys BEGIN"
    "  INSERT INTO changes (type, id) VALUES (6, OLD.id); END;"
    "CREATE TRIGGER changes_plan_keys_i AFTER INSERT ON plan_keys BEGIN"
    "  INSERT INTO changes (type, id) VALUES (6, NEW.key_id); END;"
    "CREATE TRIGGER changes_plan_keys_u AFTER UPDATE ON plan_keys BEGIN"
    "  INSERT INTO changes (type, id) VALUES (6, OLD.key_id), (6, NEW.key_id); END;"
    "CREATE TRIGGER changes_plan_keys_d AFTER DELETE ON plan_keys BEGIN"
    "  INSERT INTO changes (type, id) VALUES (6, OLD.key_id); END;"

    "CREATE TRIGGER changes_plans_i AFTER INSERT ON usage_plans BEGIN"
    "  INSERT INTO changes (type, id) VALUES (7, NEW.name); END;"
    "CREATE TRIGGER changes_plans_u AFTER UPDATE ON usage_plans BEGIN"
    "  INSERT INTO changes (type, id) VALUES (7, OLD.name), (7, NEW.name); END;"
    "CREATE TRIGGER changes_plans_rename AFTER UPDATE OF name ON usage_plans"
    "  WHEN OLD.name IS NOT NEW.name BEGIN"
    "  INSERT INTO changes (type, id) SELECT 6, key_id FROM plan_keys WHERE plan_id = NEW.id;"
    "  END;"
    "CREATE TRIGGER changes_plans_d BEFORE DELETE ON usage_plans BEGIN"
    "  INSERT INTO changes (type, id) VALUES (7, OLD.name);"
    "  INSERT INTO changes (type, id) SELECT 6, key_id FROM plan_keys WHERE plan_id = OLD.id;"
    "  END;"
    "CREATE TRIGGER changes_plan_stages_i AFTER INSERT ON plan_stages BEGIN"
    "  INSERT INTO changes (type, id) SELECT 7, name FROM usage_plans WHERE id = NEW.plan_id;"
    "  END;"
    "CREATE TRIGGER changes_plan_stages_u AFTER UPDATE ON plan_stages BEGIN"
    "  INSERT INTO changes (type, id) SELECT 7, name FROM usage_plans"
    "    WHERE id IN (OLD.plan_id, NEW.plan_id); END;"
    "CREATE TRIGGER changes_plan_stages_d AFTER DELETE ON plan_stages BEGIN"
    "  INSERT INTO changes (type, id) SELECT 7, name FROM usage_plans WHERE id = OLD.plan_id;"
    "  END;",
};

const int cp_store_n_migrations = sizeof(cp_store_migrations) / sizeof(cp_store_migrations[0]);
