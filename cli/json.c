#include "json.h"

#include "pb.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MEMBER(type, msg, off)  (*(type *)((char *)(msg) + (off)))
#define CMEMBER(type, msg, off) (*(const type *)((const char *)(msg) + (off)))

static size_t
elt_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sizeof(int32_t);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

/* protobuf-c keeps no map_entry option, so a map field is recognised by the shape protoc
 * gives it: a repeated nested message "<Field>Entry" with exactly key = 1 and value = 2. */
static bool
is_map(const ProtobufCMessageDescriptor *parent, const ProtobufCFieldDescriptor *f)
{
    if (f->label != PROTOBUF_C_LABEL_REPEATED || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return false;
    const ProtobufCMessageDescriptor *e = f->descriptor;
    size_t parent_len = strlen(parent->name), sn_len = strlen(e->short_name);
    const ProtobufCFieldDescriptor *k = protobuf_c_message_descriptor_get_field(e, 1);
    const ProtobufCFieldDescriptor *v = protobuf_c_message_descriptor_get_field(e, 2);
    return e->n_fields == 2 && k && v && strcmp(k->name, "key") == 0 &&
           strcmp(v->name, "value") == 0 && sn_len > 5 &&
           strcmp(e->short_name + sn_len - 5, "Entry") == 0 &&
           strncmp(e->name, parent->name, parent_len) == 0 && e->name[parent_len] == '.';
}

/* jansson refuses strings that are not UTF-8; the server's data should be, but a table or
 * a pipe must not lose a whole object over one byte, so such bytes become '?'. */
static json_t *
string_to_json(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j)
        return j;
    char *copy = edge_xcalloc(1, len + 1);
    for (size_t i = 0; i < len; i++)
        copy[i] = (unsigned char)s[i] < 0x80 && s[i] != '\0' ? s[i] : '?';
    j = json_stringn(copy, len);
    free(copy);
    return j;
}

static json_t *
bytes_to_json(const ProtobufCBinaryData *b)
{
    if (b->len > (size_t)INT32_MAX / 2)
        return NULL;
    unsigned char *out = edge_xcalloc(1, 4 * ((b->len + 2) / 3) + 1);
    int n = EVP_EncodeBlock(out, b->data, (int)b->len);
    json_t *j = json_stringn((const char *)out, (size_t)n);
    free(out);
    return j;
}

static json_t *
double_to_json(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/* One value of field f stored at p (an element of a repeated field, or the member itself). */
static json_t *
value_to_json(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        if (v <= INT64_MAX)
            return json_integer((json_int_t)v);
        char buf[24];
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_string(buf);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return double_to_json(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return double_to_json(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return string_to_json(s ? s : "", s ? strlen(s) : 0);
    }
    case PROTOBUF_C_TYPE_BYTES:
        return bytes_to_json(p);
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        return m ? ctl_json_from_message(m) : json_null();
    }
    }
    return NULL;
}

/* The text of a map key (maps allow integral, bool and string keys). */
static json_t *
map_to_json(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *const *entries, size_t n)
{
    const ProtobufCMessageDescriptor *e = f->descriptor;
    const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(e, 1);
    const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(e, 2);
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *k = value_to_json(kf, (const char *)entries[i] + kf->offset);
        json_t *v = value_to_json(vf, (const char *)entries[i] + vf->offset);
        char buf[32];
        const char *key = NULL;
        if (json_is_string(k))
            key = json_string_value(k);
        else if (json_is_integer(k) &&
                 snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(k)) > 0)
            key = buf;
        else if (json_is_boolean(k))
            key = json_is_true(k) ? "true" : "false";
        int r = -1;
        if (key && v)
            r = json_object_set_new(obj, key, v); /* takes v, even on failure */
        else
            json_decref(v);
        json_decref(k);
        if (r < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *
repeated_to_json(const ProtobufCFieldDescriptor *f, const void *arr, size_t n)
{
    json_t *a = json_array();
    size_t sz = elt_size(f->type);
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, value_to_json(f, (const char *)arr + i * sz)) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

json_t *
ctl_json_from_message(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    json_t *obj = json_object();
    if (!obj)
        return NULL;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const void *p = (const char *)msg + f->offset;
        json_t *v;

        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            if (CMEMBER(uint32_t, msg, f->quantifier_offset) != f->id)
                continue;
        } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL) {
            bool is_ptr = f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE;
            if (is_ptr ? *(void *const *)p == NULL
                       : !CMEMBER(protobuf_c_boolean, msg, f->quantifier_offset))
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = CMEMBER(size_t, msg, f->quantifier_offset);
            const void *arr = *(void *const *)p;
            v = is_map(d, f) ? map_to_json(f, arr, n) : repeated_to_json(f, arr, n);
        } else {
            v = value_to_json(f, p);
        }
        if (!v || json_object_set_new(obj, f->name, v) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

/* ---- JSON -> message ------------------------------------------------------------------- */

struct conv {
    char *err;
    size_t err_len;
    char path[256]; /* "route.integration.timeout_ms" for messages */
};

static int
conv_fail(struct conv *c, const char *what)
{
    snprintf(c->err, c->err_len, "%s: %s", c->path[0] ? c->path : "(top)", what);
    return -EINVAL;
}

static int
json_to_int(struct conv *c, const json_t *j, int64_t min, int64_t max, int64_t *ret)
{
    int64_t v;
    if (json_is_integer(j)) {
        v = json_integer_value(j);
    } else if (json_is_string(j)) {
        char *end;
        const char *s = json_string_value(j);
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        if (!*s || *end || errno)
            return conv_fail(c, "not an integer");
        v = ll;
    } else {
        return conv_fail(c, "not an integer");
    }
    if (v < min || v > max)
        return conv_fail(c, "integer out of range");
    *ret = v;
    return 0;
}

static int
json_to_uint64(struct conv *c, const json_t *j, uint64_t *ret)
{
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (*s < '0' || *s > '9' || *end || errno)
            return conv_fail(c, "not an unsigned integer");
        *ret = v;
        return 0;
    }
    int64_t v;
    int r = json_to_int(c, j, 0, INT64_MAX, &v);
    if (r == 0)
        *ret = (uint64_t)v;
    return r;
}

