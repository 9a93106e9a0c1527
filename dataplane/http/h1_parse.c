#include "http/h1_parse.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static struct dp_h1_head *
head_of(llhttp_t *p)
{
    return p->data;
}

static int
on_url(llhttp_t *p, const char *at, size_t len)
{
    struct dp_h1_head *h = head_of(p);
    if (h->url_len == 0)
        h->url_off = (uint32_t)(at - h->base);
    h->url_len += (uint32_t)len;
    if (h->max_uri_bytes && h->url_len > h->max_uri_bytes) {
        h->fail_status = 414;
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)at[i];
        if (c <= 0x20 || c >= 0x7f) {
            h->fail_status = 400;
            return -1;
        }
    }
    return 0;
}

static int
on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct dp_h1_head *h = head_of(p);
    if (h->head_done)
        return 0; /* a trailer: dropped, never forwarded */
    if (!h->in_field) {
        if (h->n >= h->max_headers || h->n >= DP_H1_MAX_HEADERS) {
            h->fail_status = 431;
            return -1;
        }
        struct dp_h1_field *f = &h->f[h->n];
        f->name_off = (uint32_t)(at - h->base);
        f->name_len = 0;
        f->val_off = 0;
        f->val_len = 0;
        h->in_field = true;
        h->in_value = false;
    }
    h->f[h->n].name_len += (uint32_t)len;
    return 0;
}

/* RFC 9110 token characters: llhttp's lenient build lets an empty name and "Name :" through,
 * and a name an upstream reads differently is a smuggling vector. */
static const bool tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

static bool
is_token(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!tchar[(unsigned char)s[i]])
            return false;
    return true;
}

static int
on_header_field_complete(llhttp_t *p)
{
    struct dp_h1_head *h = head_of(p);
    if (h->head_done)
        return 0;
    /* Without on_header_field (an empty name) the slot would not be this field's. */
    if (!h->in_field || !is_token(h->base + h->f[h->n].name_off, h->f[h->n].name_len)) {
        h->fail_status = 400;
        return -1;
    }
    h->in_field = false;
    struct dp_h1_field *f = &h->f[h->n];
    f->tok = dp_h1_token(h->base + f->name_off, f->name_len);
    f->val_off = 0;
    return 0;
}

static int
on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct dp_h1_head *h = head_of(p);
    if (h->head_done)
        return 0;
    struct dp_h1_field *f = &h->f[h->n];
    if (!h->in_value) {
        f->val_off = (uint32_t)(at - h->base);
        f->val_len = 0;
        h->in_value = true;
    }
    f->val_len += (uint32_t)len;
    return 0;
}

static int
on_header_value_complete(llhttp_t *p)
{
    struct dp_h1_head *h = head_of(p);
    if (h->head_done)
        return 0;
    struct dp_h1_field *f = &h->f[h->n];
    if (!h->in_value) /* empty value */
        f->val_off = f->name_off + f->name_len;
    h->in_value = false;
    const char *v = h->base + f->val_off;
    /* llhttp folds obs-fold continuation lines into the value: never forward those. */
    if (memchr(v, '\r', f->val_len) || memchr(v, '\n', f->val_len))
        h->obs_fold = true;
    switch (f->tok) {
    case DP_H1_HOST:
        h->n_host++;
        h->host_off = f->val_off;
        h->host_len = f->val_len;
        break;
    case DP_H1_CONNECTION:
    case DP_H1_PROXY_CONNECTION:
        dp_h1_conn_opts_add(&h->conn, v, f->val_len);
        break;
    case DP_H1_EXPECT:
        if (dp_h1_strcaseeq(v, f->val_len, "100-continue", 12))
            h->expect_continue = true;
        else
            h->bad_expect = true;
        break;
    case DP_H1_TRANSFER_ENCODING:
        h->te_present = true;
        break;
    case DP_H1_X_REQUEST_ID:
        h->req_id_off = f->val_off;
        h->req_id_len = f->val_len;
        break;
    default:
        break;
    }
    h->n++;
    return 0;
}

