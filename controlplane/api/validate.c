/* Validation of Admin input. Messages name the field and never echo the offending bytes (they
 * may be anything), only where they are. */
#include "validate.h"

#include "route.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int
fail(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static bool
is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

static bool
is_tchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void
lower(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

int
cp_validate_name(const char *field, const char *name, char *err, size_t err_len)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0)
        return fail(err, err_len, "%s: required", field);
    if (n > CP_MAX_NAME_LEN)
        return fail(err, err_len, "%s: at most %d characters", field, CP_MAX_NAME_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  (i > 0 && (c == '.' || c == '_' || c == '-'));
        if (!ok)
            return fail(err, err_len,
                        "%s: must match [a-z0-9][a-z0-9._-]{0,62} (bad character "
                        "at offset %zu)",
                        field, i);
    }
    return 0;
}

/* RFC 1123 host name: dot-separated labels of 1..63 [A-Za-z0-9-], not starting or ending in
 * '-'. */
static int
check_host_name(const char *field, const char *host, char *err, size_t err_len)
{
    size_t n = strlen(host), start = 0;

    for (size_t i = 0; i <= n; i++) {
        if (i < n && host[i] != '.') {
            unsigned char c = (unsigned char)host[i];
            if (!isalnum(c) && c != '-')
                return fail(err, err_len, "%s: invalid character in host name at offset %zu", field,
                            i);
            continue;
        }
        size_t len = i - start;
        if (len == 0)
            return fail(err, err_len, "%s: empty label in host name at offset %zu", field, i);
        if (len > 63)
            return fail(err, err_len, "%s: host name label longer than 63 characters", field);
        if (host[start] == '-' || host[i - 1] == '-')
            return fail(err, err_len, "%s: host name label may not start or end with '-'", field);
        start = i + 1;
    }
    return 0;
}

int
cp_validate_host(const char *field, const char *host, char *err, size_t err_len)
{
    size_t n = host ? strlen(host) : 0;
    unsigned char buf[16];

    if (n == 0)
        return fail(err, err_len, "%s: required", field);
    if (n > CP_MAX_HOST_LEN)
        return fail(err, err_len, "%s: at most %d characters", field, CP_MAX_HOST_LEN);
    if (host[0] == '[') {
        char inner[64];
        if (n < 3 || host[n - 1] != ']' || n - 2 >= sizeof(inner))
            return fail(err, err_len, "%s: not a valid IPv6 address", field);
        memcpy(inner, host + 1, n - 2);
        inner[n - 2] = '\0';
        if (inet_pton(AF_INET6, inner, buf) != 1)
            return fail(err, err_len, "%s: not a valid IPv6 address", field);
        return 0;
    }
    if (strchr(host, ':')) {
        if (inet_pton(AF_INET6, host, buf) != 1)
            return fail(err, err_len, "%s: not a valid IPv6 address", field);
        return 0;
    }
    if (strspn(host, "0123456789.") == n) {
        if (inet_pton(AF_INET, host, buf) != 1)
            return fail(err, err_len, "%s: not a valid IPv4 address", field);
        return 0;
    }
    return check_host_name(field, host, err, err_len);
}

int
cp_validate_port(const char *field, uint32_t port, char *err, size_t err_len)
{
    if (port < 1 || port > 65535)
        return fail(err, err_len, "%s: must be 1..65535", field);
    return 0;
}

int
cp_validate_domain_host(const char *field, const char *host, char *err, size_t err_len)
{
    size_t n = host ? strlen(host) : 0;

    if (n == 0)
        return fail(err, err_len, "%s: required (a host name, \"*.suffix\" or \"*\")", field);
    if (strcmp(host, "*") == 0)
        return 0;
    if (n > CP_MAX_HOST_LEN)
        return fail(err, err_len, "%s: at most %d characters", field, CP_MAX_HOST_LEN);
    if (host[0] == '*') {
        if (host[1] != '.' || host[2] == '\0')
            return fail(err, err_len, "%s: a wildcard must be \"*.suffix\"", field);
        if (strchr(host + 2, '*'))
            return fail(err, err_len, "%s: only one leading '*' is allowed", field);
        return check_host_name(field, host + 2, err, err_len);
    }
    if (strchr(host, '*'))
        return fail(err, err_len, "%s: '*' is only allowed as \"*\" or \"*.suffix\"", field);
    return cp_validate_host(field, host, err, err_len);
}

