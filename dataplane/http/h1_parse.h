/* The request/response head as llhttp reports it: slices (offsets from the start of the
 * message in the read buffer, which stays put until the head is complete), header tokens,
 * and the checks llhttp leaves to us (limits, duplicate Host, obs-fold, Expect). */
#ifndef DP_H1_PARSE_H
#define DP_H1_PARSE_H

#include "http/h1.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>

#define DP_H1_MAX_HEADERS 100

struct dp_h1_field {
    uint32_t name_off, name_len, val_off, val_len;
    enum dp_h1_tok tok;
};

struct dp_h1_head {
    const char *base; /* set by the caller before each llhttp_execute() */
    uint32_t max_uri_bytes, max_headers;
    int fail_status; /* set by a callback that returned an error: 400, 414 or 431 */
    bool in_field, in_value, obs_fold, bad_expect, expect_continue, te_present, head_done;
    unsigned n, n_host, http_minor;
    uint32_t url_off, url_len;
    uint32_t host_off, host_len, req_id_off, req_id_len;
    struct dp_h1_conn_opts conn;
    struct dp_h1_field f[DP_H1_MAX_HEADERS];
};

/* Fills the head callbacks (url, header field/value); the request side's on_headers_complete
 * pauses the parser so that the caller routes before any body byte is parsed. The parser's
 * data pointer must point to the struct dp_h1_head. */
void dp_h1_parse_settings(llhttp_settings_t *s);
void dp_h1_head_reset(struct dp_h1_head *h);
/* After a request head: 0 if it may be forwarded, else the status to answer with. */
int dp_h1_head_check(const struct dp_h1_head *h, const char *base, const llhttp_t *p);
/* Host without port, lower-cased, into out. 0, or -EINVAL for a malformed host. */
int dp_h1_host_normalize(const char *host, size_t len, char *out, size_t out_len, size_t *ret_len);
/* Maps a parser error (llhttp_execute's result) with the head's fail_status to a status. */
int dp_h1_error_status(const struct dp_h1_head *h, llhttp_errno_t err);

/* One-shot helper over the same callbacks the proxy uses (tests, fuzzing): parses a complete
 * request head from data. Returns 0 with *ret_consumed (bytes of the head), -EAGAIN when the
 * head is incomplete, or the HTTP status a proxy answers with (400, 414, 431, 505...). */
int dp_h1_parse_request_head(const char *data, size_t len, struct dp_h1_head *h, llhttp_t *p,
                             size_t *ret_consumed);
#endif
