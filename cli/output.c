#include "output.h"

#include "json.h"
#include "pb.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int
ctl_output_parse(const char *s, enum ctl_output *ret)
{
    if (s && strcmp(s, "table") == 0)
        *ret = CTL_OUTPUT_TABLE;
    else if (s && strcmp(s, "json") == 0)
        *ret = CTL_OUTPUT_JSON;
    else if (s && strcmp(s, "yaml") == 0)
        *ret = CTL_OUTPUT_YAML;
    else
        return -EINVAL;
    return 0;
}

struct ctl_table {
    const char *const *headers;
    size_t n_cols;
    char **cells;
    size_t n_cells;
};

struct ctl_table *
ctl_table_new(const char *const *headers)
{
    struct ctl_table *t = edge_xcalloc(1, sizeof(*t));
    t->headers = headers;
    while (headers[t->n_cols])
        t->n_cols++;
    return t;
}

struct ctl_table *
ctl_table_free(struct ctl_table *t)
{
    if (!t)
        return NULL;
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
    return NULL;
}

void
ctl_table_cell(struct ctl_table *t, const char *s)
{
    if (!s || !*s)
        s = "-";
    char *c = strdup(s);
    if (!c)
        abort();
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    t->cells = edge_xrealloc(t->cells, (t->n_cells + 1) * sizeof(*t->cells));
    t->cells[t->n_cells++] = c;
}

void
ctl_table_cellf(struct ctl_table *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    ctl_table_cell(t, buf);
}

/* Display width in characters: UTF-8 continuation bytes do not count. */
static size_t
text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void
print_row(FILE *out, const char *const *row, size_t n, const size_t *widths)
{
    for (size_t c = 0; c < n; c++) {
        const char *s = row[c] ? row[c] : "-";
        fputs(s, out);
        if (c + 1 < n)
            fprintf(out, "%*s", (int)(widths[c] - text_width(s) + 2), "");
    }
    fputc('\n', out);
}

void
ctl_table_print(const struct ctl_table *t, FILE *out)
{
    size_t *widths = edge_xcalloc(t->n_cols, sizeof(*widths));
    size_t n_rows = (t->n_cells + t->n_cols - 1) / t->n_cols;
    const char **row = edge_xcalloc(t->n_cols, sizeof(*row));

    for (size_t c = 0; c < t->n_cols; c++)
        widths[c] = text_width(t->headers[c]);
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t w = text_width(t->cells[i]);
        if (w > widths[i % t->n_cols])
            widths[i % t->n_cols] = w;
    }
    print_row(out, t->headers, t->n_cols, widths);
    for (size_t r = 0; r < n_rows; r++) {
        for (size_t c = 0; c < t->n_cols; c++) {
            size_t i = r * t->n_cols + c;
            row[c] = i < t->n_cells ? t->cells[i] : "-";
        }
        print_row(out, row, t->n_cols, widths);
    }
    free(row);
    free(widths);
}

void
ctl_fmt_time_iso(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (t == 0 || !gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "%s", t == 0 ? "-" : "?");
}

void
ctl_fmt_time(int64_t t, int64_t now, char *buf, size_t len)
{
    int64_t age = now - t;
    if (t == 0) {
        snprintf(buf, len, "-");
    } else if (age >= 0 && age < 60) {
        snprintf(buf, len, "%llds ago", (long long)age);
    } else if (age >= 0 && age < 3600) {
        snprintf(buf, len, "%lldm ago", (long long)(age / 60));
    } else if (age >= 0 && age < 86400) {
        snprintf(buf, len, "%lldh ago", (long long)(age / 3600));
    } else if (age >= 0 && age < 7 * 86400) {
        snprintf(buf, len, "%lldd ago", (long long)(age / 86400));
    } else {
        struct tm tm;
        time_t tt = (time_t)t;
        if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%d", &tm) == 0)
            snprintf(buf, len, "?");
    }
}