static bool
is_pchar(unsigned char c)
{
    return isalnum(c) || (c && strchr("-._~!$&'()*+,;=:@", c));
}

int
cp_validate_base_path(const char *field, const char *path, char *err, size_t err_len)
{
    size_t n = path ? strlen(path) : 0;

    if (n == 0)
        return 0;
    if (n > CP_MAX_BASE_PATH_LEN)
        return fail(err, err_len, "%s: at most %d characters", field, CP_MAX_BASE_PATH_LEN);
    if (path[0] != '/')
        return fail(err, err_len, "%s: must be empty or start with '/'", field);
    if (path[n - 1] == '/')
        return fail(err, err_len, "%s: no trailing '/'", field);
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '/') {
            if (path[i - 1] == '/')
                return fail(err, err_len, "%s: empty segment at offset %zu", field, i);
        } else if (c == '%') {
            if (!isxdigit((unsigned char)path[i + 1]) || !isxdigit((unsigned char)path[i + 2]))
                return fail(err, err_len, "%s: bad percent-encoding at offset %zu", field, i);
            i += 2;
        } else if (!is_pchar(c)) {
            return fail(err, err_len, "%s: invalid character at offset %zu", field, i);
        }
    }
    return 0;
}

int
cp_validate_method(const char *field, const char *method, char *err, size_t err_len)
{
    if (!method || !*method)
        return fail(err, err_len, "%s: required", field);
    if (strlen(method) > 32 || edge_route_method_validate(method) < 0)
        return fail(err, err_len, "%s: must be an upper-case HTTP method or ANY", field);
    return 0;
}

int
cp_validate_path_template(const char *field, const char *path, char *err, size_t err_len)
{
    char inner[256];

    if (!path || !*path)
        return fail(err, err_len, "%s: required", field);
    if (strlen(path) > CP_MAX_PATH_LEN)
        return fail(err, err_len, "%s: at most %d characters", field, CP_MAX_PATH_LEN);
    inner[0] = '\0';
    if (edge_route_template_validate(path, inner, sizeof(inner)) < 0) {
        /* The matcher names the field "path"; ours may be longer ("route.path"). */
        const char *msg = inner;
        if (strncmp(msg, "path: ", 6) == 0)
            msg += 6;
        return fail(err, err_len, "%s: %s", field, *msg ? msg : "invalid path template");
    }
    return 0;
}

int
cp_validate_header_match(const char *field, const Edge__V1__HeaderMatch *h, char *err,
                         size_t err_len)
{
    size_t n = h->name ? strlen(h->name) : 0;

    if (n == 0)
        return fail(err, err_len, "%s.name: required", field);
    if (n > CP_MAX_HEADER_NAME_LEN)
        return fail(err, err_len, "%s.name: at most %d characters", field, CP_MAX_HEADER_NAME_LEN);
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)h->name[i]))
            return fail(err, err_len, "%s.name: invalid character at offset %zu", field, i);
    n = h->value ? strlen(h->value) : 0;
    if (n > CP_MAX_HEADER_VALUE_LEN)
        return fail(err, err_len, "%s.value: at most %d characters", field,
                    CP_MAX_HEADER_VALUE_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h->value[i];
        if (is_ctl(c) && c != '\t')
            return fail(err, err_len, "%s.value: control character at offset %zu", field, i);
    }
    return 0;
}

int
cp_validate_variable(const char *field, const char *name, const char *value, char *err,
                     size_t err_len)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0)
        return fail(err, err_len, "%s: name required", field);
    if (n > CP_MAX_VARIABLE_NAME_LEN)
        return fail(err, err_len, "%s: name at most %d characters", field,
                    CP_MAX_VARIABLE_NAME_LEN);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '_')
            return fail(err, err_len, "%s: name must match [A-Za-z0-9_]{1,64}", field);
    }
    return cp_validate_text(field, value, CP_MAX_VARIABLE_LEN, err, err_len);
}

