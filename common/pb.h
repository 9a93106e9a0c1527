/* Helpers for protobuf-c messages owned "unpacked-style": every string, bytes field, repeated
 * array and sub-message is its own heap block (or protobuf_c_empty_string), so that
 * protobuf_c_message_free_unpacked(msg, NULL) -- edge_pb_free() -- frees the whole tree.
 * Messages returned by edge_rpc_*, the store and the handlers all follow this convention. */
#ifndef EDGE_PB_H
#define EDGE_PB_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Returns an owned copy of s for a singular string field: protobuf_c_empty_string for NULL or
 * "". Not for elements of repeated string fields, which protobuf-c frees one by one: use
 * edge_pb_strdup_heap() there. Aborts on allocation failure (control plane and CLI only). */
char *edge_pb_strdup(const char *s);
/* Always a heap copy, even of "" (repeated string elements). */
char *edge_pb_strdup_heap(const char *s);
char *edge_pb_strndup(const char *s, size_t len);
/* Frees a message tree; accepts NULL. Always returns NULL. */
void *edge_pb_free(void *msg);
/* Returns a heap-allocated, initialised message of the given type. */
void *edge_pb_new(const ProtobufCMessageDescriptor *desc);
/* Deep copy through pack/unpack; returns NULL on allocation failure. */
void *edge_pb_dup(const ProtobufCMessage *msg);
/* Appends item (taken) to a repeated message field: *arr/ *n grow by one. */
void edge_pb_append(void ***arr, size_t *n, void *item);
/* The wire's base-128 varint (for writing length-delimited fields by hand: concatenating
 * packed messages without packing them again). */
size_t edge_pb_varint_size(uint64_t v);
/* Writes v at p; returns the byte after it. */
uint8_t *edge_pb_put_varint(uint8_t *p, uint64_t v);
/* calloc/realloc that abort on failure (boot, control plane and CLI only). */
void *edge_xcalloc(size_t n, size_t size);
void *edge_xrealloc(void *p, size_t size);

#endif