static int
json_to_double(struct conv *c, const json_t *j, double *ret)
{
    if (json_is_number(j)) {
        *ret = json_number_value(j);
        return 0;
    }
    const char *s = json_string_value(j);
    if (s && strcmp(s, "NaN") == 0)
        *ret = NAN;
    else if (s && strcmp(s, "Infinity") == 0)
        *ret = INFINITY;
    else if (s && strcmp(s, "-Infinity") == 0)
        *ret = -INFINITY;
    else
        return conv_fail(c, "not a number");
    return 0;
}

static int
json_to_bytes(struct conv *c, const json_t *j, ProtobufCBinaryData *ret)
{
    const char *s = json_string_value(j);
    if (!s)
        return conv_fail(c, "not a base64 string");
    size_t len = json_string_length(j);
    if (len % 4 != 0 || len > (size_t)INT32_MAX)
        return conv_fail(c, "bad base64");
    uint8_t *out = edge_xcalloc(1, len / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    if (n < 0) {
        free(out);
        return conv_fail(c, "bad base64");
    }
    /* EVP_DecodeBlock counts the padding as data. */
    for (size_t i = len; i > 0 && s[i - 1] == '=' && n > 0; i--)
        n--;
    ret->data = out;
    ret->len = (size_t)n;
    return 0;
}

static int message_from_json(struct conv *c, const ProtobufCMessageDescriptor *d, const json_t *j,
                             ProtobufCMessage **ret);

/* Stores one value of field f at p (zeroed or default-initialised memory). */
static int
value_from_json(struct conv *c, const ProtobufCFieldDescriptor *f, const json_t *j, void *p,
                bool repeated)
{
    int64_t i;
    uint64_t u;
    double d;
    int r = 0;

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((r = json_to_int(c, j, INT32_MIN, INT32_MAX, &i)) == 0)
            *(int32_t *)p = (int32_t)i;
        return r;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((r = json_to_int(c, j, 0, UINT32_MAX, &i)) == 0)
            *(uint32_t *)p = (uint32_t)i;
        return r;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((r = json_to_int(c, j, INT64_MIN, INT64_MAX, &i)) == 0)
            *(int64_t *)p = i;
        return r;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((r = json_to_uint64(c, j, &u)) == 0)
            *(uint64_t *)p = u;
        return r;
    case PROTOBUF_C_TYPE_FLOAT:
        if ((r = json_to_double(c, j, &d)) == 0)
            *(float *)p = (float)d;
        return r;
    case PROTOBUF_C_TYPE_DOUBLE:
        if ((r = json_to_double(c, j, &d)) == 0)
            *(double *)p = d;
        return r;
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j))
            return conv_fail(c, "not a boolean");
        *(protobuf_c_boolean *)p = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        /* proto3 enums are open: a number the descriptor does not name is still a value
         * (and is how such a value is printed), so numbers are taken as they are. */
        if (json_is_integer(j)) {
            if ((r = json_to_int(c, j, INT32_MIN, INT32_MAX, &i)) == 0)
                *(int *)p = (int)i;
            return r;
        }
        const ProtobufCEnumValue *ev = NULL;
        if (json_is_string(j))
            ev = protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, json_string_value(j));
        if (!ev)
            return conv_fail(c, "unknown enum value");
        *(int *)p = ev->value;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING: {
        if (!json_is_string(j))
            return conv_fail(c, "not a string");
        size_t len = json_string_length(j);
        if (memchr(json_string_value(j), '\0', len))
            return conv_fail(c, "string contains NUL");
        /* free_unpacked frees every element of a repeated string field, so those must all
         * be heap blocks; a singular one may be the shared empty string. */
        if (repeated) {
            char *s = edge_xcalloc(1, len + 1);
            memcpy(s, json_string_value(j), len);
            *(char **)p = s;
        } else {
            *(char **)p = edge_pb_strndup(json_string_value(j), len);
        }
        return 0;
    }
    case PROTOBUF_C_TYPE_BYTES:
        return json_to_bytes(c, j, p);
    case PROTOBUF_C_TYPE_MESSAGE:
        if (json_is_null(j) && !repeated)
            return 0;
        return message_from_json(c, f->descriptor, j, (ProtobufCMessage **)p);
    }
    return conv_fail(c, "unsupported field type");
}