int
cp_validate_text(const char *field, const char *text, size_t max_len, char *err, size_t err_len)
{
    size_t n = text ? strlen(text) : 0;

    if (n > max_len)
        return fail(err, err_len, "%s: at most %zu bytes", field, max_len);
    for (size_t i = 0; i < n; i++)
        if (is_ctl((unsigned char)text[i]) && text[i] != '\t')
            return fail(err, err_len, "%s: control character at offset %zu", field, i);
    return 0;
}

int
cp_validate_timeout(const char *field, uint32_t ms, char *err, size_t err_len)
{
    if (ms > CP_MAX_TIMEOUT_MS)
        return fail(err, err_len, "%s: at most %u ms", field, CP_MAX_TIMEOUT_MS);
    return 0;
}

int
cp_validate_throttle(const char *field, const Edge__V1__Throttle *t, char *err, size_t err_len)
{
    if (!t)
        return 0;
    if (!isfinite(t->rate) || t->rate < 0 || t->rate > CP_MAX_RATE)
        return fail(err, err_len, "%s.rate: must be 0..%g requests per second", field, CP_MAX_RATE);
    if (t->burst > CP_MAX_BURST)
        return fail(err, err_len, "%s.burst: at most %u", field, CP_MAX_BURST);
    return 0;
}

int
cp_validate_id(const char *field, const char *id, char prefix, bool allow_empty, char *err,
               size_t err_len)
{
    size_t n = id ? strlen(id) : 0;

    if (n == 0)
        return allow_empty ? 0 : fail(err, err_len, "%s: required", field);
    if (n != 14 || id[0] != prefix || id[1] != '-' || strspn(id + 2, "0123456789abcdef") != 12)
        return fail(err, err_len, "%s: must be \"%c-\" and 12 hex digits", field, prefix);
    return 0;
}

/* ---- whole objects ------------------------------------------------------------------------ */

int
cp_validate_api(Edge__V1__Api *api, char *err, size_t err_len)
{
    int r = cp_validate_name("api.name", api->name, err, err_len);

    if (r == 0)
        r = cp_validate_text("api.description", api->description, CP_MAX_DESCRIPTION_LEN, err,
                             err_len);
    return r;
}

/* Is {name} (or {name+}) a parameter of template? */
static bool
template_has_param(const char *template, const char *name, size_t len)
{
    for (const char *p = strchr(template, '{'); p; p = strchr(p + 1, '{')) {
        const char *close = strchr(p, '}');
        if (!close)
            return false;
        size_t n = (size_t)(close - p - 1);
        if (n > 0 && p[n] == '+')
            n--;
        if (n == len && memcmp(p + 1, name, len) == 0)
            return true;
    }
    return false;
}

#define STAGE_VAR     "${stageVariables."
#define STAGE_VAR_LEN (sizeof(STAGE_VAR) - 1)

/* A "${stageVariables.NAME}" at s + i (s[i] is '$', s[i + 1] '{'): its length, or -EINVAL with
 * the message. */
static int
check_stage_var(const char *field, const char *s, size_t i, size_t *ret_len, char *err,
                size_t err_len)
{
    const char *end = strchr(s + i, '}');
    size_t len = end ? (size_t)(end - s) - i - STAGE_VAR_LEN : 0;

    if (!end || strncmp(s + i, STAGE_VAR, STAGE_VAR_LEN) != 0 || len == 0 ||
        len > CP_MAX_VARIABLE_NAME_LEN)
        return fail(err, err_len, "%s: '${' at offset %zu: expected ${stageVariables.NAME}", field,
                    i);
    for (size_t k = i + STAGE_VAR_LEN; k < i + STAGE_VAR_LEN + len; k++)
        if (!isalnum((unsigned char)s[k]) && s[k] != '_')
            return fail(err, err_len, "%s: bad stage variable name at offset %zu", field, i);
    *ret_len = (size_t)(end - s) + 1 - i;
    return 0;
}

