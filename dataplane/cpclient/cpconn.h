/* The config client's transport: a non-blocking TCP connection to the control plane, over TLS
 * (ALPN h2, the server's certificate checked against our CA and the target's host name, a
 * client certificate for mutual TLS) or plaintext. Used by the stream thread only (cpstream.c),
 * which polls the descriptor. Library code: errors go into the connection's `error` text and
 * negative errno returns, nothing is logged. */
#ifndef DP_CPCONN_H
#define DP_CPCONN_H

#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum dp_cpconn_state {
    DP_CPCONN_CLOSED,
    DP_CPCONN_CONNECTING, /* TCP connect in progress */
    DP_CPCONN_HANDSHAKE,  /* TLS handshake in progress */
    DP_CPCONN_UP,
};

struct dp_cpconn {
    enum dp_cpconn_state state;
    int fd;
    SSL *ssl;                        /* NULL: plaintext */
    SSL_CTX *tls;                    /* borrowed */
    const char *host;                /* borrowed: for SNI and the certificate check */
    struct addrinfo *ai, *ai_cur;    /* the resolved addresses, the one being tried */
    int64_t deadline_ms;             /* of the whole attempt (CLOCK_MONOTONIC) */
    bool want_write;                 /* TLS needs the socket writable to go on */
    char addr[INET6_ADDRSTRLEN + 8]; /* the address being tried, for messages */
    char error[256];                 /* why the last step failed */
};

/* Splits "host:port" or "[v6addr]:port" into owned strings (host without brackets).
 * -EINVAL when target has no port, -ENOMEM. */
int dp_cpconn_parse_target(const char *target, char **ret_host, char **ret_port);

/* A TLS client context: verification against ca_file (NULL: the system's roots), a client
 * certificate chain and key when both are given. NULL with err set on failure. */
SSL_CTX *dp_cpconn_tls_new(const char *ca_file, const char *cert_file, const char *key_file,
                           char *err, size_t err_len);

/* Resolves host:port (blocking: the caller is a thread of its own) and starts connecting to
 * the first address; tls NULL for plaintext. Connect and handshake must be done by
 * deadline_ms (CLOCK_MONOTONIC). 0: in progress (poll for dp_cpconn_events(), then
 * dp_cpconn_progress()); negative errno with k->error set. */
int dp_cpconn_open(struct dp_cpconn *k, const char *host, const char *port, SSL_CTX *tls,
                   int64_t deadline_ms);
/* Goes on connecting (after a poll() event or a timeout): 1 once up, 0 still in progress,
 * negative errno (every address failed, the handshake failed, or the deadline passed). */
int dp_cpconn_progress(struct dp_cpconn *k, int64_t now_ms);
/* The poll() events the connection waits for (in progress), or that reading needs. */
short dp_cpconn_events(const struct dp_cpconn *k);
/* Up: > 0 bytes read, 0 at the peer's end of stream, -EAGAIN, or another negative errno
 * (-EPROTO: a TLS error, described in k->error). */
ssize_t dp_cpconn_read(struct dp_cpconn *k, void *buf, size_t len);
/* Up: > 0 bytes written, -EAGAIN, or another negative errno. */
ssize_t dp_cpconn_write(struct dp_cpconn *k, const void *buf, size_t len);
/* Closes the socket and frees the TLS state and addresses; k can be opened again. */
void dp_cpconn_close(struct dp_cpconn *k);

#endif
