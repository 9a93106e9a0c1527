/* The config client's transport (cpconn.h): non-blocking TCP to the control plane, TLS with
 * OpenSSL when configured. What gRPC core's channel credentials did for the Watch stream:
 * verify the server against our CA and the target's host name, offer h2 by ALPN and insist
 * on it, present a client certificate for mutual TLS. */
#include "cpconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
set_error(struct dp_cpconn *k, const char *fmt, const char *what)
{
    /* Truncation is fine for a message; testing the result tells gcc we know. */
    if (snprintf(k->error, sizeof(k->error), fmt, k->addr, what) < 0)
        k->error[0] = '\0';
}

/* The newest OpenSSL error, or fallback when its queue is empty; clears the queue. */
static const char *
tls_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        (void)snprintf(buf, len, "%s", fallback);
    ERR_clear_error();
    return buf;
}

int
dp_cpconn_parse_target(const char *target, char **ret_host, char **ret_port)
{
    const char *host, *host_end, *port;

    if (target[0] == '[') {
        host = target + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':')
            return -EINVAL;
        port = host_end + 2;
    } else {
        host = target;
        host_end = strrchr(target, ':');
        if (!host_end || memchr(target, ':', (size_t)(host_end - target)))
            return -EINVAL; /* no port, or an IPv6 address without brackets */
        port = host_end + 1;
    }
    if (host_end == host || !*port || strlen(port) > 5 ||
        strspn(port, "0123456789") != strlen(port) || atoi(port) < 1 || atoi(port) > 65535)
        return -EINVAL;
    char *h = strndup(host, (size_t)(host_end - host)), *p = strdup(port);
    if (!h || !p) {
        free(h);
        free(p);
        return -ENOMEM;
    }
    *ret_host = h;
    *ret_port = p;
    return 0;
}

SSL_CTX *
dp_cpconn_tls_new(const char *ca_file, const char *cert_file, const char *key_file, char *err,
                  size_t err_len)
{
    char why[256];
    SSL_CTX *ctx;

    if (!!cert_file != !!key_file) {
        (void)snprintf(err, err_len,
                       "a client certificate needs both a certificate and a key file");
        return NULL;
    }
    /* Say which file is missing in plain words; OpenSSL's reasons are cryptic for that. */
    const char *files[] = {ca_file, cert_file, key_file};
    for (size_t i = 0; i < 3; i++)
        if (files[i] && access(files[i], R_OK) != 0) {
            (void)snprintf(err, err_len, "cannot open %s: %s", files[i], strerror(errno));
            return NULL;
        }
    ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        (void)snprintf(err, err_len, "cannot make a TLS context: %s",
                       tls_reason(why, sizeof(why), "out of memory"));
        return NULL;
    }
    (void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    /* Partial writes let a write callback report what went; the moving buffer lets a retry
     * after WANT_WRITE come from wherever nghttp2 holds the same bytes. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                     : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        (void)snprintf(err, err_len, "cannot load CA certificates from %s: %s",
                       ca_file ? ca_file : "the system's store",
                       tls_reason(why, sizeof(why), "no certificate"));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if (cert_file) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
            (void)snprintf(err, err_len, "cannot load the client certificate %s: %s", cert_file,
                           tls_reason(why, sizeof(why), "unusable"));
            SSL_CTX_free(ctx);
            return NULL;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1) {
            (void)snprintf(err, err_len, "cannot use the client key %s: %s", key_file,
                           tls_reason(why, sizeof(why), "it does not match the certificate"));
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    return ctx;
}

/* Starts a connect to k->ai_cur or a later address. 0 in progress (or done), -errno when no
 * address is left. */
static int
connect_next(struct dp_cpconn *k)
{
    for (; k->ai_cur; k->ai_cur = k->ai_cur->ai_next) {
        struct addrinfo *a = k->ai_cur;
        char ip[INET6_ADDRSTRLEN] = "?";
        bool v6 = a->ai_family == AF_INET6;
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)a->ai_addr;
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)a->ai_addr;
        (void)inet_ntop(a->ai_family,
                        v6 ? (const void *)&s6->sin6_addr : (const void *)&s4->sin_addr, ip,
                        sizeof(ip));
        (void)snprintf(k->addr, sizeof(k->addr), v6 ? "[%s]:%u" : "%s:%u", ip,
                       ntohs(v6 ? s6->sin6_port : s4->sin_port));
        k->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (k->fd < 0) {
            set_error(k, "%s: %s", strerror(errno));
            continue;
        }
        int one = 1;
        (void)setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(k->fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
            k->state = DP_CPCONN_CONNECTING;
            return 0;
        }
        set_error(k, "%s: %s", strerror(errno));
        (void)close(k->fd);
        k->fd = -1;
    }
    return -ECONNREFUSED;
}

