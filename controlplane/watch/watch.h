/* Config/Watch: one bidi stream per data-plane node. Sends the full snapshot on connect (or an
 * empty update when the node already holds the current revision), then a delta for every
 * committed revision; records acks and nacks. */
#ifndef CP_WATCH_H
#define CP_WATCH_H

#include <stdint.h>

struct cp_ctx;
struct cp_watch;

/* node_token (borrowed, may be NULL): when set, a Watch call must carry
 * "authorization: Bearer <node_token>" or gets UNAUTHENTICATED. */
struct cp_watch *cp_watch_new(struct cp_ctx *cp, const char *node_token);
/* Registers /edge.v1.Config/Watch on cp->rpc. */
int cp_watch_register(struct cp_watch *w);
/* Called after every committed mutation: builds the new snapshot and pushes it (as a delta)
 * to every connected node. Cheap when nothing changed. */
void cp_watch_publish(struct cp_watch *w);
unsigned cp_watch_connected(const struct cp_watch *w);
/* Ends every stream (UNAVAILABLE, "server shutting down"). */
void cp_watch_shutdown(struct cp_watch *w);
void cp_watch_free(struct cp_watch *w);

#endif
