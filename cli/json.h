/* One generic converter between protobuf-c messages and jansson values, driven by the message
 * descriptors, so every message edgectl prints as JSON has the same shape:
 *   field names as in the .proto; enums as their value names (an unknown value as its number);
 *   64-bit integers as JSON numbers (a uint64 above INT64_MAX, which jansson cannot hold, as
 *   a decimal string); non-finite floats as "NaN"/"Infinity"/"-Infinity"; bytes as base64;
 *   repeated fields as arrays; map fields as objects; an unset sub-message as null; proto3
 *   scalars always (zero values included) so that consumers need no defaults table; an
 *   unset optional or unselected oneof member is omitted.
 * The reverse direction accepts exactly that shape (plus numbers given as strings and enums
 * as numbers) and rejects unknown fields, so output round-trips. */
#ifndef CTL_JSON_H
#define CTL_JSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Returns a new reference, or NULL on allocation failure. msg is borrowed. */
json_t *ctl_json_from_message(const ProtobufCMessage *msg);

/* Builds a message of type desc from j (borrowed). On success *ret gets an owned message
 * (edge_pb_free()) and 0 is returned; on failure -EINVAL with a message naming the field in
 * err, and *ret is untouched. */
int ctl_json_to_message(const ProtobufCMessageDescriptor *desc, const json_t *j,
                        ProtobufCMessage **ret, char *err, size_t err_len);

#endif
