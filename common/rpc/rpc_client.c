/* The blocking unary client half of the gRPC layer (edgectl, tests, tools). */
#include "pb.h"
#include "rpc.h"

#include <errno.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct edge_rpc_client {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    char *authorization; /* "Bearer <token>" or NULL */
};

static char *
read_file(const char *path, char *err, size_t err_len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f) {
        snprintf(err, err_len, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = edge_xrealloc(buf, cap + 1);
        }
        n = fread(buf + len, 1, cap - len, f);
        if (n == 0)
            break;
        len += n;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

struct edge_rpc_client *
edge_rpc_client_new(const char *target, const struct edge_rpc_client_config *cfg, char *err,
                    size_t err_len)
{
    struct edge_rpc_client *cli = edge_xcalloc(1, sizeof(*cli));
    grpc_channel_credentials *creds;
    int max_msg =
        (int)(cfg && cfg->max_message_bytes ? cfg->max_message_bytes : EDGE_RPC_MAX_MESSAGE_BYTES);
    grpc_arg args[] = {
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, {.integer = max_msg}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_SEND_MESSAGE_LENGTH, {.integer = max_msg}},
        {GRPC_ARG_INTEGER, GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, {.integer = 100}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, {.integer = 100}},
        {GRPC_ARG_INTEGER, GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, {.integer = 1000}},
    };
    grpc_channel_args chargs = {sizeof(args) / sizeof(args[0]), args};

    if (cfg && cfg->ca_file) {
        char *ca = read_file(cfg->ca_file, err, err_len);
        char *cert = NULL, *key = NULL;
        if (!ca)
            goto fail;
        if (cfg->cert_file && cfg->key_file) {
            cert = read_file(cfg->cert_file, err, err_len);
            key = cert ? read_file(cfg->key_file, err, err_len) : NULL;
            if (!key) {
                free(ca);
                free(cert);
                goto fail;
            }
        }
        grpc_ssl_pem_key_cert_pair kp = {key, cert};
        creds = grpc_ssl_credentials_create(ca, key ? &kp : NULL, NULL, NULL);
        free(ca);
        free(cert);
        free(key);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    cli->channel = grpc_channel_create(target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    if (!cli->channel) {
        snprintf(err, err_len, "cannot create a channel to %s", target);
        goto fail;
    }
    cli->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (cfg && cfg->token && cfg->token[0]) {
        size_t n = strlen(cfg->token) + sizeof("Bearer ");
        cli->authorization = edge_xcalloc(1, n);
        snprintf(cli->authorization, n, "Bearer %s", cfg->token);
    }
    return cli;
fail:
    free(cli);
    return NULL;
}

grpc_status_code
edge_rpc_client_call(struct edge_rpc_client *cli, const char *method, const ProtobufCMessage *req,
                     const ProtobufCMessageDescriptor *resp_desc, int timeout_ms,
                     ProtobufCMessage **ret_resp, struct edge_rpc_status *st)
{
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
    grpc_slice method_slice = grpc_slice_from_copied_string(method);
    grpc_call *call = grpc_channel_create_call(cli->channel, NULL, GRPC_PROPAGATE_DEFAULTS, cli->cq,
                                               method_slice, NULL, deadline, NULL);
    grpc_slice_unref(method_slice);
    grpc_metadata md;
    grpc_metadata_array initial_md, trailing_md;
    grpc_byte_buffer *resp_bb = NULL;
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    const char *error_string = NULL;
    grpc_op ops[6];
    int tag;

    *ret_resp = NULL;
    if (!call)
        return edge_rpc_fail(st, GRPC_STATUS_INTERNAL, "cannot create call"), GRPC_STATUS_INTERNAL;
    grpc_slice req_slice = edge_rpc_pack(req);
    grpc_byte_buffer *req_bb = grpc_raw_byte_buffer_create(&req_slice, 1);
    grpc_slice_unref(req_slice);
    grpc_metadata_array_init(&initial_md);
    grpc_metadata_array_init(&trailing_md);

    memset(ops, 0, sizeof(ops));
    memset(&md, 0, sizeof(md));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (cli->authorization) {
        md.key = grpc_slice_from_static_string("authorization");
        md.value = grpc_slice_from_copied_string(cli->authorization);
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &md;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = req_bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &resp_bb;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing_md;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.error_string = &error_string;

    if (grpc_call_start_batch(call, ops, 6, &tag, NULL) != GRPC_CALL_OK) {
        edge_rpc_fail(st, GRPC_STATUS_INTERNAL, "cannot start call");
        code = GRPC_STATUS_INTERNAL;
    } else {
        (void)grpc_completion_queue_pluck(cli->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (code == GRPC_STATUS_OK) {
            *ret_resp = resp_bb ? edge_rpc_unpack(resp_desc, resp_bb) : NULL;
            if (!*ret_resp) {
                code = GRPC_STATUS_INTERNAL;
                edge_rpc_fail(st, code, "response is not a valid %s", resp_desc->name);
            } else {
                edge_rpc_fail(st, code, "%s", "");
            }
        } else {
            char *d = grpc_slice_to_c_string(details);
            edge_rpc_fail(st, code, "%s", d[0] ? d : (error_string ? error_string : ""));
            gpr_free(d);
        }
    }
    if (cli->authorization)
        grpc_slice_unref(md.value);
    grpc_byte_buffer_destroy(req_bb);
    if (resp_bb)
        grpc_byte_buffer_destroy(resp_bb);
    grpc_slice_unref(details);
    gpr_free((void *)error_string);
    grpc_metadata_array_destroy(&initial_md);
    grpc_metadata_array_destroy(&trailing_md);
    grpc_call_unref(call);
    return code;
}

void
edge_rpc_client_free(struct edge_rpc_client *cli)
{
    if (!cli)
        return;
    grpc_channel_destroy(cli->channel);
    grpc_completion_queue_shutdown(cli->cq);
    grpc_completion_queue_destroy(cli->cq);
    free(cli->authorization);
    free(cli);
}
