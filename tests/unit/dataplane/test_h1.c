/* Request head parsing (table-driven, valid and invalid), hop-by-hop filtering, Connection
 * options, Host normalisation and error responses. */
#include "http/h1.h"
#include "http/h1_parse.h"

/* cmocka needs these first, in this order. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct head_case {
    const char *name;
    const char *req;
    int want; /* 0: forwardable; -EAGAIN: incomplete; else the status */
};

#define ROW(n, r, w)                                                                               \
    {                                                                                              \
        n, r, w                                                                                    \
    }

static const struct head_case head_cases[] = {
    ROW("simple", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    ROW("query", "GET /p?q=1&r=%20 HTTP/1.1\r\nHost: a\r\n\r\n", 0),
    ROW("http10 no host", "GET / HTTP/1.0\r\n\r\n", 0),
    ROW("chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 0),
    ROW("content-length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n", 0),
    ROW("expect", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",
        0),
    ROW("incomplete", "GET / HTTP/1.1\r\nHost: a\r\n", -EAGAIN),
    ROW("missing host", "GET / HTTP/1.1\r\n\r\n", 400),
    ROW("two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    ROW("cl and te",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        400),
    ROW("two cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        400),
    ROW("bad cl", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\n", 400),
    ROW("te not chunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    ROW("te chunked not last",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
    ROW("te on http10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ROW("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),
    ROW("bare lf", "GET / HTTP/1.1\nHost: a\n\n", 400),
    ROW("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    ROW("ctl in value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400),
    ROW("ctl in url", "GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ROW("bad method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
    ROW("bad version", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
    ROW("http2 version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ROW("bad expect", "GET / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n\r\n", 417),
    ROW("nul in header", "GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n", 400),
};

static void
test_heads(void **state)
{
    for (size_t i = 0; i < sizeof(head_cases) / sizeof(head_cases[0]); i++) {
        const struct head_case *c = &head_cases[i];
        static struct dp_h1_head h;
        llhttp_t p;
        size_t used = 0;
        size_t len = strlen(c->req);
        if (strcmp(c->name, "nul in header") == 0)
            len = 33;
        int rc = dp_h1_parse_request_head(c->req, len, &h, &p, &used);
        if (rc != c->want)
            fail_msg("%s: got %d, want %d", c->name, rc, c->want);
        if (rc == 0)
            assert_int_equal(used, len);
    }
}

static void
test_limits(void **state)
{
    static struct dp_h1_head h;
    llhttp_t p;
    size_t used;
    char buf[20000];
    int n = snprintf(buf, sizeof(buf), "GET /%09000d HTTP/1.1\r\nHost: a\r\n\r\n", 0);
    assert_int_equal(dp_h1_parse_request_head(buf, (size_t)n, &h, &p, &used), 414);
    size_t o = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 120; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "X-%d: v\r\n", i);
    o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\r\n");
    assert_int_equal(dp_h1_parse_request_head(buf, o, &h, &p, &used), 431);
}

static void
test_fields(void **state)
{
    static struct dp_h1_head h;
    llhttp_t p;
    size_t used;
    const char *req = "GET /x HTTP/1.1\r\nHost: Example.COM:8080\r\nConnection: close, X-Drop\r\n"
                      "X-Drop: 1\r\nX-Keep: 2\r\nX-Request-Id: abc\r\n\r\n";
    assert_int_equal(dp_h1_parse_request_head(req, strlen(req), &h, &p, &used), 0);
    assert_int_equal(h.n, 5);
    assert_true(h.conn.close);
    assert_int_equal(h.conn.n, 1);
    assert_int_equal(h.req_id_len, 3);
    assert_memory_equal(req + h.req_id_off, "abc", 3);
    assert_memory_equal(req + h.url_off, "/x", h.url_len);
    char host[64];
    size_t hl;
    assert_int_equal(dp_h1_host_normalize(req + h.host_off, h.host_len, host, sizeof(host), &hl),
                     0);
    assert_string_equal(host, "example.com");
    /* hop-by-hop: Connection itself, what it names, and the fixed list */
    bool hop[5];
    for (unsigned i = 0; i < h.n; i++)
        hop[i] = dp_h1_is_hop(h.f[i].tok, req + h.f[i].name_off, h.f[i].name_len, &h.conn);
    assert_false(hop[0]); /* Host */
    assert_true(hop[1]);  /* Connection */
    assert_true(hop[2]);  /* X-Drop, named by Connection */
    assert_false(hop[3]); /* X-Keep */
    assert_false(hop[4]); /* X-Request-Id */
}

static void
test_hop_tokens(void **state)
{
    static const char *const hop[] = {"Connection", "keep-alive",         "Proxy-Connection",
                                      "TE",         "Transfer-Encoding",  "upgrade",
                                      "Trailer",    "Proxy-Authenticate", "Proxy-Authorization"};
    static const char *const end[] = {
        "Host", "Content-Length", "X-Forwarded-For", "Trailers", "Tea", "Cookie", "Via", "Expect"};
    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        assert_true(
            dp_h1_is_hop(dp_h1_token(hop[i], strlen(hop[i])), hop[i], strlen(hop[i]), NULL));
    for (size_t i = 0; i < sizeof(end) / sizeof(end[0]); i++)
        assert_false(
            dp_h1_is_hop(dp_h1_token(end[i], strlen(end[i])), end[i], strlen(end[i]), NULL));
    struct dp_h1_conn_opts o = {0};
    dp_h1_conn_opts_add(&o, " keep-alive ,, X-A,x-b ", 23);
    assert_true(o.keep_alive);
    assert_false(o.close);
    assert_int_equal(o.n, 2);
    assert_true(dp_h1_is_hop(DP_H1_OTHER, "X-B", 3, &o));
    assert_false(dp_h1_is_hop(DP_H1_OTHER, "X-C", 3, &o));
}

static void
test_host_normalize(void **state)
{
    static const struct {
        const char *in, *out;
    } ok[] = {{"a.b", "a.b"}, {"A.B:80", "a.b"}, {"[::1]:8080", "[::1]"}, {"x", "x"}};
    static const char *const bad[] = {"a b", "a:", "a:8x", "[::1", "a/b", "a@b"};
    char out[64];
    size_t n;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(dp_h1_host_normalize(ok[i].in, strlen(ok[i].in), out, sizeof(out), &n), 0);
        assert_string_equal(out, ok[i].out);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(dp_h1_host_normalize(bad[i], strlen(bad[i]), out, sizeof(out), &n),
                         -EINVAL);
}

static void
test_error_response(void **state)
{
    char block[DP_BUF_BYTES];
    struct dp_buf b = {.data = block};
    assert_int_equal(dp_h1_write_error(&b, 404, "no \"route\"", true, NULL, false), 0);
    block[b.wpos] = '\0';
    assert_non_null(strstr(block, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(block, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(block, "Connection: close\r\n"));
    assert_non_null(strstr(block, "\r\n\r\n{\"message\": \"no \\\"route\\\"\"}\n"));
    b.rpos = b.wpos = 0;
    assert_int_equal(dp_h1_write_error(&b, 405, "m", false, "Allow: GET\r\n", true), 0);
    block[b.wpos] = '\0';
    assert_non_null(strstr(block, "Allow: GET\r\n\r\n"));
    assert_null(strstr(block, "{"));
}

static void
test_dot_segments(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        bool dot;
    } cases[] = {
        {"/", false},
        {"/a/b", false},
        {"/a/.b", false},
        {"/a/...", false},
        {"/a/b.", false},
        {"/%2e%2e%2f", false},
        {"/.", true},
        {"/..", true},
        {"/a/./b", true},
        {"/a/../b", true},
        {"/public/../private", true},
        {"/a/%2e/b", true},
        {"/a/%2E%2e/b", true},
        {"/a/.%2e", true},
        {"/a/%2e.", true},
        {"/a/b/..", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bool got = dp_h1_path_has_dot_segment(cases[i].path, strlen(cases[i].path));
        if (got != cases[i].dot)
            fail_msg("%s: expected %d", cases[i].path, cases[i].dot);
    }
}

static void
test_tokens(void **state)
{
    static const struct {
        const char *name;
        enum dp_h1_tok tok;
    } cases[] = {
        {"Host", DP_H1_HOST},
        {"CONTENT-LENGTH", DP_H1_CONTENT_LENGTH},
        {"transfer-Encoding", DP_H1_TRANSFER_ENCODING},
        {"Connection", DP_H1_CONNECTION},
        {"Keep-Alive", DP_H1_KEEP_ALIVE},
        {"proxy-connection", DP_H1_PROXY_CONNECTION},
        {"te", DP_H1_TE},
        {"Trailer", DP_H1_TRAILER},
        {"Upgrade", DP_H1_UPGRADE},
        {"Expect", DP_H1_EXPECT},
        {"X-Forwarded-For", DP_H1_X_FORWARDED_FOR},
        {"x-forwarded-proto", DP_H1_X_FORWARDED_PROTO},
        {"X-Forwarded-Host", DP_H1_X_FORWARDED_HOST},
        {"X-Request-ID", DP_H1_X_REQUEST_ID},
        {"VIA", DP_H1_VIA},
        {"Proxy-Authenticate", DP_H1_PROXY_AUTHENTICATE},
        {"Proxy-Authorization", DP_H1_PROXY_AUTHORIZATION},
        {"x-api-key-id", DP_H1_X_API_KEY_ID},
        {"X-Edge-Deployment", DP_H1_X_EDGE_DEPLOYMENT},
        /* Same lengths as tokens, or one byte off: plain headers. */
        {"Hosts", DP_H1_OTHER},
        {"hos", DP_H1_OTHER},
        {"Content-Type", DP_H1_OTHER},
        {"Content-Lengtx", DP_H1_OTHER},
        {"tf", DP_H1_OTHER},
        {"vib", DP_H1_OTHER},
        {"Trailers", DP_H1_OTHER},
        {"x-api-key", DP_H1_OTHER},
        {"X-Forwarded-Fo\xd2", DP_H1_OTHER},
        {"", DP_H1_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (dp_h1_token(cases[i].name, strlen(cases[i].name)) != cases[i].tok)
            fail_msg("%s: expected token %d", cases[i].name, cases[i].tok);
}

static void
test_status_line_and_hex(void **state)
{
    char line[64];
    size_t n = dp_h1_status_line(line, 200);
    assert_int_equal(n, strlen("HTTP/1.1 200 OK\r\n"));
    assert_memory_equal(line, "HTTP/1.1 200 OK\r\n", n);
    n = dp_h1_status_line(line, 431);
    assert_memory_equal(line, "HTTP/1.1 431 Request Header Fields Too Large\r\n", n);
    n = dp_h1_status_line(line, 299); /* no reason phrase known: the space stays */
    assert_memory_equal(line, "HTTP/1.1 299 \r\n", n);
    assert_int_equal(n, 15);

    static const struct {
        uint64_t v;
        const char *hex;
    } hex[] = {{0, "0"},
               {9, "9"},
               {10, "a"},
               {255, "ff"},
               {4096, "1000"},
               {0xdeadbeefULL, "deadbeef"},
               {UINT64_MAX, "ffffffffffffffff"}};
    char out[16];
    for (size_t i = 0; i < sizeof(hex) / sizeof(hex[0]); i++) {
        n = dp_h1_hex(out, hex[i].v);
        if (n != strlen(hex[i].hex) || memcmp(out, hex[i].hex, n) != 0)
            fail_msg("%llx: got %.*s", (unsigned long long)hex[i].v, (int)n, out);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heads),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_hop_tokens),
        cmocka_unit_test(test_host_normalize),
        cmocka_unit_test(test_error_response),
        cmocka_unit_test(test_dot_segments),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_status_line_and_hex),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
