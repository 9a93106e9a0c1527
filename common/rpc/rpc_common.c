#include "rpc.h"
#include "status.h"

#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
edge_rpc_fail(struct edge_rpc_status *st, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;

    st->code = code;
    va_start(ap, fmt);
    (void)vsnprintf(st->message, sizeof(st->message), fmt, ap);
    va_end(ap);
    return code == GRPC_STATUS_OK ? 0 : -1;
}

const char *
edge_rpc_code_name(grpc_status_code code)
{
    return edge_status_name((int)code);
}

grpc_slice
edge_rpc_pack(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    return s;
}

ProtobufCMessage *
edge_rpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader reader;
    ProtobufCMessage *msg;

    if (!grpc_byte_buffer_reader_init(&reader, bb))
        return NULL;
    /* Single-slice buffers (most small messages) unpack in place; others take one copy. */
    if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        grpc_slice s = bb->data.raw.slice_buffer.slices[0];
        msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    } else {
        grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
        msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all),
                                        GRPC_SLICE_START_PTR(all));
        grpc_slice_unref(all);
    }
    grpc_byte_buffer_reader_destroy(&reader);
    return msg;
}