static bool
is_time_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    return (n >= 3 && strcmp(key + n - 3, "_at") == 0) ||
           (n >= 5 && strcmp(key + n - 5, "_seen") == 0) || (key && strcmp(key, "at") == 0);
}

/* A scalar as one line of text (no newline). */
static void
print_scalar(FILE *out, const char *key, const json_t *v, int64_t now)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!*s) {
            fputs("-", out);
            return;
        }
        for (; *s; s++)
            fputc((unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s, out);
    } else if (json_is_integer(v) && is_time_key(key)) {
        char iso[32], rel[32];
        json_int_t t = json_integer_value(v);
        ctl_fmt_time_iso(t, iso, sizeof(iso));
        ctl_fmt_time(t, now, rel, sizeof(rel));
        if (t == 0 || strcmp(rel, iso) == 0 || !strstr(rel, "ago"))
            fputs(iso, out);
        else
            fprintf(out, "%s (%s)", iso, rel);
    } else if (json_is_null(v)) {
        fputs("-", out);
    } else if (json_is_real(v)) {
        /* The shortest text that reads back as the same double: 0.1, not 0.10000000000000001. */
        double d = json_real_value(v);
        char buf[32];
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof(buf), "%.*g", prec, d);
            if (strtod(buf, NULL) == d)
                break;
        }
        fputs(buf, out);
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        fputs(s ? s : "?", out);
        free(s);
    }
}

static bool
is_empty(const json_t *v)
{
    return json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

static void describe_object(FILE *out, const json_t *obj, int indent, int64_t now);

static void
describe_value(FILE *out, const char *key, const json_t *v, int indent, int64_t now)
{
    if (is_empty(v)) {
        fputs(" -\n", out);
    } else if (json_is_object(v)) {
        fputc('\n', out);
        describe_object(out, v, indent + 2, now);
    } else if (json_is_array(v)) {
        fputc('\n', out);
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            fprintf(out, "%*s- ", indent + 2, "");
            if (json_is_object(item)) {
                /* The first key goes on the dash line; the rest align under it. */
                const char *k;
                const json_t *iv;
                bool first = true;
                json_object_foreach((json_t *)item, k, iv)
                {
                    if (!first)
                        fprintf(out, "%*s", indent + 4, "");
                    fprintf(out, "%s:", k);
                    describe_value(out, k, iv, indent + 4, now);
                    first = false;
                }
                if (first)
                    fputs("-\n", out);
            } else {
                print_scalar(out, key, item, now);
                fputc('\n', out);
            }
        }
    } else {
        fputc(' ', out);
        print_scalar(out, key, v, now);
        fputc('\n', out);
    }
}

static void
describe_object(FILE *out, const json_t *obj, int indent, int64_t now)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        fprintf(out, "%*s%s:", indent, "", key);
        describe_value(out, key, v, indent, now);
    }
}

void
ctl_describe(FILE *out, const json_t *j, int64_t now)
{
    if (json_is_object(j))
        describe_object(out, j, 0, now);
    else
        describe_value(out, NULL, j, 0, now);
}

static int
print_json(FILE *out, json_t *j)
{
    if (!j)
        return -ENOMEM;
    int r = json_dumpf(j, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    json_decref(j);
    fputc('\n', out);
    return r < 0 ? -EIO : 0;
}

int
ctl_print_json_message(FILE *out, const ProtobufCMessage *msg)
{
    return print_json(out, ctl_json_from_message(msg));
}

int
ctl_print_json_list(FILE *out, ProtobufCMessage *const *msgs, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, ctl_json_from_message(msgs[i])) < 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return print_json(out, a);
}

int
ctl_print_describe(FILE *out, const ProtobufCMessage *msg, int64_t now)
{
    json_t *j = ctl_json_from_message(msg);
    if (!j)
        return -ENOMEM;
    ctl_describe(out, j, now);
    json_decref(j);
    return 0;
}
