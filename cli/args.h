/* Command-line parsing for edgectl: flags against small tables, numbers with bounds, and the
 * value syntaxes the CLI checks locally (HOST:PORT, targets, headers, k=v) so that a typo
 * exits 2 before anything is sent.
 *
 * Ownership: ctl_args borrows argv (its strings must outlive it). Values returned by the
 * ctl_parse_* helpers that build protobuf fields are owned in the common/pb.h convention. */
#ifndef CTL_ARGS_H
#define CTL_ARGS_H

#include "edge/v1/resources.pb-c.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ctl_opt_flags {
    CTL_OPT_ARG = 1u << 0,   /* takes a value: --name V or --name=V (-x V, -xV) */
    CTL_OPT_MULTI = 1u << 1, /* may be given more than once */
};

/* One flag. Tables end with an entry whose name is NULL. */
struct ctl_opt {
    const char *name; /* long name without "--" */
    char short_name;  /* 0: none */
    unsigned flags;   /* enum ctl_opt_flags */
};

struct ctl_optval {
    const struct ctl_opt *opt;
    const char *value; /* NULL for flags without a value */
};

struct ctl_args {
    char **pos; /* positional arguments in order (borrowed from argv) */
    size_t n_pos;
    struct ctl_optval *vals; /* every flag seen, in order */
    size_t n_vals;
    bool help; /* -h or --help was seen */
};

/* Parses argv[0..argc) against tables (a NULL-terminated array of flag tables, searched in
 * order). "--" ends the flags; a lone "-" is positional. With stop_at_positional the first
 * positional argument and everything after it are left unparsed in pos (global flags before
 * the noun). -h/--help is recognised everywhere and sets help. Returns 0, or -EINVAL with a
 * one-line message in err (a) is then empty). */
int ctl_args_parse(struct ctl_args *a, const struct ctl_opt *const *tables, int argc, char **argv,
                   bool stop_at_positional, char *err, size_t err_len);
void ctl_args_done(struct ctl_args *a);

/* The value of the flag (the last one if repeated), or NULL when absent or valueless. */
const char *ctl_args_get(const struct ctl_args *a, const char *name);
bool ctl_args_has(const struct ctl_args *a, const char *name);
/* Whether any flag of table was given (global flags do not count towards "nothing to do"). */
bool ctl_args_any(const struct ctl_args *a, const struct ctl_opt *table);
/* Iterates the values of a repeated flag: start with *cursor = 0; NULL when done. */
const char *ctl_args_next(const struct ctl_args *a, const char *name, size_t *cursor);

/* Decimal numbers, whole string, within [min, max]. Return 0, -EINVAL (not a number) or
 * -ERANGE (outside the bounds); *ret is untouched on failure. */
int ctl_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret);
int ctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
/* A finite decimal number (no hex, inf or nan). */
int ctl_parse_double(const char *s, double min, double max, double *ret);

/* "host:port", "[v6addr]:port". The host is an IP literal or a name of letters, digits, '.',
 * '-', '_'; a bare IPv6 address must be bracketed. Port 1..65535. *ret_host gets an owned copy
 * (brackets removed, free()), unless ret_host is NULL. Returns 0 or -EINVAL. */
int ctl_parse_hostport(const char *s, char **ret_host, uint32_t *ret_port);
/* "HOST:PORT[,weight=W][,HOST:PORT[,weight=W]]..." (W 1..1000) appended to *targets (count *n) as
 * owned Edge__V1__Target messages. On failure nothing is appended. Returns 0 or -EINVAL. */
int ctl_parse_targets(const char *s, Edge__V1__Target ***targets, size_t *n);
/* "Name: value" (the name is an HTTP token; blanks around the value are trimmed). Returns an
 * owned Edge__V1__HeaderMatch in *ret, or -EINVAL. */
int ctl_parse_header(const char *s, Edge__V1__HeaderMatch **ret);
/* "key=value" with a non-empty key; *ret_key and *ret_value are owned copies (edge_pb_*).
 * Returns 0 or -EINVAL. */
int ctl_parse_kv(const char *s, char **ret_key, char **ret_value);

#endif
