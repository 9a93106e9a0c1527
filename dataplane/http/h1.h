/* HTTP/1.1 message helpers shared by both sides of the proxy: header name tokens, hop-by-hop
 * filtering (RFC 9110 §7.6.1), Connection header parsing and small JSON error responses.
 * Everything works on slices of the read buffer and allocates nothing. */
#ifndef DP_H1_H
#define DP_H1_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dp_h1_tok {
    DP_H1_OTHER = 0,
    DP_H1_HOST,
    DP_H1_CONTENT_LENGTH,
    DP_H1_TRANSFER_ENCODING,
    DP_H1_CONNECTION,
    DP_H1_KEEP_ALIVE,
    DP_H1_PROXY_CONNECTION,
    DP_H1_TE,
    DP_H1_TRAILER,
    DP_H1_UPGRADE,
    DP_H1_EXPECT,
    DP_H1_X_FORWARDED_FOR,
    DP_H1_X_FORWARDED_PROTO,
    DP_H1_X_FORWARDED_HOST,
    DP_H1_X_REQUEST_ID,
    DP_H1_VIA,
    DP_H1_PROXY_AUTHENTICATE,
    DP_H1_PROXY_AUTHORIZATION,
    DP_H1_X_API_KEY_ID, /* only the gateway sets these two */
    DP_H1_X_EDGE_DEPLOYMENT,
};

enum dp_h1_tok dp_h1_token(const char *name, size_t len);
/* True for the headers a proxy never forwards whatever Connection says. */
bool dp_h1_tok_is_hop(enum dp_h1_tok tok);

#define DP_H1_MAX_CONN_TOKENS 8

/* The header names listed in Connection (each also hop-by-hop) and the close/keep-alive flags. */
struct dp_h1_conn_opts {
    struct {
        const char *ptr;
        size_t len;
    } names[DP_H1_MAX_CONN_TOKENS];
    unsigned n;
    bool close, keep_alive, overflow;
};

/* Adds the comma-separated tokens of one Connection header value. */
void dp_h1_conn_opts_add(struct dp_h1_conn_opts *o, const char *value, size_t len);
/* True when the header is hop-by-hop: by name, or named by Connection. */
bool dp_h1_is_hop(enum dp_h1_tok tok, const char *name, size_t len,
                  const struct dp_h1_conn_opts *o);

bool dp_h1_strcaseeq(const char *a, size_t alen, const char *b, size_t blen);
/* True when a segment of path (no query) is "." or "..", also percent-encoded ("%2e."). */
bool dp_h1_path_has_dot_segment(const char *path, size_t len);
const char *dp_h1_reason(int status);
/* "HTTP/1.1 <status> <reason>\r\n" into out (at least 64 bytes); its length. printf costs
 * more than the rest of a small response's head, so the hot path formats by hand. */
size_t dp_h1_status_line(char *out, int status);
/* Lower-case hex of v without leading zeros into out (at least 16 bytes); its length. */
size_t dp_h1_hex(char *out, uint64_t v);

/* Appends a complete response with a {"message": ...} JSON body (message is escaped).
 * close adds "Connection: close"; extra is NULL or whole header lines ending in CRLF.
 * head_only omits the body (HEAD requests). 0 or -ENOSPC. */
int dp_h1_write_error(struct dp_buf *out, int status, const char *message, bool close,
                      const char *extra, bool head_only);

#endif
