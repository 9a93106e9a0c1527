/* The config client's merge state: the complete configuration a node holds, and the updates of
 * the Config/Watch stream (full snapshots and deltas) folded into it.
 *
 * Two configurations live here: the held one (last accepted: the base of the next delta and
 * what Hello reports) and a pending one (held + the updates received since, not yet accepted).
 * Updates fold into the pending one; dp_cpmerge_commit() makes it the held one (the node
 * accepted it), dp_cpmerge_rollback() drops it (the node rejected it, or the stream broke).
 * API keys are not kept: see dp_cpmerge_pending_keys(). Resources are kept sorted by (type, id) and
 * are shared, not copied, between the two: a delta of one key against a million costs one pointer
 * array, not a million copies.
 *
 * Not thread-safe: one thread (the node's main loop) owns a dp_cpmerge. */
#ifndef DP_CPMERGE_H
#define DP_CPMERGE_H

#include "edge/v1/config.pb-c.h"
#include "policy/keychange.h"

#include <stddef.h>
#include <stdint.h>

/* dp_cpmerge_update(): the update says "you are current"; there is nothing new to apply. */
#define DP_CPMERGE_CURRENT 1

struct dp_cpmerge;

struct dp_cpmerge *dp_cpmerge_new(void);
/* Accepts NULL; returns NULL. */
struct dp_cpmerge *dp_cpmerge_free(struct dp_cpmerge *m);

/* Folds one update (taken: freed or its resources moved, whatever the result) into the pending
 * configuration, starting a pending one from the held one when there is none.
 * Returns 0 when the pending configuration changed; DP_CPMERGE_CURRENT for an empty update at
 * the revision already pending or held; -ESTALE when a delta does not apply to what is pending
 * (base revision or store id differ: the caller must ask for a full snapshot); -EINVAL for an
 * update that makes no sense (a resource twice, put and remove of one resource, a delta
 * to revision 0);
 * -ENOMEM. On a negative result the pending configuration is unchanged and err says why. */
int dp_cpmerge_update(struct dp_cpmerge *m, Edge__V1__ConfigUpdate *upd, char *err, size_t err_len);

/* The pending configuration as a full update (full=true, put sorted by type and id), or NULL
 * when nothing is pending. Borrowed: valid until the next call on m. */
const Edge__V1__ConfigUpdate *dp_cpmerge_pending(const struct dp_cpmerge *m);
/* The held configuration (same shape); never NULL (revision 0, no resources: nothing held). */
const Edge__V1__ConfigUpdate *dp_cpmerge_held(const struct dp_cpmerge *m);

/* The API keys of the pending updates, apart from dp_cpmerge_pending() (which holds none):
 * the changes since the held configuration, or with reset all of them. The node keeps keys
 * in its key store; this holds them only until dp_cpmerge_commit() or _rollback(). Borrowed;
 * never NULL (n is 0 when nothing is pending). */
const struct dp_key_changes *dp_cpmerge_pending_keys(const struct dp_cpmerge *m);

/* The pending configuration packed as an edge.v1.ConfigUpdate (what dp_cpmerge_pending()
 * shows), into *ret_buf (owned; free()). Cheap: resources are packed once, when they arrive.
 * -ENOENT when nothing is pending; -ENOMEM. */
int dp_cpmerge_pack_pending(const struct dp_cpmerge *m, uint8_t **ret_buf, size_t *ret_len);

/* The pending configuration becomes the held one. No-op when nothing is pending. */
void dp_cpmerge_commit(struct dp_cpmerge *m);
/* Drops the pending configuration; the held one stays. No-op when nothing is pending. */
void dp_cpmerge_rollback(struct dp_cpmerge *m);

#endif
