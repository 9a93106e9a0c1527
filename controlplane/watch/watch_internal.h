/* The watch's core, apart from the streams so that tests can drive it without gRPC calls: the
 * configuration of one revision, held as packed Resources sorted by (type, id), kept current
 * from the store's change log, and the packed messages that bring a node to it. */
#ifndef CP_WATCH_INTERNAL_H
#define CP_WATCH_INTERNAL_H

#include "store/store.h"

#include <grpc/slice.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One Resource, packed: a node gets these bytes as they are, and "unchanged" is a memcmp.
 * One allocation: the id, a NUL, then size bytes of the packed edge.v1.Resource. */
struct cp_watch_res {
    Edge__V1__ResourceType type;
    uint32_t id_len;
    uint32_t size;
    char data[];
};

struct cp_watch_config {
    struct cp_watch_res **res; /* sorted by (type, id) */
    size_t n;
    size_t put_bytes; /* sum of the packed sizes */
    uint64_t revision;
    uint64_t seq; /* the newest store change this configuration includes */
    char *store_id;
    bool loaded;
    unsigned full_loads; /* how many refreshes reloaded everything (tests, logs) */
};

/* More changes than this (or than half the resources held, whichever is more) since the
 * last refresh: reload everything and diff instead. */
#define CP_WATCH_MAX_CHANGES 50000

static inline const uint8_t *
cp_watch_res_bytes(const struct cp_watch_res *r)
{
    return (const uint8_t *)r->data + r->id_len + 1;
}

void cp_watch_config_done(struct cp_watch_config *c);
/* Brings c to the store's current configuration. Returns 0 when the store has not moved
 * (nothing else happens), 2 when c was loaded for the first time (no delta), 1 when it moved:
 * *ret_delta (when not NULL) is then the packed delta ConfigUpdate from the old revision
 * (base_revision) to the new one, owned by the caller, and *ret_changes its put + remove
 * count. Cost: proportional to what changed, except on the first load and when the change
 * log misses entries or holds too many (see CP_WATCH_MAX_CHANGES: a full reload and a diff). On
 * failure (a negative errno) c is as it was. */
int cp_watch_config_refresh(struct cp_watch_config *c, struct cp_store *st,
                            unsigned nodes_connected, grpc_slice *ret_delta, size_t *ret_changes);
/* The full snapshot of c (full=true), packed; owned by the caller. */
grpc_slice cp_watch_config_pack_full(const struct cp_watch_config *c, unsigned nodes_connected);
/* Borrowed; NULL when c has no such resource. */
const struct cp_watch_res *cp_watch_config_find(const struct cp_watch_config *c,
                                                Edge__V1__ResourceType type, const char *id);

#endif
