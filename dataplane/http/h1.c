#include "http/h1.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool
dp_h1_strcaseeq(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return false;
    for (size_t i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z')
            x |= 0x20;
        if (y >= 'A' && y <= 'Z')
            y |= 0x20;
        if (x != y)
            return false;
    }
    return true;
}

/* name (any case) against a lower-case literal of the same length. */
static inline bool
lc_eq(const char *name, const char *lit, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 'A' && c <= 'Z')
            c |= 0x20;
        if (c != (unsigned char)lit[i])
            return false;
    }
    return true;
}

enum dp_h1_tok
dp_h1_token(const char *name, size_t len)
{
    /* Every header of every message comes through here: the length picks at most two
     * candidates, and most names differ from them in the first byte. */
#define DP_TOK(lit, tok)                                                                           \
    if (lc_eq(name, lit, len))                                                                     \
        return tok;
    switch (len) {
    case 2:
        DP_TOK("te", DP_H1_TE);
        break;
    case 3:
        DP_TOK("via", DP_H1_VIA);
        break;
    case 4:
        DP_TOK("host", DP_H1_HOST);
        break;
    case 6:
        DP_TOK("expect", DP_H1_EXPECT);
        break;
    case 7:
        DP_TOK("trailer", DP_H1_TRAILER);
        DP_TOK("upgrade", DP_H1_UPGRADE);
        break;
    case 10:
        DP_TOK("connection", DP_H1_CONNECTION);
        DP_TOK("keep-alive", DP_H1_KEEP_ALIVE);
        break;
    case 12:
        DP_TOK("x-request-id", DP_H1_X_REQUEST_ID);
        DP_TOK("x-api-key-id", DP_H1_X_API_KEY_ID);
        break;
    case 14:
        DP_TOK("content-length", DP_H1_CONTENT_LENGTH);
        break;
    case 15:
        DP_TOK("x-forwarded-for", DP_H1_X_FORWARDED_FOR);
        break;
    case 16:
        DP_TOK("proxy-connection", DP_H1_PROXY_CONNECTION);
        DP_TOK("x-forwarded-host", DP_H1_X_FORWARDED_HOST);
        break;
    case 17:
        DP_TOK("transfer-encoding", DP_H1_TRANSFER_ENCODING);
        DP_TOK("x-forwarded-proto", DP_H1_X_FORWARDED_PROTO);
        DP_TOK("x-edge-deployment", DP_H1_X_EDGE_DEPLOYMENT);
        break;
    case 18:
        DP_TOK("proxy-authenticate", DP_H1_PROXY_AUTHENTICATE);
        break;
    case 19:
        DP_TOK("proxy-authorization", DP_H1_PROXY_AUTHORIZATION);
        break;
    default:
        break;
    }
#undef DP_TOK
    return DP_H1_OTHER;
}

bool
dp_h1_tok_is_hop(enum dp_h1_tok tok)
{
    switch (tok) {
    case DP_H1_CONNECTION:
    case DP_H1_KEEP_ALIVE:
    case DP_H1_PROXY_CONNECTION:
    case DP_H1_TE:
    case DP_H1_TRAILER:
    case DP_H1_TRANSFER_ENCODING:
    case DP_H1_UPGRADE:
    case DP_H1_PROXY_AUTHENTICATE:
    case DP_H1_PROXY_AUTHORIZATION:
        return true;
    default:
        return false;
    }
}

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

void
dp_h1_conn_opts_add(struct dp_h1_conn_opts *o, const char *value, size_t len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(value[i]) || value[i] == ','))
            i++;
        size_t start = i;
        while (i < len && value[i] != ',')
            i++;
        size_t end = i;
        while (end > start && is_ows(value[end - 1]))
            end--;
        if (end == start)
            continue;
        const char *t = value + start;
        size_t tl = end - start;
        if (dp_h1_strcaseeq(t, tl, "close", 5))
            o->close = true;
        else if (dp_h1_strcaseeq(t, tl, "keep-alive", 10))
            o->keep_alive = true;
        else if (o->n < DP_H1_MAX_CONN_TOKENS) {
            o->names[o->n].ptr = t;
            o->names[o->n].len = tl;
            o->n++;
        } else {
            o->overflow = true;
        }
    }
}

bool
dp_h1_is_hop(enum dp_h1_tok tok, const char *name, size_t len, const struct dp_h1_conn_opts *o)
{
    if (dp_h1_tok_is_hop(tok))
        return true;
    if (o) {
        for (unsigned i = 0; i < o->n; i++)
            if (dp_h1_strcaseeq(name, len, o->names[i].ptr, o->names[i].len))
                return true;
    }
    return false;
}

const char *
dp_h1_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

size_t
dp_h1_status_line(char *out, int status)
{
    if (status < 100 || status > 999)
        return (size_t)snprintf(out, 64, "HTTP/1.1 %d %s\r\n", status, dp_h1_reason(status));
    const char *reason = dp_h1_reason(status);
    size_t rl = strlen(reason);
    memcpy(out, "HTTP/1.1 ", 9);
    out[9] = (char)('0' + status / 100);
    out[10] = (char)('0' + status / 10 % 10);
    out[11] = (char)('0' + status % 10);
    out[12] = ' ';
    memcpy(out + 13, reason, rl); /* the longest reason is 31 bytes */
    out[13 + rl] = '\r';
    out[14 + rl] = '\n';
    return 15 + rl;
}

size_t
dp_h1_hex(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = 0;
    do {
        tmp[n++] = digits[v & 15];
        v >>= 4;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

int
dp_h1_write_error(struct dp_buf *out, int status, const char *message, bool close,
                  const char *extra, bool head_only)
{
    char body[300];
    size_t bl = 0;
    bl += (size_t)snprintf(body, sizeof(body), "{\"message\": \"");
    for (const char *p = message; *p && bl < sizeof(body) - 8; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            body[bl++] = '\\';
            body[bl++] = (char)c;
        } else if (c < 0x20) {
            bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "\\u%04x", c);
        } else {
            body[bl++] = (char)c;
        }
    }
    bl += (size_t)snprintf(body + bl, sizeof(body) - bl, "\"}\n");
    char head[512];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n%s%s\r\n",
                      status, dp_h1_reason(status), bl, close ? "Connection: close\r\n" : "",
                      extra ? extra : "");
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return -ENOSPC;
    if (dp_buf_room(out) < (size_t)hl + (head_only ? 0 : bl))
        dp_buf_compact(out);
    if (dp_buf_room(out) < (size_t)hl + (head_only ? 0 : bl))
        return -ENOSPC;
    dp_buf_append(out, head, (size_t)hl);
    if (!head_only)
        dp_buf_append(out, body, bl);
    return 0;
}

bool
dp_h1_path_has_dot_segment(const char *path, size_t len)
{
    for (size_t s = 0; s < len;) {
        size_t e = s;
        while (e < len && path[e] != '/')
            e++;
        unsigned dots = 0;
        bool only_dots = e > s;
        for (size_t i = s; i < e && only_dots;) {
            if (path[i] == '.') {
                dots++;
                i++;
            } else if (e - i >= 3 && path[i] == '%' && path[i + 1] == '2' &&
                       (path[i + 2] | 0x20) == 'e') {
                dots++;
                i += 3;
            } else {
                only_dots = false;
            }
        }
        if (only_dots && dots <= 2)
            return true;
        s = e + 1;
    }
    return false;
}
