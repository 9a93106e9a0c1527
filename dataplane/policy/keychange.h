/* What a revision does to the API keys: the config client collects it (cpmerge) and the
 * compile applies it to the key store (policy/keystore.h), which keys live in instead of the
 * snapshots. */
#ifndef DP_POLICY_KEYCHANGE_H
#define DP_POLICY_KEYCHANGE_H

#include "edge/v1/resources.pb-c.h"

#include <stdbool.h>
#include <stddef.h>

struct dp_key_change {
    const char *id;
    const Edge__V1__ApiKey *key; /* NULL: removed */
};

/* Changes sorted by id, one per key. With reset, the keys put are all the keys (and there
 * are no removes). */
struct dp_key_changes {
    bool reset;
    const struct dp_key_change *changes;
    size_t n;
};

#endif
