/* Literal upstream targets in stage variables (a route whose upstream is
 * ${stageVariables.NAME} and whose value is not an upstream name): read the same way by the
 * nodes, which use them, and by the control plane's route test, which explains them. */
#include "route.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A host name or IPv4 literal: letters, digits, '-' and '.'; an IPv6 literal in brackets. */
static bool
target_host_ok(const char *h, size_t n, bool bracketed)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        bool ok =
            bracketed ? isxdigit(c) || c == ':' || c == '.' : isalnum(c) || c == '-' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

int
edge_route_parse_target(const char *value, char *host, size_t host_len, uint16_t *ret_port)
{
    const char *p = value;
    bool scheme = strncmp(p, "http://", 7) == 0;

    if (scheme)
        p += 7;
    size_t n = strlen(p);
    if (scheme && n > 0 && p[n - 1] == '/')
        n--;
    const char *h = p, *hend, *colon;
    bool bracketed = p[0] == '[';
    if (bracketed) {
        const char *rb = memchr(p, ']', n);
        if (!rb)
            return -EINVAL;
        h = p + 1;
        hend = rb;
        colon = rb + 1 < p + n ? rb + 1 : NULL;
        if (colon && *colon != ':')
            return -EINVAL;
    } else {
        colon = memchr(p, ':', n);
        hend = colon ? colon : p + n;
    }
    size_t hl = (size_t)(hend - h);
    if (!target_host_ok(h, hl, bracketed) || hl >= host_len)
        return -EINVAL;
    unsigned long port = 80;
    if (colon) {
        size_t pl = (size_t)(p + n - colon - 1);
        if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") < pl)
            return -EINVAL;
        char digits[6];
        memcpy(digits, colon + 1, pl);
        digits[pl] = '\0';
        port = strtoul(digits, NULL, 10);
    } else if (!scheme) {
        return -EINVAL; /* "host" alone would be an upstream name nobody defined */
    }
    if (port == 0 || port > 65535)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *ret_port = (uint16_t)port;
    return 0;
}
