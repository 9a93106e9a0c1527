/* Fuzzes the request head path: the whole input parsed at once must give the same outcome and
 * the same field table as the input split in two at a point chosen by the first byte (the
 * proxy sees heads arrive in pieces), and every slice must stay inside the head. */
#include "http/h1_parse.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

static struct dp_h1_head whole, split;

static int
parse_split(const char *data, size_t len, size_t cut, size_t *ret_used)
{
    static llhttp_settings_t s;
    static int init;
    if (!init) {
        dp_h1_parse_settings(&s);
        init = 1;
    }
    llhttp_t p;
    llhttp_init(&p, HTTP_REQUEST, &s);
    dp_h1_head_reset(&split);
    p.data = &split;
    split.base = data;
    llhttp_errno_t e = llhttp_execute(&p, data, cut);
    if (e == HPE_OK && !split.head_done)
        e = llhttp_execute(&p, data + cut, len - cut);
    if (e == HPE_PAUSED && split.head_done) {
        *ret_used = (size_t)(llhttp_get_error_pos(&p) - data);
        int st = dp_h1_head_check(&split, data, &p);
        if (st)
            return st;
        return split.n_host == 0 && p.http_minor >= 1 ? 400 : 0;
    }
    return e == HPE_OK ? -EAGAIN : dp_h1_error_status(&split, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = data[0] % size;
    const char *req = (const char *)data + 1;
    size_t len = size - 1;
    if (cut > len)
        cut = len;
    llhttp_t p;
    size_t used = 0, used2 = 0;
    int rc = dp_h1_parse_request_head(req, len, &whole, &p, &used);
    int rc2 = parse_split(req, len, cut, &used2);
    assert(rc == rc2);
    if (rc != 0)
        return 0;
    assert(used == used2 && used <= len);
    assert(whole.n == split.n);
    assert(whole.url_off + whole.url_len <= used);
    for (unsigned i = 0; i < whole.n; i++) {
        const struct dp_h1_field *a = &whole.f[i], *b = &split.f[i];
        assert(a->name_off == b->name_off && a->name_len == b->name_len);
        assert(a->val_off == b->val_off && a->val_len == b->val_len);
        assert(a->tok == b->tok);
        assert(a->name_off + a->name_len <= used && a->val_off + a->val_len <= used);
        assert(!memchr(req + a->val_off, '\n', a->val_len));
    }
    char host[256];
    size_t hl;
    if (whole.host_len)
        (void)dp_h1_host_normalize(req + whole.host_off, whole.host_len, host, sizeof(host), &hl);
    return 0;
}
