/* A small layer over gRPC core (<grpc/grpc.h>) and protobuf-c: method paths to handlers,
 * byte buffers to messages, errors to status codes. Standard gRPC on the wire.
 *
 * Programs call grpc_init() once before using this layer and grpc_shutdown() at the end.
 *
 * Threading: a server is driven by one thread that calls edge_rpc_server_poll(); every
 * callback runs on that thread, so handlers need no locks. A client is used by one thread.
 *
 * Ownership: messages handed to callbacks are borrowed for the duration of the callback.
 * Responses set by handlers are taken and freed with edge_pb_free() (see common/pb.h). */
#ifndef EDGE_RPC_H
#define EDGE_RPC_H

#include <grpc/grpc.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EDGE_RPC_MAX_MESSAGE_BYTES (64u << 20)

struct edge_rpc_status {
    grpc_status_code code;
    char message[512];
};

/* Sets code and a printf-formatted message; returns -1 when code is not OK, else 0, so that
 * handlers can write `return edge_rpc_fail(st, GRPC_STATUS_NOT_FOUND, "api %s", name);`. */
int edge_rpc_fail(struct edge_rpc_status *st, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "OK", "NOT_FOUND", ... */
const char *edge_rpc_code_name(grpc_status_code code);

/* ---- server ------------------------------------------------------------------------------ */

struct edge_rpc_server;
struct edge_rpc_call; /* one incoming call: method, metadata, peer */

struct edge_rpc_server_config {
    const char *listen;             /* "127.0.0.1:9090"; port 0 picks a free one */
    size_t max_message_bytes;       /* 0: EDGE_RPC_MAX_MESSAGE_BYTES */
    grpc_server_credentials *creds; /* borrowed; NULL: plaintext */
};

const char *edge_rpc_call_method(const struct edge_rpc_call *call);
/* "ipv4:127.0.0.1:5555"; borrowed, valid for the call's life. */
const char *edge_rpc_call_peer(const struct edge_rpc_call *call);
/* Value of the first metadata entry named key (lowercase), or NULL; *ret_len set if non-NULL.
 * The value is not NUL-terminated. */
const char *edge_rpc_call_metadata(const struct edge_rpc_call *call, const char *key,
                                   size_t *ret_len);
/* Milliseconds left before the client's deadline (INT64_MAX when none). */
int64_t edge_rpc_call_deadline_left_ms(const struct edge_rpc_call *call);

/* Checks a call before its handler runs (authentication). Returns 0 to proceed, or fills st
 * with the refusal and returns -1. */
typedef int (*edge_rpc_auth_fn)(void *ctx, const struct edge_rpc_call *call,
                                struct edge_rpc_status *st);

/* A unary handler. On success sets *ret_resp (taken) and leaves st->code OK; on failure
 * leaves *ret_resp NULL and sets st (edge_rpc_fail). req is never NULL. */
typedef void (*edge_rpc_unary_fn)(void *ctx, const struct edge_rpc_call *call,
                                  const ProtobufCMessage *req, ProtobufCMessage **ret_resp,
                                  struct edge_rpc_status *st);

struct edge_rpc_stream; /* a server side bidi stream */

struct edge_rpc_stream_ops {
    /* A new stream (after auth). Return 0 to accept, or fill st and return -1 to refuse. */
    int (*open)(void *ctx, struct edge_rpc_stream *s, struct edge_rpc_status *st);
    /* A message from the client (borrowed). */
    void (*message)(void *ctx, struct edge_rpc_stream *s, const ProtobufCMessage *msg);
    /* The client half-closed; the stream stays open for sends until finished. May be NULL. */
    void (*half_closed)(void *ctx, struct edge_rpc_stream *s);
    /* The send started by edge_rpc_stream_send() completed; a new one may start. May be NULL. */
    void (*writable)(void *ctx, struct edge_rpc_stream *s);
    /* The stream is over (finished, cancelled, peer gone). s is freed right after. */
    void (*closed)(void *ctx, struct edge_rpc_stream *s);
};

/* Creates a server and binds its port (*ret_port gets the bound port). NULL on failure with
 * a message in err. */
struct edge_rpc_server *edge_rpc_server_new(const struct edge_rpc_server_config *cfg, int *ret_port,
                                            char *err, size_t err_len);
/* Registers "/edge.v1.Admin/CreateApi" before edge_rpc_server_start(). auth may be NULL. */
int edge_rpc_server_add_unary(struct edge_rpc_server *srv, const char *method,
                              const ProtobufCMessageDescriptor *req_desc, edge_rpc_unary_fn fn,
                              edge_rpc_auth_fn auth, void *ctx);
int edge_rpc_server_add_bidi(struct edge_rpc_server *srv, const char *method,
                             const ProtobufCMessageDescriptor *req_desc,
                             const struct edge_rpc_stream_ops *ops, edge_rpc_auth_fn auth,
                             void *ctx);
int edge_rpc_server_start(struct edge_rpc_server *srv);
/* Runs completions for up to timeout_ms. Returns 0, or -ESHUTDOWN once fully shut down. */
int edge_rpc_server_poll(struct edge_rpc_server *srv, int timeout_ms);
/* Finishes every stream with UNAVAILABLE "server shutting down", stops accepting, waits up
 * to grace_ms for calls in flight, then cancels the rest and drains. */
void edge_rpc_server_shutdown(struct edge_rpc_server *srv, int grace_ms);
void edge_rpc_server_free(struct edge_rpc_server *srv);

/* Sends one packed message (the slice is ref'd, not copied: one packed snapshot can go to
 * many streams). Returns -EBUSY while a send is in flight, -EPIPE when the stream is over. */
int edge_rpc_stream_send(struct edge_rpc_stream *s, grpc_slice packed);
bool edge_rpc_stream_busy(const struct edge_rpc_stream *s);
/* Ends the stream with a status once the send in flight (if any) completes. */
void edge_rpc_stream_finish(struct edge_rpc_stream *s, grpc_status_code code, const char *msg);
const struct edge_rpc_call *edge_rpc_stream_call(const struct edge_rpc_stream *s);
void *edge_rpc_stream_data(const struct edge_rpc_stream *s);
void edge_rpc_stream_set_data(struct edge_rpc_stream *s, void *data);

/* Packs a message into a refcounted slice (one ref, the caller's). */
grpc_slice edge_rpc_pack(const ProtobufCMessage *msg);
/* Unpacks a received byte buffer; NULL when it does not parse. */
ProtobufCMessage *edge_rpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb);

/* ---- client ------------------------------------------------------------------------------ */

struct edge_rpc_client;

struct edge_rpc_client_config {
    const char *token;     /* sent as "authorization: Bearer <token>"; NULL: none */
    const char *ca_file;   /* PEM; TLS when set */
    const char *cert_file; /* client certificate for mTLS (with key_file) */
    const char *key_file;
    size_t max_message_bytes; /* 0: EDGE_RPC_MAX_MESSAGE_BYTES */
};

/* target: "127.0.0.1:9090". NULL on failure with a message in err. */
struct edge_rpc_client *edge_rpc_client_new(const char *target,
                                            const struct edge_rpc_client_config *cfg, char *err,
                                            size_t err_len);
/* A blocking unary call. Returns the status code (st filled). On OK *ret_resp is set (owned;
 * edge_pb_free()). A server that cannot be reached gives UNAVAILABLE. */
grpc_status_code edge_rpc_client_call(struct edge_rpc_client *cli, const char *method,
                                      const ProtobufCMessage *req,
                                      const ProtobufCMessageDescriptor *resp_desc, int timeout_ms,
                                      ProtobufCMessage **ret_resp, struct edge_rpc_status *st);
void edge_rpc_client_free(struct edge_rpc_client *cli);

#endif
