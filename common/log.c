#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *log_ident = "edge";
static enum edge_log_level log_level = EDGE_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
edge_log_set_ident(const char *ident)
{
    log_ident = ident;
}

void
edge_log_set_level(enum edge_log_level level)
{
    log_level = level;
}

int
edge_log_parse_level(const char *name, enum edge_log_level *ret_level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *ret_level = (enum edge_log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool
edge_log_enabled(enum edge_log_level level)
{
    return level >= log_level;
}

void
edge_log_write(enum edge_log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s %s: ", ts.tv_nsec / 1000000,
                          level_names[level], log_ident);
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line keeps lines from several threads whole. */
    (void)fwrite(line, 1, n, stderr);
    (void)fflush(stderr);
}