/* Fills entries from an object; keys are parsed back into the key field's type. */
static int
map_from_json(struct conv *c, const ProtobufCFieldDescriptor *f, const json_t *j, void **arr,
              size_t *n)
{
    const ProtobufCMessageDescriptor *e = f->descriptor;
    const ProtobufCFieldDescriptor *kf = protobuf_c_message_descriptor_get_field(e, 1);
    const ProtobufCFieldDescriptor *vf = protobuf_c_message_descriptor_get_field(e, 2);
    const char *key;
    json_t *value;

    if (!json_is_object(j))
        return conv_fail(c, "not an object (map)");
    *arr = edge_xcalloc(json_object_size(j) + 1, sizeof(ProtobufCMessage *));
    json_object_foreach((json_t *)j, key, value)
    {
        ProtobufCMessage *entry = edge_pb_new(e);
        ((ProtobufCMessage **)*arr)[(*n)++] = entry;
        json_t *k;
        if (kf->type == PROTOBUF_C_TYPE_STRING)
            k = json_string(key);
        else if (kf->type == PROTOBUF_C_TYPE_BOOL)
            k = strcmp(key, "true") == 0 ? json_true() : json_false();
        else
            k = json_string(key); /* integral keys: the string forms are accepted */
        int r = k ? value_from_json(c, kf, k, (char *)entry + kf->offset, false) : -ENOMEM;
        json_decref(k);
        if (r == 0)
            r = value_from_json(c, vf, value, (char *)entry + vf->offset, false);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
field_from_json(struct conv *c, const ProtobufCMessageDescriptor *d,
                const ProtobufCFieldDescriptor *f, const json_t *j, ProtobufCMessage *m)
{
    void *p = (char *)m + f->offset;
    if (json_is_null(j))
        return 0; /* null means "unset": keep the default */

    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t *n = &MEMBER(size_t, m, f->quantifier_offset);
        void **arr = p;
        if (is_map(d, f))
            return map_from_json(c, f, j, arr, n);
        if (!json_is_array(j))
            return conv_fail(c, "not an array");
        size_t sz = elt_size(f->type), count = json_array_size(j);
        /* Elements are counted as they land (a failed one stores nothing), so that freeing
         * the half-built message frees exactly what exists. */
        *arr = edge_xcalloc(count + 1, sz);
        for (size_t i = 0; i < count; i++) {
            int r = value_from_json(c, f, json_array_get(j, i), (char *)*arr + i * sz, true);
            if (r < 0)
                return r;
            (*n)++;
        }
        return 0;
    }

    /* Two members of one oneof would share the union: the first could leak or be misread. */
    if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && MEMBER(uint32_t, m, f->quantifier_offset) != 0)
        return conv_fail(c, "a second member of the same oneof");
    int r = value_from_json(c, f, j, p, false);
    if (r < 0)
        return r;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        MEMBER(uint32_t, m, f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        MEMBER(protobuf_c_boolean, m, f->quantifier_offset) = 1;
    return 0;
}

static int
message_from_json(struct conv *c, const ProtobufCMessageDescriptor *d, const json_t *j,
                  ProtobufCMessage **ret)
{
    if (!json_is_object(j))
        return conv_fail(c, "not an object");
    ProtobufCMessage *m = edge_pb_new(d);
    size_t path_len = strlen(c->path);
    const char *key;
    json_t *value;
    int r = 0;

    json_object_foreach((json_t *)j, key, value)
    {
        snprintf(c->path + path_len, sizeof(c->path) - path_len, "%s%s", path_len ? "." : "", key);
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        r = f ? field_from_json(c, d, f, value, m) : conv_fail(c, "unknown field");
        if (r < 0)
            break;
    }
    c->path[path_len] = '\0';
    if (r < 0) {
        edge_pb_free(m);
        return r;
    }
    *ret = m;
    return 0;
}

int
ctl_json_to_message(const ProtobufCMessageDescriptor *desc, const json_t *j, ProtobufCMessage **ret,
                    char *err, size_t err_len)
{
    struct conv c = {.err = err, .err_len = err_len};
    ProtobufCMessage *m = NULL;
    int r = message_from_json(&c, desc, j, &m);
    if (r < 0)
        return r;
    *ret = m;
    return 0;
}