int
cp_validate_upstream_ref(const char *field, const char *ref, char *err, size_t err_len)
{
    size_t n = ref ? strlen(ref) : 0, vlen;

    if (n == 0)
        return fail(err, err_len, "%s: required", field);
    const char *dollar = strchr(ref, '$');
    if (!dollar)
        return cp_validate_name(field, ref, err, err_len);
    if (dollar != ref || ref[1] != '{')
        return fail(err, err_len,
                    "%s: an upstream name, or one stage variable as the whole upstream "
                    "(${stageVariables.NAME})",
                    field);
    int r = check_stage_var(field, ref, 0, &vlen, err, err_len);
    if (r < 0)
        return r;
    if (vlen != n)
        return fail(err, err_len,
                    "%s: nothing may follow ${stageVariables.NAME} (offset %zu): the variable "
                    "gives the whole upstream",
                    field, vlen);
    return 0;
}

static int
check_integration_path(const char *path, const char *route_path, char *err, size_t err_len)
{
    const char *field = "route.integration.path";
    size_t n = path ? strlen(path) : 0;

    if (n == 0)
        return 0;
    if (n > CP_MAX_PATH_LEN)
        return fail(err, err_len, "%s: at most %d characters", field, CP_MAX_PATH_LEN);
    if (path[0] != '/')
        return fail(err, err_len, "%s: must start with '/'", field);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (is_ctl(c) || c == ' ' || c == '#' || c == '?')
            return fail(err, err_len, "%s: invalid character at offset %zu", field, i);
        if (c == '$' && path[i + 1] == '{') { /* substituted per stage by the data plane */
            size_t vlen;
            int r = check_stage_var(field, path, i, &vlen, err, err_len);
            if (r < 0)
                return r;
            i += vlen - 1;
            continue;
        }
        if (c == '}')
            return fail(err, err_len, "%s: unmatched '}' at offset %zu", field, i);
        if (c != '{')
            continue;
        const char *close = strchr(path + i, '}');
        if (!close)
            return fail(err, err_len, "%s: unclosed '{' at offset %zu", field, i);
        size_t len = (size_t)(close - path) - i - 1;
        if (len == 0 || memchr(path + i + 1, '{', len))
            return fail(err, err_len, "%s: bad parameter at offset %zu", field, i);
        /* {proxy+} may be written as in the route path: the node expands both alike. */
        size_t nlen = len > 1 && path[i + len] == '+' ? len - 1 : len;
        if (!template_has_param(route_path, path + i + 1, nlen))
            return fail(err, err_len,
                        "%s: parameter at offset %zu is not a parameter of "
                        "route.path",
                        field, i);
        i += len + 1;
    }
    return 0;
}

