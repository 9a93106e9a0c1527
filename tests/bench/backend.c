/* Fixed-response HTTP/1.1 backend for the proxy benchmark (tests/bench/run.sh).
 *
 * One thread, one libev loop, keep-alive and pipelining. Every request gets the same small 200
 * response, so that the figures measure the proxy in front, not this server. GET /__bench/stats
 * answers with the counters (connections accepted, requests served) as JSON: the harness reads
 * them to check that each proxy really reuses its upstream connections.
 *
 * Usage: backend [--port N] [--body-bytes N]   (port 0 = ephemeral; prints "port N" on stdout)
 *
 * Build: cc -O2 -o backend backend.c -lev   (run.sh does this into its temp directory)
 */
#include <ctype.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BK_READ_BYTES  16384
#define BK_WRITE_BYTES 65536

struct bk_server {
    struct ev_loop *loop;
    ev_io accept_w;
    char *response; /* the fixed response, headers and body */
    size_t response_len;
    unsigned long long accepted;
    unsigned long long requests;
    unsigned long long open_conns;
};

struct bk_conn {
    struct bk_server *srv;
    int fd;
    ev_io read_w;
    ev_io write_w;
    char in[BK_READ_BYTES];
    size_t in_len;
    size_t body_left; /* request body bytes still to skip */
    char out[BK_WRITE_BYTES];
    size_t out_len;
    size_t out_off;
    int close_after_write;
};

static void
bk_conn_free(struct bk_conn *c)
{
    if (!c)
        return;
    ev_io_stop(c->srv->loop, &c->read_w);
    ev_io_stop(c->srv->loop, &c->write_w);
    (void)close(c->fd);
    c->srv->open_conns--;
    free(c);
}

/* Returns 1 when the header block holds the named header with a value starting with `value`
 * (case-insensitive), and copies nothing. */
static int
bk_header_has(const char *hdrs, size_t len, const char *name, const char *value)
{
    size_t name_len = strlen(name);
    size_t value_len = strlen(value);
    const char *p = hdrs;
    const char *end = hdrs + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > name_len && strncasecmp(p, name, name_len) == 0 &&
            p[name_len] == ':') {
            const char *v = p + name_len + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if ((size_t)(eol - v) >= value_len && strncasecmp(v, value, value_len) == 0)
                return 1;
        }
        p = eol + 1;
    }
    return 0;
}

static size_t
bk_content_length(const char *hdrs, size_t len)
{
    static const char name[] = "content-length:";
    const char *p = hdrs;
    const char *end = hdrs + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
            const char *v = p + sizeof(name) - 1;
            size_t n = 0;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            while (v < eol && isdigit((unsigned char)*v))
                n = n * 10 + (size_t)(*v++ - '0');
            return n;
        }
        p = eol + 1;
    }
    return 0;
}

static int
bk_queue(struct bk_conn *c, const char *data, size_t len)
{
    if (c->out_off > 0 && c->out_off == c->out_len) {
        c->out_off = 0;
        c->out_len = 0;
    }
    if (len > sizeof(c->out) - c->out_len) {
        /* Compact before giving up: pipelined requests can fill the buffer. */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (len > sizeof(c->out) - c->out_len)
            return -ENOBUFS;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

static int
bk_flush(struct bk_conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(c->srv->loop, &c->write_w);
                return 0;
            }
            return -errno;
        }
        c->out_off += (size_t)n;
    }
    c->out_off = 0;
    c->out_len = 0;
    ev_io_stop(c->srv->loop, &c->write_w);
    return 0;
}

/* Consumes every complete request in the input buffer. Returns 0, or a negative errno when
 * the connection must be closed. */
