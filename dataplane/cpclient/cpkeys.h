/* The API keys in the config client's cache directory, apart from snapshot.pb: with a million
 * keys, rewriting every key for each revoke would cost a 100 MB write per delta.
 *
 * keys.pb is the base: a packed edge.v1.ConfigUpdate (full, store id, revision B) whose put
 * holds every key as of B, with only what a node needs (id, hash, plans, enabled, expiry).
 * keys.log follows it: one record per later revision that changed keys (a 4-byte
 * little-endian length, then a packed ConfigUpdate with that revision's key puts and
 * removes), each made durable (fdatasync) before the revision is acked. The base is rewritten,
 * and the log emptied, on a full snapshot and when the log outgrows it.
 *
 * A crash leaves at worst a torn last record (ignored, and cut off at the next load) or a log
 * with records past snapshot.pb's revision (not applied, cut off too). Library code: returns
 * negative errno, does not log. */
#ifndef DP_CPKEYS_H
#define DP_CPKEYS_H

#include "edge/v1/config.pb-c.h"
#include "policy/keychange.h"

#include <stddef.h>
#include <stdint.h>

#define DP_CPKEYS_BASE "keys.pb"
#define DP_CPKEYS_LOG  "keys.log"
/* The log is folded into a new base once it is this big and bigger than half the base. */
#define DP_CPKEYS_LOG_MIN_COMPACT ((size_t)1 << 20)

struct dp_cpkeys_writer;

/* A new base for revision of store_id: keys are added one at a time (streamed to a temp
 * file), then committed (fsync, rename; the log is emptied) or aborted. */
int dp_cpkeys_begin(const char *dir, const char *store_id, uint64_t revision,
                    struct dp_cpkeys_writer **ret);
int dp_cpkeys_add(struct dp_cpkeys_writer *w, const char *id, const Edge__V1__ApiKey *key);
/* Frees w, whatever the result. */
int dp_cpkeys_commit(struct dp_cpkeys_writer *w);
void dp_cpkeys_abort(struct dp_cpkeys_writer *w);

/* Appends revision's key changes (not a reset) to the log, durably. The sizes of the log and
 * base after it go to *ret_log and *ret_base (0 when there is no base: the log is then not
 * written, -ENOENT: a base must come first). */
int dp_cpkeys_append(const char *dir, uint64_t revision, const struct dp_key_changes *keys,
                     size_t *ret_log, size_t *ret_base);

/* Adds the cached keys as of cfg (the base, then the log's records up to cfg->revision) to
 * cfg->put, and cuts the log after the last record used. 0 (also when there is no base);
 * -EBADMSG when the files do not parse or belong to another store or a later revision than
 * cfg; -ENOMEM; another -errno when they cannot be read. cfg is unchanged on failure. */
int dp_cpkeys_load(const char *dir, Edge__V1__ConfigUpdate *cfg);

#endif