int
cp_validate_route(Edge__V1__Route *route, bool need_id, char *err, size_t err_len)
{
    char field[64];
    int r;

    if ((r = cp_validate_name("route.api", route->api, err, err_len)) < 0)
        return r;
    if (need_id && (r = cp_validate_id("route.id", route->id, 'r', false, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_method("route.method", route->method, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_path_template("route.path", route->path, err, err_len)) < 0)
        return r;
    if (route->host && *route->host) {
        if ((r = cp_validate_domain_host("route.host", route->host, err, err_len)) < 0)
            return r;
        lower(route->host);
    }
    if (route->n_headers > CP_MAX_HEADER_MATCHES)
        return fail(err, err_len, "route.headers: at most %d", CP_MAX_HEADER_MATCHES);
    for (size_t i = 0; i < route->n_headers; i++) {
        (void)snprintf(field, sizeof(field), "route.headers[%zu]", i);
        if ((r = cp_validate_header_match(field, route->headers[i], err, err_len)) < 0)
            return r;
        lower(route->headers[i]->name);
    }
    const Edge__V1__Integration *ig = route->integration;
    if (!ig || !ig->upstream || !*ig->upstream)
        return fail(err, err_len, "route.integration.upstream: required");
    if ((r = cp_validate_upstream_ref("route.integration.upstream", ig->upstream, err, err_len)) <
        0)
        return r;
    if ((r = check_integration_path(ig->path, route->path, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_timeout("route.integration.timeout_ms", ig->timeout_ms, err, err_len)) < 0)
        return r;
    if (route->authorizer && *route->authorizer &&
        (r = cp_validate_name("route.authorizer", route->authorizer, err, err_len)) < 0)
        return r;
    if (route->max_body_bytes > CP_MAX_BODY_BYTES)
        return fail(err, err_len, "route.max_body_bytes: at most %llu",
                    (unsigned long long)CP_MAX_BODY_BYTES);
    return cp_validate_throttle("route.throttle", route->throttle, err, err_len);
}

static int
check_health(Edge__V1__HealthCheck *hc, char *err, size_t err_len)
{
    size_t n = hc->path ? strlen(hc->path) : 0;

    if (n == 0) /* health checks off: nothing else matters */
        return 0;
    if (n > CP_MAX_PATH_LEN)
        return fail(err, err_len, "upstream.health_check.path: at most %d characters",
                    CP_MAX_PATH_LEN);
    if (hc->path[0] != '/')
        return fail(err, err_len, "upstream.health_check.path: must start with '/'");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)hc->path[i];
        if (is_ctl(c) || c == ' ' || c == '#')
            return fail(err, err_len, "upstream.health_check.path: invalid character at offset %zu",
                        i);
    }
    if (hc->interval_ms == 0)
        hc->interval_ms = CP_DEFAULT_HC_INTERVAL_MS;
    if (hc->timeout_ms == 0)
        hc->timeout_ms = CP_DEFAULT_HC_TIMEOUT_MS;
    if (hc->healthy_threshold == 0)
        hc->healthy_threshold = CP_DEFAULT_HC_HEALTHY;
    if (hc->unhealthy_threshold == 0)
        hc->unhealthy_threshold = CP_DEFAULT_HC_UNHEALTHY;
    if (hc->interval_ms < 100 || hc->interval_ms > CP_MAX_TIMEOUT_MS)
        return fail(err, err_len, "upstream.health_check.interval_ms: must be 100..%u",
                    CP_MAX_TIMEOUT_MS);
    if (hc->timeout_ms > hc->interval_ms)
        return fail(err, err_len, "upstream.health_check.timeout_ms: must not exceed interval_ms");
    if (hc->healthy_threshold > CP_MAX_THRESHOLD)
        return fail(err, err_len, "upstream.health_check.healthy_threshold: at most %d",
                    CP_MAX_THRESHOLD);
    if (hc->unhealthy_threshold > CP_MAX_THRESHOLD)
        return fail(err, err_len, "upstream.health_check.unhealthy_threshold: at most %d",
                    CP_MAX_THRESHOLD);
    return 0;
}

int
cp_validate_upstream(Edge__V1__Upstream *up, char *err, size_t err_len)
{
    char field[64];
    int r;

    if ((r = cp_validate_name("upstream.name", up->name, err, err_len)) < 0)
        return r;
    if (up->n_targets == 0)
        return fail(err, err_len, "upstream.targets: at least one target");
    if (up->n_targets > CP_MAX_TARGETS)
        return fail(err, err_len, "upstream.targets: at most %d", CP_MAX_TARGETS);
    for (size_t i = 0; i < up->n_targets; i++) {
        Edge__V1__Target *t = up->targets[i];
        (void)snprintf(field, sizeof(field), "upstream.targets[%zu].host", i);
        if ((r = cp_validate_host(field, t->host, err, err_len)) < 0)
            return r;
        lower(t->host);
        (void)snprintf(field, sizeof(field), "upstream.targets[%zu].port", i);
        if ((r = cp_validate_port(field, t->port, err, err_len)) < 0)
            return r;
        if (t->weight == 0)
            t->weight = 1;
        if (t->weight > CP_MAX_WEIGHT)
            return fail(err, err_len, "upstream.targets[%zu].weight: must be 1..%d", i,
                        CP_MAX_WEIGHT);
        for (size_t j = 0; j < i; j++)
            if (up->targets[j]->port == t->port && strcmp(up->targets[j]->host, t->host) == 0)
                return fail(err, err_len, "upstream.targets[%zu]: duplicate of targets[%zu]", i, j);
    }
    if ((unsigned)up->lb > EDGE__V1__LB_POLICY__LB_POLICY_RANDOM)
        return fail(err, err_len, "upstream.lb: unknown policy %d", (int)up->lb);
    if (up->connect_timeout_ms == 0)
        up->connect_timeout_ms = CP_DEFAULT_CONNECT_TIMEOUT_MS;
    if (up->timeout_ms == 0)
        up->timeout_ms = CP_DEFAULT_TIMEOUT_MS;
    if (up->pool_size == 0)
        up->pool_size = CP_DEFAULT_POOL_SIZE;
    if ((r = cp_validate_timeout("upstream.connect_timeout_ms", up->connect_timeout_ms, err,
                                 err_len)) < 0)
        return r;
    if ((r = cp_validate_timeout("upstream.timeout_ms", up->timeout_ms, err, err_len)) < 0)
        return r;
    if (up->retries > CP_MAX_RETRIES)
        return fail(err, err_len, "upstream.retries: must be 0..%d", CP_MAX_RETRIES);
    if (up->pool_size > CP_MAX_POOL_SIZE)
        return fail(err, err_len, "upstream.pool_size: must be 1..%d", CP_MAX_POOL_SIZE);
    if (up->sni && *up->sni) {
        if ((r = cp_validate_host("upstream.sni", up->sni, err, err_len)) < 0)
            return r;
        lower(up->sni);
    }
    if (up->health_check && (r = check_health(up->health_check, err, err_len)) < 0)
        return r;
    return 0;
}

int
cp_validate_stage(Edge__V1__Stage *stage, char *err, size_t err_len)
{
    char field[96];
    int r;

    if ((r = cp_validate_name("stage.api", stage->api, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_name("stage.name", stage->name, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_id("stage.deployment_id", stage->deployment_id, 'd', true, err, err_len)) <
        0)
        return r;
    if (stage->n_variables > CP_MAX_VARIABLES)
        return fail(err, err_len, "stage.variables: at most %d", CP_MAX_VARIABLES);
    for (size_t i = 0; i < stage->n_variables; i++) {
        const Edge__V1__Stage__VariablesEntry *v = stage->variables[i];
        (void)snprintf(field, sizeof(field), "stage.variables[%zu]", i);
        if ((r = cp_validate_variable(field, v->key, v->value, err, err_len)) < 0)
            return r;
        for (size_t j = 0; j < i; j++)
            if (strcmp(stage->variables[j]->key, v->key) == 0)
                return fail(err, err_len, "%s: duplicate name", field);
    }
    if ((r = cp_validate_throttle("stage.throttle", stage->throttle, err, err_len)) < 0)
        return r;
    const Edge__V1__Canary *c = stage->canary;
    if (c) {
        if ((r = cp_validate_id("stage.canary.deployment_id", c->deployment_id, 'd', true, err,
                                err_len)) < 0)
            return r;
        if (!isfinite(c->percent) || c->percent < 0 || c->percent > 100)
            return fail(err, err_len, "stage.canary.percent: must be 0..100");
        if (c->percent > 0 && (!c->deployment_id || !*c->deployment_id))
            return fail(err, err_len, "stage.canary.deployment_id: required when percent > 0");
    }
    return cp_validate_text("stage.description", stage->description, CP_MAX_DESCRIPTION_LEN, err,
                            err_len);
}

int
cp_validate_domain(Edge__V1__DomainMapping *dm, char *err, size_t err_len)
{
    int r;

    if ((r = cp_validate_domain_host("domain.host", dm->host, err, err_len)) < 0)
        return r;
    lower(dm->host);
    if ((r = cp_validate_base_path("domain.base_path", dm->base_path, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_name("domain.api", dm->api, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_name("domain.stage", dm->stage, err, err_len)) < 0)
        return r;
    if (dm->certificate && *dm->certificate &&
        (r = cp_validate_name("domain.certificate", dm->certificate, err, err_len)) < 0)
        return r;
    return 0;
}

int
cp_validate_deployment_request(const Edge__V1__CreateDeploymentRequest *req, char *err,
                               size_t err_len)
{
    int r;

    if ((r = cp_validate_name("api", req->api, err, err_len)) < 0)
        return r;
    if ((r = cp_validate_name("stage", req->stage, err, err_len)) < 0)
        return r;
    return cp_validate_text("description", req->description, CP_MAX_DESCRIPTION_LEN, err, err_len);
}