int
dp_cpconn_open(struct dp_cpconn *k, const char *host, const char *port, SSL_CTX *tls,
               int64_t deadline_ms)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

    memset(k, 0, sizeof(*k));
    k->fd = -1;
    k->tls = tls;
    k->host = host;
    k->deadline_ms = deadline_ms;
    int rc = getaddrinfo(host, port, &hints, &k->ai);
    if (rc != 0) {
        (void)snprintf(k->error, sizeof(k->error), "cannot resolve %s: %s", host,
                       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        k->ai = NULL;
        return -EHOSTUNREACH;
    }
    k->ai_cur = k->ai;
    return connect_next(k);
}

static int
start_tls(struct dp_cpconn *k)
{
    static const unsigned char alpn[] = {2, 'h', '2'};
    unsigned char bin[sizeof(struct in6_addr)];
    bool is_ip = inet_pton(AF_INET, k->host, bin) == 1 || inet_pton(AF_INET6, k->host, bin) == 1;

    k->ssl = SSL_new(k->tls);
    if (!k->ssl || SSL_set_fd(k->ssl, k->fd) != 1 || SSL_set_alpn_protos(k->ssl, alpn, 3) != 0)
        goto fail;
    /* The certificate must name the host we dialled, as gRPC checks it: an IP address
     * against its IP SANs, a name against its DNS SANs (and sent as SNI). */
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(k->ssl), k->host) != 1)
            goto fail;
    } else if (SSL_set_tlsext_host_name(k->ssl, k->host) != 1 ||
               SSL_set1_host(k->ssl, k->host) != 1) {
        goto fail;
    }
    SSL_set_connect_state(k->ssl);
    k->state = DP_CPCONN_HANDSHAKE;
    return 0;
fail:
    set_error(k, "%s: %s", "cannot set up TLS");
    ERR_clear_error();
    return -ENOMEM;
}

static int
handshake(struct dp_cpconn *k)
{
    char why[256];

    ERR_clear_error();
    int rc = SSL_do_handshake(k->ssl);
    if (rc == 1) {
        const unsigned char *proto = NULL;
        unsigned plen = 0;
        SSL_get0_alpn_selected(k->ssl, &proto, &plen);
        if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
            set_error(k, "%s: %s", "TLS: the server did not agree to HTTP/2 (ALPN h2)");
            return -EPROTO;
        }
        k->state = DP_CPCONN_UP;
        return 1;
    }
    int e = SSL_get_error(k->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        k->want_write = e == SSL_ERROR_WANT_WRITE;
        return 0;
    }
    long v = SSL_get_verify_result(k->ssl);
    if (v != X509_V_OK)
        (void)snprintf(why, sizeof(why), "TLS: certificate verify failed: %s",
                       X509_verify_cert_error_string(v));
    else {
        char reason[200];
        (void)snprintf(why, sizeof(why), "TLS handshake failed: %s",
                       tls_reason(reason, sizeof(reason),
                                  e == SSL_ERROR_SYSCALL ? "Socket closed" : "protocol error"));
    }
    ERR_clear_error();
    set_error(k, "%s: %s", why);
    return -EPROTO;
}

