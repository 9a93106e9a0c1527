/* Route path templates and the route matcher (DESIGN.md §3), shared by the data plane (request
 * path) and the control plane (validation, `edgectl route test`).
 *
 * Templates: "/pets", "/pets/{id}", "/files/{name}.json" (partial segment), "/{proxy+}"
 * (greedy, last segment only). Matching is path first, then method: the raw path is split on
 * '/', each segment percent-decoded (so %2F stays inside its segment; invalid percent-encoding
 * or invalid UTF-8 -> 400); case-sensitive; a trailing slash is significant. Templates that
 * match compete segment by segment from the left: at the first segment where they differ, a
 * literal beats a partial template, which beats a whole-segment template, which beats greedy.
 * The winning path's operation for the method answers (an exact method beats ANY); if it has
 * none, 405 with that path's methods; if no path matches, 404.
 *
 * A table is immutable once built and may be read by many threads at once. Lookup allocates
 * nothing: decoded parameter values are written into the caller's scratch buffer.
 *
 * The details, decided here and tested in tests/unit/route/:
 * - Template syntax. At most 2048 bytes, EDGE_ROUTE_MAX_SEGMENTS segments and
 *   EDGE_ROUTE_MAX_PARAMS parameters. It starts with '/'; empty segments ("//") are rejected,
 *   except the last one, which is how a trailing slash is written ("/" is one empty segment).
 *   Parameter names match [A-Za-z_][A-Za-z0-9_.-]* and are unique in a template. A greedy
 *   "{name+}" is a whole segment and the last one. A partial segment is literal text around
 *   one or more parameters with literal text between any two ("v{major}.{minor}"; "{a}{b}" is
 *   rejected). Spaces, control characters, '?', '#', a stray '}', '{' inside a name, bad
 *   %xx, %00 and invalid UTF-8 are rejected. Literal text may be percent-encoded: it is decoded
 *   when the table is built, so "/caf%C3%A9" and "/cafÃ©" are the same template.
 * - Parameters never match nothing: "{id}" needs a non-empty segment, each parameter of a
 *   partial segment a non-empty run, and "{proxy+}" one or more segments whose decoded text is
 *   not empty ("/{proxy+}" does not match "/"; "/a/{p+}" does not match "/a/"). The greedy
 *   value is the decoded rest of the path with its '/' (a decoded %2F is then a '/' too).
 * - Partial segments: the leading literal is anchored at the start of the segment and the
 *   trailing literal at its end; in between, each parameter takes the shortest non-empty run
 *   followed by the next literal, left to right ("{a}.{b}" on "x.y.z": a="x", b="y.z";
 *   "{n}.json" on "a.json.json": n="a.json"). Among partial templates competing for the same
 *   segment, more literal bytes win ("{n}.tar.gz" beats "{n}.gz"), then fewer parameters, then
 *   a fixed order of the shapes (piece by piece; a literal piece before a parameter, so "a{x}"
 *   beats "{x}b" on "ab").
 * - Methods: an exact method beats ANY; a HEAD request with no HEAD route is served by the
 *   path's GET route (before ANY). Method matching is case-sensitive. The Allow value of a 405
 *   lists the path's configured methods (HEAD only if configured), sorted, whole names only,
 *   as many as fit in the field.
 * - Request paths: a path that is empty or does not start with '/', a bad %xx, a %00 or raw
 *   NUL, or invalid UTF-8 (overlong forms, surrogates, above U+10FFFF) after decoding -> 400.
 *   Dot segments are not resolved here ("." and ".." are ordinary segments). */
#ifndef EDGE_ROUTE_H
#define EDGE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define EDGE_ROUTE_MAX_PARAMS   16
#define EDGE_ROUTE_MAX_SEGMENTS 64

/* Validates a template. Returns 0, or -EINVAL with a message in err saying what is wrong and
 * where (e.g. "path: unclosed '{' at offset 6"). */
int edge_route_template_validate(const char *path, char *err, size_t err_len);

/* Validates a method: an RFC 9110 token of upper-case letters, or "ANY". 0 or -EINVAL. */
int edge_route_method_validate(const char *method);

struct edge_route_builder;
struct edge_route_table;

struct edge_route_param {
    const char *name; /* borrowed from the table */
    size_t name_len;
    const char *value; /* decoded, in the caller's scratch buffer (greedy: the rest of the path) */
    size_t value_len;
};

struct edge_route_match {
    int status;                /* 200, 400, 404 or 405 */
    void *route;               /* with 200: the data given to edge_route_builder_add() */
    const char *path_template; /* with 200: the matched template, borrowed from the table */
    unsigned n_params;
    struct edge_route_param params[EDGE_ROUTE_MAX_PARAMS];
    char allow[160]; /* with 405: "GET, HEAD, POST" (sorted, comma-space separated) */
};

struct edge_route_builder *edge_route_builder_new(void);
/* Adds method + template -> data (borrowed; the table hands it back on a match). Returns 0;
 * -EINVAL for a bad template or method (message in err); -EEXIST when the same method and an
 * equivalent template (same shape, any parameter names) are already there. */
int edge_route_builder_add(struct edge_route_builder *b, const char *method, const char *path,
                           void *data, char *err, size_t err_len);
/* Consumes the builder. NULL on allocation failure. */
struct edge_route_table *edge_route_builder_finish(struct edge_route_builder *b);
void edge_route_builder_free(struct edge_route_builder *b);
void edge_route_table_free(struct edge_route_table *t);

/* Looks up a request. method and path are byte ranges (not NUL-terminated); path is the raw
 * path (no query string). The decoded path after its leading '/' is written to scratch and the
 * parameter values point into it (so they live as long as scratch); scratch_len >= path_len
 * always suffices, and too small a scratch buffer gives status 414. Returns 0 (the outcome is
 * in ret->status; with other than 200, route and path_template are NULL and n_params is 0), or
 * -EINVAL for a NULL table or ret (ret untouched). Thread-safe; allocates nothing. */
int edge_route_lookup(const struct edge_route_table *t, const char *method, size_t method_len,
                      const char *path, size_t path_len, char *scratch, size_t scratch_len,
                      struct edge_route_match *ret);

/* Expands an upstream path template ("/v1/pets/{id}", "/{proxy}") with a match's parameters
 * into out (NUL-terminated). Text outside braces is copied as is. Parameter values are
 * percent-encoded again as path segments: all but A-Z a-z 0-9 - . _ ~ ! $ ' ( ) * , : @ is
 * encoded (so '/', '%', '?', '#', ';', '&', '=', '+' are), and a value or greedy piece that is
 * exactly "." or ".." is written %2E / %2E%2E so it never becomes a dot segment upstream.
 * Greedy values ("{proxy+}" in the matched template, or "{name+}" in tmpl) keep their '/'.
 * Returns the length, or -ENOSPC, or -ENOENT for a parameter the match does not have, or
 * -EINVAL for an unclosed '{'. */
int edge_route_expand(const char *tmpl, const struct edge_route_match *m, char *out,
                      size_t out_len);

/* A stage variable's value as a literal target: "host:port" or "http://host[:port][/]"
 * (port 80 by default with the scheme), host a name, an IPv4 literal or a bracketed IPv6
 * literal. 0 with host (NUL-terminated) and *ret_port, or -EINVAL. */
int edge_route_parse_target(const char *value, char *host, size_t host_len, uint16_t *ret_port);

#endif