static int
on_headers_complete_pause(llhttp_t *p)
{
    struct dp_h1_head *h = head_of(p);
    h->head_done = true;
    h->http_minor = p->http_minor;
    return HPE_PAUSED;
}

void
dp_h1_parse_settings(llhttp_settings_t *s)
{
    llhttp_settings_init(s);
    s->on_url = on_url;
    s->on_header_field = on_header_field;
    s->on_header_field_complete = on_header_field_complete;
    s->on_header_value = on_header_value;
    s->on_header_value_complete = on_header_value_complete;
    s->on_headers_complete = on_headers_complete_pause;
}

void
dp_h1_head_reset(struct dp_h1_head *h)
{
    /* The field array is overwritten as it fills: only the scalars need clearing. */
    memset(h, 0, offsetof(struct dp_h1_head, f));
    h->max_uri_bytes = 8192;
    h->max_headers = DP_H1_MAX_HEADERS;
}

int
dp_h1_head_check(const struct dp_h1_head *h, const char *base, const llhttp_t *p)
{
    (void)base;
    if (h->obs_fold || h->n_host > 1 || h->conn.overflow)
        return 400;
    /* Transfer-Encoding from an HTTP/1.0 client is a classic smuggling vector. */
    if (h->te_present && p->http_major == 1 && p->http_minor == 0)
        return 400;
    if (h->te_present && !(p->flags & F_CHUNKED))
        return 400;
    if (p->http_major != 1)
        return 505;
    if (h->bad_expect)
        return 417;
    return 0;
}

int
dp_h1_host_normalize(const char *host, size_t len, char *out, size_t out_len, size_t *ret_len)
{
    size_t end = len;
    if (len && host[0] == '[') {
        const char *rb = memchr(host, ']', len);
        if (!rb)
            return -EINVAL;
        end = (size_t)(rb - host) + 1;
        if (end < len && host[end] != ':')
            return -EINVAL;
    } else {
        const char *colon = memchr(host, ':', len);
        if (colon)
            end = (size_t)(colon - host);
    }
    if (end < len) {
        if (end + 1 == len)
            return -EINVAL;
        for (size_t i = end + 1; i < len; i++)
            if (host[i] < '0' || host[i] > '9')
                return -EINVAL;
    }
    if (end >= out_len)
        return -EINVAL;
    for (size_t i = 0; i < end; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c >= 'A' && c <= 'Z')
            c |= 0x20;
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                  c == '_' || c == '[' || c == ']' || (c == ':' && host[0] == '[');
        if (!ok)
            return -EINVAL;
        out[i] = (char)c;
    }
    out[end] = '\0';
    *ret_len = end;
    return 0;
}

int
dp_h1_error_status(const struct dp_h1_head *h, llhttp_errno_t err)
{
    if (h->fail_status)
        return h->fail_status;
    (void)err; /* a malformed head is a 400 whatever llhttp disliked */
    return 400;
}

int
dp_h1_parse_request_head(const char *data, size_t len, struct dp_h1_head *h, llhttp_t *p,
                         size_t *ret_consumed)
{
    static llhttp_settings_t settings;
    static bool init;
    if (!init) {
        dp_h1_parse_settings(&settings);
        init = true;
    }
    llhttp_init(p, HTTP_REQUEST, &settings);
    dp_h1_head_reset(h);
    p->data = h;
    h->base = data;
    llhttp_errno_t e = llhttp_execute(p, data, len);
    if (e == HPE_PAUSED && h->head_done) {
        *ret_consumed = (size_t)(llhttp_get_error_pos(p) - data);
        int st = dp_h1_head_check(h, data, p);
        if (st)
            return st;
        if (h->n_host == 0 && p->http_minor >= 1)
            return 400;
        return 0;
    }
    if (e != HPE_OK)
        return dp_h1_error_status(h, e);
    return -EAGAIN;
}
