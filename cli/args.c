#include "args.h"

#include "pb.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ctl_opt *
find_long(const struct ctl_opt *const *tables, const char *name, size_t len)
{
    for (size_t t = 0; tables && tables[t]; t++)
        for (const struct ctl_opt *o = tables[t]; o->name; o++)
            if (strlen(o->name) == len && memcmp(o->name, name, len) == 0)
                return o;
    return NULL;
}

static const struct ctl_opt *
find_short(const struct ctl_opt *const *tables, char c)
{
    for (size_t t = 0; tables && tables[t]; t++)
        for (const struct ctl_opt *o = tables[t]; o->name; o++)
            if (o->short_name == c)
                return o;
    return NULL;
}

static void
push_pos(struct ctl_args *a, char *arg)
{
    a->pos = edge_xrealloc(a->pos, (a->n_pos + 1) * sizeof(*a->pos));
    a->pos[a->n_pos++] = arg;
}

static int
push_val(struct ctl_args *a, const struct ctl_opt *opt, const char *value, char *err,
         size_t err_len)
{
    if (!(opt->flags & CTL_OPT_MULTI)) {
        for (size_t i = 0; i < a->n_vals; i++) {
            if (a->vals[i].opt == opt) {
                snprintf(err, err_len, "option --%s given more than once", opt->name);
                return -EINVAL;
            }
        }
    }
    a->vals = edge_xrealloc(a->vals, (a->n_vals + 1) * sizeof(*a->vals));
    a->vals[a->n_vals].opt = opt;
    a->vals[a->n_vals].value = value;
    a->n_vals++;
    return 0;
}

/* One "--name[=value]" at argv[*i]; consumes the next argument as the value if needed. */
static int
parse_long(struct ctl_args *a, const struct ctl_opt *const *tables, int argc, char **argv, int *i,
           char *err, size_t err_len)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);

    if (len == 4 && memcmp(name, "help", 4) == 0 && !eq) {
        a->help = true;
        return 0;
    }
    const struct ctl_opt *o = find_long(tables, name, len);
    if (!o) {
        snprintf(err, err_len, "unknown option --%.*s", (int)len, name);
        return -EINVAL;
    }
    if (!(o->flags & CTL_OPT_ARG)) {
        if (eq) {
            snprintf(err, err_len, "option --%s takes no value", o->name);
            return -EINVAL;
        }
        return push_val(a, o, NULL, err, err_len);
    }
    if (eq)
        return push_val(a, o, eq + 1, err, err_len);
    if (*i + 1 >= argc) {
        snprintf(err, err_len, "option --%s needs a value", o->name);
        return -EINVAL;
    }
    return push_val(a, o, argv[++*i], err, err_len);
}

/* "-x", "-xVALUE", "-x VALUE", or a cluster of valueless flags "-xy". */
static int
parse_short(struct ctl_args *a, const struct ctl_opt *const *tables, int argc, char **argv, int *i,
            char *err, size_t err_len)
{
    for (const char *p = argv[*i] + 1; *p; p++) {
        if (*p == 'h') {
            a->help = true;
            continue;
        }
        const struct ctl_opt *o = find_short(tables, *p);
        if (!o) {
            snprintf(err, err_len, "unknown option -%c", *p);
            return -EINVAL;
        }
        if (!(o->flags & CTL_OPT_ARG)) {
            int r = push_val(a, o, NULL, err, err_len);
            if (r < 0)
                return r;
            continue;
        }
        if (p[1])
            return push_val(a, o, p + 1, err, err_len);
        if (*i + 1 >= argc) {
            snprintf(err, err_len, "option -%c needs a value", *p);
            return -EINVAL;
        }
        return push_val(a, o, argv[++*i], err, err_len);
    }
    return 0;
}

int
ctl_args_parse(struct ctl_args *a, const struct ctl_opt *const *tables, int argc, char **argv,
               bool stop_at_positional, char *err, size_t err_len)
{
    memset(a, 0, sizeof(*a));
    bool flags_done = false;
    for (int i = 0; i < argc; i++) {
        char *arg = argv[i];
        int r = 0;
        if (flags_done || arg[0] != '-' || arg[1] == '\0') {
            push_pos(a, arg);
            if (stop_at_positional) {
                while (++i < argc)
                    push_pos(a, argv[i]);
                break;
            }
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (arg[1] == '-')
            r = parse_long(a, tables, argc, argv, &i, err, err_len);
        else
            r = parse_short(a, tables, argc, argv, &i, err, err_len);
        if (r < 0) {
            ctl_args_done(a);
            return r;
        }
    }
    return 0;
}

void
ctl_args_done(struct ctl_args *a)
{
    free(a->pos);
    free(a->vals);
    memset(a, 0, sizeof(*a));
}

const char *
ctl_args_get(const struct ctl_args *a, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < a->n_vals; i++)
        if (strcmp(a->vals[i].opt->name, name) == 0)
            v = a->vals[i].value;
    return v;
}

bool
ctl_args_has(const struct ctl_args *a, const char *name)
{
    for (size_t i = 0; i < a->n_vals; i++)
        if (strcmp(a->vals[i].opt->name, name) == 0)
            return true;
    return false;
}

bool
ctl_args_any(const struct ctl_args *a, const struct ctl_opt *table)
{
    for (size_t i = 0; i < a->n_vals; i++)
        for (const struct ctl_opt *o = table; o->name; o++)
            if (a->vals[i].opt == o)
                return true;
    return false;
}

const char *
ctl_args_next(const struct ctl_args *a, const char *name, size_t *cursor)
{
    while (*cursor < a->n_vals) {
        const struct ctl_optval *v = &a->vals[(*cursor)++];
        if (strcmp(v->opt->name, name) == 0)
            return v->value;
    }
    return NULL;
}

