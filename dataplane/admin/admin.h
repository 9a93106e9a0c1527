/* The admin port on the main loop: /metrics (Prometheus text), /ready, /live, /config. A tiny
 * HTTP/1.0-style server: one request per connection, answered and closed. */
#ifndef DP_ADMIN_H
#define DP_ADMIN_H

#include <stddef.h>

struct dp_daemon;
struct dp_admin;

/* Listens on addr ("127.0.0.1:9901"). NULL on failure (message in err). */
struct dp_admin *dp_admin_new(struct dp_daemon *d, const char *addr, char *err, size_t err_len);
/* Accepts NULL; returns NULL. */
struct dp_admin *dp_admin_free(struct dp_admin *a);

/* Renders the Prometheus text (owned by the caller, free()); NULL on allocation failure. */
char *dp_admin_metrics(const struct dp_daemon *d, size_t *ret_len);

#endif
