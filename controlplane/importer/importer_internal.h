/* Internals shared by the importer's files: the parse state and the document helpers
 * (doc.c). Not for other modules. */
#ifndef CP_IMPORTER_INTERNAL_H
#define CP_IMPORTER_INTERNAL_H

#include "api/validate.h"
#include "importer.h"

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

#define MAX_REF_HOPS 32
#define MAX_PTR_LEN  2048

struct scheme {
    const char *name;
    int kind; /* SCHEME_* */
    const char *in, *key_name;
};

enum { SCHEME_APIKEY = 1, SCHEME_AUTH = 2, SCHEME_UNSUPPORTED = 3 };

struct imp {
    struct fy_node *root;
    int major; /* 2 or 3 */
    const struct cp_importer_opts *opts;
    Edge__V1__ImportApiResponse *resp;
    Edge__V1__ListRoutesResponse *routes;
    char *err;
    size_t err_len;
    char api[64];
    /* the document's server: default upstream (when it has a host) and path prefix */
    char *server_host;
    unsigned server_port;
    bool server_tls;
    char server_prefix[CP_MAX_PATH_LEN];
    bool any_upstream; /* some route got an upstream */
    bool had_server;   /* the document names a server (usable or not) */
    size_t n_no_upstream;
    struct scheme *schemes;
    size_t n_schemes;
    struct fy_node *global_security;
    /* upstream names created for integrations, by "host:port:tls" */
    char **up_keys;
    size_t n_up_keys;
};

/* Fills im->err and returns -EINVAL. */
int cp_imp_fail(struct imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a warning (once per text, at most CP_IMPORTER_MAX_WARNINGS). */
void cp_imp_warn(struct imp *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The value of key in map (NULL when map is not a mapping or has no such key). */
struct fy_node *cp_imp_get(struct fy_node *map, const char *key);
/* A scalar's text (NUL-terminated, owned by the document); NULL for other nodes. */
const char *cp_imp_scalar(struct fy_node *n);
const char *cp_imp_get_str(struct fy_node *map, const char *key);
/* Appends one JSON pointer segment, escaped (~0, ~1), to ptr (capacity cap). */
void cp_imp_ptr_push(char *ptr, size_t cap, const char *seg);
/* Follows n's $ref chain (bounded). NULL with im->err filled when a reference is external,
 * dangling or circular; where names n in that message. */
struct fy_node *cp_imp_deref(struct imp *im, struct fy_node *n, const char *where);
/* Checks every "$ref" under n once (local and resolvable); ptr is n's JSON pointer. */
int cp_imp_check_refs(struct imp *im, struct fy_node *n, char *ptr, size_t cap);
/* "scheme://host[:port][/path]": 0, 1 for a relative URL (only path set), or -EINVAL.
 * *ret_host is owned (free()). */
int cp_imp_parse_url(const char *url, char **ret_host, unsigned *ret_port, bool *ret_tls,
                     char *path, size_t path_cap);
/* A 3.x server's url with {var} replaced by the variables' defaults. */
void cp_imp_server_url(struct fy_node *server, char *out, size_t cap);

/* upstreams.c: where routes go (servers, integrations) and the upstreams that makes. */
int cp_imp_read_servers(struct imp *im);
void cp_imp_aws_integration(struct imp *im, Edge__V1__Route *rt, struct fy_node *ig,
                            const char *where);
void cp_imp_edge_integration(struct imp *im, Edge__V1__Route *rt, struct fy_node *ig,
                             const char *where);
/* An operation's own server (3.x: the operation's servers, else its path item's): true with
 * its upstream in *ret_up (NULL: the default upstream with this path) and its path in prefix. */
bool cp_imp_local_server(struct imp *im, struct fy_node *op, struct fy_node *item,
                         const char *where, const char *path_where, const char **ret_up,
                         char *prefix, size_t cap);
/* The document's default upstream (added to the plan on first use). */
const char *cp_imp_default_upstream(struct imp *im);

#endif
