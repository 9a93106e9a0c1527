/* edgectl's shared command machinery: the context every command gets, flag handling common to
 * all commands, the Admin call wrapper and the noun -> verb dispatch.
 *
 * Commands return an exit status (enum ctl_exit) and print their own errors, each once:
 * usage errors through ctl_usage_error(), failed calls through ctl_call(). */
#ifndef CTL_H
#define CTL_H

#include "args.h"
#include "output.h"

#include <protobuf-c/protobuf-c.h>
#include <stdint.h>

enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAIL = 1,  /* a call failed (or could not be made) */
    CTL_EXIT_USAGE = 2, /* bad command line */
    /* Internal: --help was printed; main() exits 0. Lets commands stop with `return r`. */
    CTL_EXIT_HELP = 100,
};

struct edge_rpc_client;

struct ctl_ctx {
    const char *server;     /* "127.0.0.1:9090" */
    const char *token;      /* --token, else NULL */
    const char *token_file; /* --token-file, else NULL */
    const char *env_token;  /* EDGE_TOKEN, else NULL */
    const char *ca_file, *cert_file, *key_file;
    enum ctl_output output;
    uint32_t timeout_ms;
    int64_t now;                    /* for relative times */
    struct edge_rpc_client *client; /* connected on the first call */
    char *token_buf;                /* the token read from token_file */
    bool grpc_initialised;
};

/* A command's description: the name used in messages ("route create"), its usage text
 * (printed as is for --help), its own flags (ctl_global_opts are always accepted too) and
 * how many positional arguments it takes. */
struct ctl_cmd {
    const char *name;
    const char *usage;
    const struct ctl_opt *opts;
    unsigned min_pos, max_pos;
};

typedef int (*ctl_cmd_fn)(struct ctl_ctx *ctx, int argc, char **argv);

struct ctl_verb {
    const char *name;
    ctl_cmd_fn fn; /* gets argv[0] = the verb */
};

/* --server, --token, --token-file, -o/--output, --timeout, --ca-file, --cert-file, --key-file */
extern const struct ctl_opt ctl_global_opts[];

/* Defaults, then EDGE_SERVER / EDGE_TOKEN from the environment. */
void ctl_ctx_init(struct ctl_ctx *ctx);
/* Closes the client; the context can be initialised again. */
void ctl_ctx_done(struct ctl_ctx *ctx);
/* Applies the global flags found in a (validating -o, --timeout and --server). Returns
 * CTL_EXIT_OK or CTL_EXIT_USAGE (printed, with cmd_name in the hint). */
int ctl_apply_global(struct ctl_ctx *ctx, const struct ctl_args *a, const char *cmd_name);

/* Prints "edgectl: <message>" and "Try 'edgectl <cmd_name> --help'." to stderr and returns
 * CTL_EXIT_USAGE. cmd_name may be NULL (top level). */
int ctl_usage_error(const char *cmd_name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Parses a command's arguments (argv[0] is the verb and is skipped): prints usage and returns
 * CTL_EXIT_HELP on --help, prints and returns CTL_EXIT_USAGE on a bad flag or a wrong number
 * of positional arguments, else applies the global flags and returns 0 with *ret_args filled
 * (ctl_args_done() it). */
int ctl_begin(struct ctl_ctx *ctx, const struct ctl_cmd *cmd, int argc, char **argv,
              struct ctl_args *ret_args);

/* Flag value helpers for commands: parse the named flag if present. They return 0 when the
 * flag is absent (*ret untouched) or parsed, and print a usage error and return
 * CTL_EXIT_USAGE for a bad value. */
int ctl_flag_u32(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name,
                 uint32_t min, uint32_t max, uint32_t *ret);
int ctl_flag_u64(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name,
                 uint64_t min, uint64_t max, uint64_t *ret);
int ctl_flag_double(const struct ctl_cmd *cmd, const struct ctl_args *a, const char *name,
                    double min, double max, double *ret);

/* Calls /edge.v1.Admin/<method>, connecting first if needed. On success *ret_resp gets the
 * response (owned, edge_pb_free()) and CTL_EXIT_OK is returned; otherwise prints
 * "edgectl: <CODE>: <message>" and returns CTL_EXIT_FAIL. */
int ctl_call(struct ctl_ctx *ctx, const char *method, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, ProtobufCMessage **ret_resp);

/* --rate R / --burst B into *throttle (an owned sub-message, allocated if NULL): both set it;
 * one alone changes an existing throttle and is a usage error when there is none. Neither:
 * no change. Returns 0 or CTL_EXIT_USAGE (printed). */
int ctl_flag_throttle(const struct ctl_cmd *cmd, const struct ctl_args *a,
                      Edge__V1__Throttle **throttle);

/* Replaces an owned string field of a message (common/pb.h convention) with a copy of v. */
void ctl_set_str(char **field, const char *v);

/* Prints a created/updated/fetched object: JSON in json mode, else described. */
int ctl_print_object(struct ctl_ctx *ctx, const ProtobufCMessage *msg);
/* In json mode prints msg as JSON; else prints line (a confirmation) with a newline. */
int ctl_print_done(struct ctl_ctx *ctx, const ProtobufCMessage *msg, const char *line);

/* Runs the verb argv[0] of noun from verbs (NULL-name terminated); with no verb or -h/--help
 * prints usage (to stderr with exit 2 when the verb is missing). */
int ctl_dispatch(struct ctl_ctx *ctx, const char *noun, const char *usage,
                 const struct ctl_verb *verbs, int argc, char **argv);

/* One entry point per noun; argv[0] is the first word after the noun. */
int ctl_cmd_api(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_route(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_upstream(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_deploy(struct ctl_ctx *ctx, int argc, char **argv); /* argv[0] = "deploy" */
int ctl_cmd_deployment(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_stage(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_domain(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_node(struct ctl_ctx *ctx, int argc, char **argv);
int ctl_cmd_status(struct ctl_ctx *ctx, int argc, char **argv); /* argv[0] = "status" */
int ctl_cmd_audit(struct ctl_ctx *ctx, int argc, char **argv);  /* argv[0] = "audit" */

#endif
