#include "pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *
edge_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return p;
}

void *
edge_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return q;
}

char *
edge_pb_strndup(const char *s, size_t len)
{
    if (!s || len == 0)
        return (char *)protobuf_c_empty_string;
    char *d = edge_xcalloc(1, len + 1);
    memcpy(d, s, len);
    return d;
}

char *
edge_pb_strdup(const char *s)
{
    return edge_pb_strndup(s, s ? strlen(s) : 0);
}

char *
edge_pb_strdup_heap(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    char *d = edge_xcalloc(1, len + 1);
    if (len)
        memcpy(d, s, len);
    return d;
}

void *
edge_pb_free(void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
    return NULL;
}

void *
edge_pb_new(const ProtobufCMessageDescriptor *desc)
{
    ProtobufCMessage *m = edge_xcalloc(1, desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

void *
edge_pb_dup(const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    void *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    free(buf);
    return copy;
}

void
edge_pb_append(void ***arr, size_t *n, void *item)
{
    *arr = edge_xrealloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[(*n)++] = item;
}

size_t
edge_pb_varint_size(uint64_t v)
{
    size_t n = 1;
    for (; v >= 0x80; v >>= 7)
        n++;
    return n;
}

uint8_t *
edge_pb_put_varint(uint8_t *p, uint64_t v)
{
    for (; v >= 0x80; v >>= 7)
        *p++ = (uint8_t)(v | 0x80);
    *p++ = (uint8_t)v;
    return p;
}
