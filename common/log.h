/* Leveled logging to stderr, one line per event:
 *   2026-12-02T05:50:00.123Z info  controlplane: message
 * Library code returns errors and does not log; program code logs each error once. */
#ifndef EDGE_LOG_H
#define EDGE_LOG_H

#include <stdbool.h>

enum edge_log_level {
    EDGE_LOG_DEBUG = 0,
    EDGE_LOG_INFO = 1,
    EDGE_LOG_WARN = 2,
    EDGE_LOG_ERROR = 3,
};

/* Sets the program name printed on every line (borrowed; must outlive logging). */
void edge_log_set_ident(const char *ident);
void edge_log_set_level(enum edge_log_level level);
/* "debug", "info", "warn", "error" -> 0, or -EINVAL. */
int edge_log_parse_level(const char *name, enum edge_log_level *ret_level);
bool edge_log_enabled(enum edge_log_level level);
void edge_log_write(enum edge_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The level test comes first so that disabled lines cost no formatting. */
#define edge_log(level, ...)                                                                       \
    do {                                                                                           \
        if (edge_log_enabled(level))                                                               \
            edge_log_write(level, __VA_ARGS__);                                                    \
    } while (0)
#define edge_log_debug(...) edge_log(EDGE_LOG_DEBUG, __VA_ARGS__)
#define edge_log_info(...)  edge_log(EDGE_LOG_INFO, __VA_ARGS__)
#define edge_log_warn(...)  edge_log(EDGE_LOG_WARN, __VA_ARGS__)
#define edge_log_error(...) edge_log(EDGE_LOG_ERROR, __VA_ARGS__)

#endif
