/* What edgectl prints: aligned tables for people, JSON (json.h) for programs, and the
 * "key: value" description of one object that `get` prints in table mode. */
#ifndef CTL_OUTPUT_H
#define CTL_OUTPUT_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <stdio.h>

enum ctl_output {
    CTL_OUTPUT_TABLE = 0,
    CTL_OUTPUT_JSON = 1,
    CTL_OUTPUT_YAML = 2, /* only `api export` takes it (ctl_apply_global refuses it elsewhere) */
};

/* "table", "json" or "yaml" -> 0, else -EINVAL. */
int ctl_output_parse(const char *s, enum ctl_output *ret);

struct ctl_table;

/* headers: NULL-terminated column titles (borrowed; must outlive the table). */
struct ctl_table *ctl_table_new(const char *const *headers);
struct ctl_table *ctl_table_free(struct ctl_table *t);
/* Appends the next cell, row by row, left to right (copied; NULL or "" prints as "-").
 * Control characters become spaces so that server text cannot break rows or the terminal. */
void ctl_table_cell(struct ctl_table *t, const char *s);
void ctl_table_cellf(struct ctl_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Columns padded to their widest cell (in characters), two spaces apart; the header row
 * first. An incomplete last row is padded with "-". */
void ctl_table_print(const struct ctl_table *t, FILE *out);

/* A Unix time for a table: "-" for 0, "12s ago" / "5m ago" / "3h ago" / "2d ago" within a
 * week of now, else an ISO date "2026-11-20" (UTC). */
void ctl_fmt_time(int64_t t, int64_t now, char *buf, size_t len);
/* ISO 8601 UTC "2026-12-02T05:51:30Z"; "-" for 0. */
void ctl_fmt_time_iso(int64_t t, char *buf, size_t len);

/* Prints j (as built by ctl_json_from_message) as indented "key: value" lines: nested
 * objects indented, arrays as "- " items, times (integer fields named *_at, *_seen) as ISO
 * plus relative, empty values as "-". */
void ctl_describe(FILE *out, const json_t *j, int64_t now);

/* Prints one message as pretty JSON (indent 2) followed by a newline. Returns 0 or -ENOMEM. */
int ctl_print_json_message(FILE *out, const ProtobufCMessage *msg);
/* Prints msgs[0..n) as one JSON array. Returns 0 or -ENOMEM. */
int ctl_print_json_list(FILE *out, ProtobufCMessage *const *msgs, size_t n);
/* Prints one message described (ctl_describe). Returns 0 or -ENOMEM. */
int ctl_print_describe(FILE *out, const ProtobufCMessage *msg, int64_t now);

#endif