int
dp_cpconn_progress(struct dp_cpconn *k, int64_t now_ms)
{
    for (;;) {
        switch (k->state) {
        case DP_CPCONN_CONNECTING: {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                soerr = errno;
            if (soerr == 0) {
                /* Connected, or not yet: a second connect() tells which. */
                struct sockaddr_storage ss;
                socklen_t l = sizeof(ss);
                if (getpeername(k->fd, (struct sockaddr *)&ss, &l) != 0) {
                    if (now_ms >= k->deadline_ms)
                        break;
                    return 0;
                }
                if (!k->tls) {
                    k->state = DP_CPCONN_UP;
                    return 1;
                }
                if (start_tls(k) < 0)
                    return -EPROTO;
                continue;
            }
            set_error(k, "%s: %s", strerror(soerr));
            (void)close(k->fd);
            k->fd = -1;
            k->ai_cur = k->ai_cur->ai_next;
            if (connect_next(k) < 0)
                return -ECONNREFUSED;
            return 0;
        }
        case DP_CPCONN_HANDSHAKE: {
            int rc = handshake(k);
            if (rc != 0)
                return rc;
            break;
        }
        case DP_CPCONN_UP:
            return 1;
        case DP_CPCONN_CLOSED:
            return -ENOTCONN;
        }
        if (now_ms >= k->deadline_ms) {
            set_error(k, "%s: %s",
                      k->state == DP_CPCONN_CONNECTING ? "connect timed out"
                                                       : "TLS handshake timed out");
            return -ETIMEDOUT;
        }
        return 0;
    }
}

short
dp_cpconn_events(const struct dp_cpconn *k)
{
    switch (k->state) {
    case DP_CPCONN_CONNECTING:
        return POLLOUT;
    case DP_CPCONN_HANDSHAKE:
        return k->want_write ? POLLOUT : POLLIN;
    case DP_CPCONN_UP:
        return (short)(POLLIN | (k->want_write ? POLLOUT : 0));
    case DP_CPCONN_CLOSED:
        break;
    }
    return 0;
}

ssize_t
dp_cpconn_read(struct dp_cpconn *k, void *buf, size_t len)
{
    if (!k->ssl) {
        ssize_t n = recv(k->fd, buf, len, 0);
        if (n >= 0)
            return n;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
    }
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(k->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    k->want_write = false;
    if (n > 0)
        return n;
    switch (SSL_get_error(k->ssl, n)) {
    case SSL_ERROR_WANT_WRITE:
        k->want_write = true;
        return -EAGAIN;
    case SSL_ERROR_WANT_READ:
        return -EAGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        /* An EOF without close_notify: a peer that went away; the same to us. */
        ERR_clear_error();
        return errno && errno != EAGAIN ? -errno : 0;
    default: {
        /* Often the server's alert, e.g. that it wanted our certificate: worth a log line. */
        char why[200];
        set_error(k, "%s: TLS: %s", tls_reason(why, sizeof(why), "protocol error"));
        return -EPROTO;
    }
    }
}

ssize_t
dp_cpconn_write(struct dp_cpconn *k, const void *buf, size_t len)
{
    if (!k->ssl) {
        ssize_t n = send(k->fd, buf, len, MSG_NOSIGNAL);
        if (n >= 0)
            return n;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
    }
    ERR_clear_error();
    int n = SSL_write(k->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(k->ssl, n)) {
    case SSL_ERROR_WANT_WRITE:
    case SSL_ERROR_WANT_READ:
        return -EAGAIN;
    default:
        ERR_clear_error();
        return errno ? -errno : -EPIPE;
    }
}

void
dp_cpconn_close(struct dp_cpconn *k)
{
    if (k->ssl)
        SSL_free(k->ssl);
    k->ssl = NULL;
    if (k->fd >= 0)
        (void)close(k->fd);
    k->fd = -1;
    if (k->ai)
        freeaddrinfo(k->ai);
    k->ai = k->ai_cur = NULL;
    k->state = DP_CPCONN_CLOSED;
    k->want_write = false;
}