/* strtoull accepts blanks, signs and "0x"; the CLI takes plain decimal digits only. */
static int
parse_digits(const char *s, unsigned long long *ret)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE)
        return -ERANGE;
    *ret = v;
    return 0;
}

int
ctl_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    unsigned long long v;
    int r = parse_digits(s, &v);
    if (r < 0)
        return r;
    if (v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

int
ctl_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
    uint64_t v;
    int r = ctl_parse_u64(s, min, max, &v);
    if (r < 0)
        return r;
    *ret = (uint32_t)v;
    return 0;
}

int
ctl_parse_double(const char *s, double min, double max, double *ret)
{
    if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '.' && isdigit((unsigned char)s[1]))))
        return -EINVAL;
    for (const char *p = s; *p; p++)
        if (*p == 'x' || *p == 'X')
            return -EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end != '\0')
        return -EINVAL;
    if (errno == ERANGE || !isfinite(v) || v < min || v > max)
        return -ERANGE;
    *ret = v;
    return 0;
}

static bool
is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

static bool
is_v6_char(char c)
{
    /* hex digits, ':', '.' (a v4-mapped tail), '%' and a zone name (fe80::1%eth0) */
    return isalnum((unsigned char)c) || c == ':' || c == '.' || c == '%';
}

/* Parses s[0..len) as HOST:PORT. */
static int
parse_hostport_n(const char *s, size_t len, char **ret_host, uint32_t *ret_port)
{
    const char *host, *colon;
    size_t host_len;

    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close + 1 >= s + len || close[1] != ':')
            return -EINVAL;
        host = s + 1;
        host_len = (size_t)(close - host);
        if (host_len == 0 || !memchr(host, ':', host_len))
            return -EINVAL;
        for (size_t i = 0; i < host_len; i++)
            if (!is_v6_char(host[i]))
                return -EINVAL;
        colon = close + 1;
    } else {
        colon = memchr(s, ':', len);
        if (!colon)
            return -EINVAL;
        host = s;
        host_len = (size_t)(colon - s);
        if (host_len == 0)
            return -EINVAL;
        for (size_t i = 0; i < host_len; i++)
            if (!is_name_char(host[i]))
                return -EINVAL; /* includes a second ':' (unbracketed IPv6) */
    }

    size_t port_len = (size_t)(s + len - (colon + 1));
    char port_buf[8];
    if (port_len == 0 || port_len >= sizeof(port_buf))
        return -EINVAL;
    memcpy(port_buf, colon + 1, port_len);
    port_buf[port_len] = '\0';
    uint32_t port;
    if (ctl_parse_u32(port_buf, 1, 65535, &port) < 0)
        return -EINVAL;

    if (ret_host)
        *ret_host = edge_pb_strndup(host, host_len);
    *ret_port = port;
    return 0;
}

int
ctl_parse_hostport(const char *s, char **ret_host, uint32_t *ret_port)
{
    if (!s)
        return -EINVAL;
    return parse_hostport_n(s, strlen(s), ret_host, ret_port);
}

int
ctl_parse_targets(const char *s, Edge__V1__Target ***targets, size_t *n)
{
    Edge__V1__Target **tmp = NULL;
    size_t n_tmp = 0;
    bool weighted = false; /* the last target already has a weight */
    int r = 0;

    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > 7 && memcmp(p, "weight=", 7) == 0) {
            char w_buf[8];
            uint32_t w;
            if (n_tmp == 0 || weighted || len - 7 >= sizeof(w_buf)) {
                r = -EINVAL;
                break;
            }
            memcpy(w_buf, p + 7, len - 7);
            w_buf[len - 7] = '\0';
            if (ctl_parse_u32(w_buf, 1, 1000, &w) < 0) {
                r = -EINVAL;
                break;
            }
            tmp[n_tmp - 1]->weight = w;
            weighted = true;
        } else {
            Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
            if (parse_hostport_n(p, len, &t->host, &t->port) < 0) {
                edge_pb_free(t);
                r = -EINVAL;
                break;
            }
            edge_pb_append((void ***)&tmp, &n_tmp, t);
            weighted = false;
        }
        if (!comma)
            break;
        p = comma + 1;
    }

    if (r < 0) {
        for (size_t i = 0; i < n_tmp; i++)
            edge_pb_free(tmp[i]);
        free(tmp);
        return r;
    }
    for (size_t i = 0; i < n_tmp; i++)
        edge_pb_append((void ***)targets, n, tmp[i]);
    free(tmp);
    return 0;
}

static bool
is_token_char(char c)
{
    return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

int
ctl_parse_header(const char *s, Edge__V1__HeaderMatch **ret)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    if (!colon || colon == s)
        return -EINVAL;
    for (const char *p = s; p < colon; p++)
        if (!is_token_char(*p))
            return -EINVAL;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t v_len = strlen(v);
    while (v_len > 0 && (v[v_len - 1] == ' ' || v[v_len - 1] == '\t'))
        v_len--;
    for (size_t i = 0; i < v_len; i++)
        if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
            return -EINVAL;

    Edge__V1__HeaderMatch *h = edge_pb_new(&edge__v1__header_match__descriptor);
    h->name = edge_pb_strndup(s, (size_t)(colon - s));
    h->value = edge_pb_strndup(v, v_len);
    *ret = h;
    return 0;
}

int
ctl_parse_kv(const char *s, char **ret_key, char **ret_value)
{
    const char *eq = s ? strchr(s, '=') : NULL;
    if (!eq || eq == s)
        return -EINVAL;
    *ret_key = edge_pb_strndup(s, (size_t)(eq - s));
    *ret_value = edge_pb_strdup(eq + 1);
    return 0;
}
