/* Idle keep-alive connections to one target, per worker: an intrusive LIFO list (the most
 * recently used connection is the least likely to have been closed by the upstream). */
#ifndef DP_POOL_H
#define DP_POOL_H

#include <stddef.h>

struct dp_pool_link {
    struct dp_pool_link *prev, *next;
};

struct dp_pool {
    struct dp_pool_link head; /* circular; empty when head.next == &head */
    unsigned n_idle;
    unsigned active; /* this worker's requests in flight to the target (least request) */
};

void dp_pool_init(struct dp_pool *p);
void dp_pool_push(struct dp_pool *p, struct dp_pool_link *l);
/* NULL when empty. */
struct dp_pool_link *dp_pool_pop(struct dp_pool *p);
void dp_pool_remove(struct dp_pool *p, struct dp_pool_link *l);

#endif
