/* The node: main loop, workers, the current snapshot, config application and shutdown. */
#ifndef DP_DAEMON_H
#define DP_DAEMON_H

#include "core/worker.h"
#include "edge/v1/config.pb-c.h"
#include "snapshot/snapshot.h"

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

struct dp_admin;
struct dp_cplink;

struct dp_daemon {
    struct ev_loop *loop; /* the main thread's */
    struct dp_settings settings;
    struct dp_worker *workers;
    unsigned n_workers;
    struct dp_registries reg;
    struct dp_snapshot *current; /* main thread's reference; NULL before the first config */
    uint64_t applied, rejected;
    char last_error[256];
    struct dp_admin *admin;
    struct dp_cplink *cp;
    const char *node_id;
    ev_signal sigterm, sigint, sighup;
    const char *config_file; /* --config-file: reloaded on SIGHUP */
    ev_timer drain_timer;
    ev_async joined; /* the workers have all ended */
    uint32_t drain_timeout_ms;
    bool stopping;
};

/* Starts workers (listeners are opened first so that a bad address fails the start). */
int dp_daemon_init(struct dp_daemon *d, struct ev_loop *loop, char *err, size_t err_len);
/* Compiles and publishes a full configuration with its key changes (NULL: cfg's own key
 * resources are all the keys). Main thread. */
int dp_daemon_apply(struct dp_daemon *d, const Edge__V1__ConfigUpdate *cfg,
                    const struct dp_key_changes *keys, char *err, size_t err_len);
/* Loads a packed ConfigUpdate from a file (the --config-file debug path). */
int dp_daemon_load_file(struct dp_daemon *d, const char *path, char *err, size_t err_len);
/* Runs the main loop until shutdown has completed. */
void dp_daemon_run(struct dp_daemon *d);
void dp_daemon_done(struct dp_daemon *d);

/* The config client link (cplink.c, or cplink_none.c when built without the client). */
struct dp_cplink_config {
    const char *target, *cache_dir, *node_id, *token;
    const char *ca_file, *cert_file, *key_file; /* TLS to the control plane; NULL: plaintext */
};
int dp_cplink_start(struct dp_daemon *d, const struct dp_cplink_config *cfg, char *err,
                    size_t err_len);
void dp_cplink_stop(struct dp_daemon *d);
bool dp_cplink_connected(const struct dp_daemon *d);
const char *dp_cplink_node_id(const struct dp_daemon *d);

#endif
