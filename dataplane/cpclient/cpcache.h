/* The config client's on-disk state in its cache directory: the last accepted configuration
 * (snapshot.pb, a packed edge.v1.ConfigUpdate with full=true) and the node id (node-id).
 * Every file is replaced atomically: a temp file in the same directory, fsync, rename, fsync
 * of the directory; so a crash leaves the old file or the new one, never a torn one.
 * Library code: returns negative errno, does not log. */
#ifndef DP_CPCACHE_H
#define DP_CPCACHE_H

#include "edge/v1/config.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_CPCACHE_SNAPSHOT "snapshot.pb"
#define DP_CPCACHE_NODE_ID  "node-id"
/* A cached snapshot larger than this is treated as corrupt. */
#define DP_CPCACHE_MAX_SNAPSHOT_BYTES ((size_t)512 << 20)

/* dp_cpcache_node_id(): the id was made now (and saved). */
#define DP_CPCACHE_CREATED 1

/* Creates dir and its missing parents (0755). */
int dp_cpcache_mkdir(const char *dir);

/* Replaces dir/name with len bytes of data, atomically and durably. */
int dp_cpcache_write_file(const char *dir, const char *name, const void *data, size_t len);

/* write(2) until all of it is written. 0 or -errno. */
int dp_cpcache_write_all(int fd, const void *data, size_t len);
/* Makes the renames in dir durable. 0 or -errno. */
int dp_cpcache_fsync_dir(const char *dir);

/* The whole of a regular file of at most max_bytes (else -EBADMSG), into *ret_buf (owned). */
int dp_cpcache_read_file(const char *path, size_t max_bytes, uint8_t **ret_buf, size_t *ret_len);
/* Removes dir/<name>.tmp.* files: writes a crash interrupted before their rename. */
void dp_cpcache_remove_temps(const char *dir, const char *name);

/* Packs config and replaces dir/snapshot.pb with it. */
int dp_cpcache_write(const char *dir, const Edge__V1__ConfigUpdate *config);

/* Reads dir/snapshot.pb into *ret_config (owned; edge_pb_free()). Returns 0; -ENOENT when
 * there is none; -EBADMSG when it is there but unusable (does not parse, too big, not a full
 * configuration, or revision 0); another negative errno when it cannot be read. Temp files
 * left by an interrupted write are removed. */
int dp_cpcache_read(const char *dir, Edge__V1__ConfigUpdate **ret_config);

/* 1..128 characters of [A-Za-z0-9._:-], the rule of the control plane. */
bool dp_cpcache_node_id_valid(const char *id);

/* Makes a new node id: "dp-" and 12 random hex digits (len >= 16). */
int dp_cpcache_new_node_id(char *buf, size_t len);

/* The node id kept in dir/node-id, into buf (NUL-terminated). When the file does not exist,
 * makes one ("dp-" and 12 random hex digits), saves it and returns DP_CPCACHE_CREATED.
 * -EBADMSG when the file holds no valid id; -ENOSPC when buf is too small for it. */
int dp_cpcache_node_id(const char *dir, char *buf, size_t len);

#endif