static int
bk_process(struct bk_conn *c)
{
    struct bk_server *srv = c->srv;
    size_t off = 0;

    for (;;) {
        if (c->body_left > 0) {
            size_t skip = c->in_len - off < c->body_left ? c->in_len - off : c->body_left;
            off += skip;
            c->body_left -= skip;
            if (c->body_left > 0)
                break;
        }
        char *start = c->in + off;
        size_t avail = c->in_len - off;
        char *hdr_end = avail >= 4 ? memmem(start, avail, "\r\n\r\n", 4) : NULL;
        if (!hdr_end)
            break;
        size_t hdr_len = (size_t)(hdr_end - start) + 4;
        int rc;

        srv->requests++;
        if (hdr_len > 20 && strncmp(start, "GET /__bench/stats ", 19) == 0) {
            char stats[256];
            char resp[384];
            int body_len = snprintf(stats, sizeof(stats),
                                    "{\"accepted\":%llu,\"requests\":%llu,\"open\":%llu}\n",
                                    srv->accepted, srv->requests, srv->open_conns);
            int resp_len = snprintf(resp, sizeof(resp),
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                    "Content-Length: %d\r\n\r\n%s",
                                    body_len, stats);
            rc = bk_queue(c, resp, (size_t)resp_len);
        } else {
            rc = bk_queue(c, srv->response, srv->response_len);
        }
        if (rc < 0)
            return rc;
        c->body_left = bk_content_length(start, hdr_len);
        const char *line_end = memchr(start, '\r', hdr_len);
        int http10 = line_end - start >= 9 && memcmp(line_end - 9, " HTTP/1.0", 9) == 0;
        if (bk_header_has(start, hdr_len, "connection", "close") ||
            (http10 && !bk_header_has(start, hdr_len, "connection", "keep-alive"))) {
            c->close_after_write = 1;
            off += hdr_len;
            break;
        }
        off += hdr_len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    if (c->in_len == sizeof(c->in))
        return -E2BIG; /* a header block larger than the buffer: not a benchmark request */
    return 0;
}

static void
bk_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bk_conn *c = w->data;

    if (bk_flush(c) < 0 || (c->close_after_write && c->out_len == 0))
        bk_conn_free(c);
}

static void
bk_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bk_conn *c = w->data;

    for (;;) {
        ssize_t n = read(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            bk_conn_free(c);
            return;
        }
        if (n == 0) {
            bk_conn_free(c);
            return;
        }
        c->in_len += (size_t)n;
        if (bk_process(c) < 0) {
            bk_conn_free(c);
            return;
        }
        if (c->close_after_write)
            break;
        if ((size_t)n < sizeof(c->in))
            break;
    }
    if (bk_flush(c) < 0 || (c->close_after_write && c->out_len == 0))
        bk_conn_free(c);
}

static void
bk_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct bk_server *srv = w->data;

    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or a transient error such as EMFILE: try on the next event */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct bk_conn *c = calloc(1, sizeof(*c));
        if (!c) {
            (void)close(fd);
            continue;
        }
        c->srv = srv;
        c->fd = fd;
        ev_io_init(&c->read_w, bk_on_read, fd, EV_READ);
        ev_io_init(&c->write_w, bk_on_write, fd, EV_WRITE);
        c->read_w.data = c;
        c->write_w.data = c;
        ev_io_start(loop, &c->read_w);
        srv->accepted++;
        srv->open_conns++;
    }
}

static void
bk_on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static int
bk_listen(int port, int *ret_port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    socklen_t addr_len = sizeof(addr);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 4096) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &addr_len) < 0) {
        int err = -errno;
        (void)close(fd);
        return err;
    }
    *ret_port = ntohs(addr.sin_port);
    return fd;
}

int
main(int argc, char **argv)
{
    struct bk_server srv = {0};
    ev_signal sigterm_w;
    ev_signal sigint_w;
    long body_bytes = 13;
    int port = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
            port = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--body-bytes") == 0 && i + 1 < argc) {
            body_bytes = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--port N] [--body-bytes N]\n", argv[0]);
            return 2;
        }
    }
    if (body_bytes < 1 || body_bytes > 32768) {
        fprintf(stderr, "backend: --body-bytes must be 1..32768\n");
        return 2;
    }

    char head[128];
    int head_len = snprintf(head, sizeof(head),
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            "Content-Length: %ld\r\n\r\n",
                            body_bytes);
    srv.response_len = (size_t)head_len + (size_t)body_bytes;
    srv.response = malloc(srv.response_len);
    if (!srv.response)
        return 1;
    memcpy(srv.response, head, (size_t)head_len);
    memset(srv.response + head_len, 'x', (size_t)body_bytes);
    srv.response[srv.response_len - 1] = '\n';

    signal(SIGPIPE, SIG_IGN);
    int bound_port = 0;
    int lfd = bk_listen(port, &bound_port);
    if (lfd < 0) {
        fprintf(stderr, "backend: listen on 127.0.0.1:%d: %s\n", port, strerror(-lfd));
        return 1;
    }

    srv.loop = ev_default_loop(EVFLAG_AUTO);
    ev_io_init(&srv.accept_w, bk_on_accept, lfd, EV_READ);
    srv.accept_w.data = &srv;
    ev_io_start(srv.loop, &srv.accept_w);
    ev_signal_init(&sigterm_w, bk_on_signal, SIGTERM);
    ev_signal_init(&sigint_w, bk_on_signal, SIGINT);
    ev_signal_start(srv.loop, &sigterm_w);
    ev_signal_start(srv.loop, &sigint_w);

    printf("port %d\n", bound_port);
    fflush(stdout);
    ev_run(srv.loop, 0);

    (void)close(lfd);
    free(srv.response);
    return 0;
}
