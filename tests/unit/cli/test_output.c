/* edgectl's table and description output, and its time formats. */
/* cmocka.h needs these before it. */
// clang-format off
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
// clang-format on

#include "edge/v1/resources.pb-c.h"
#include "output.h"
#include "pb.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW 1764654690 /* 2025-12-02T05:51:30Z */

struct capture {
    FILE *f;
    char *buf;
    size_t len;
};

static void
capture_begin(struct capture *c)
{
    c->buf = NULL;
    c->len = 0;
    c->f = open_memstream(&c->buf, &c->len);
    assert_non_null(c->f);
}

/* Returns the text written (owned by c until capture_end). */
static const char *
capture_text(struct capture *c)
{
    fflush(c->f);
    return c->buf;
}

static void
capture_end(struct capture *c)
{
    fclose(c->f);
    free(c->buf);
}

static void
test_table(void **state)
{
    static const char *const headers[] = {"NAME", "ROUTES", "DESCRIPTION", NULL};
    struct ctl_table *t = ctl_table_new(headers);
    ctl_table_cell(t, "shop");
    ctl_table_cellf(t, "%d", 12);
    ctl_table_cell(t, "the shop\nwith a newline");
    ctl_table_cell(t, "caf\xc3\xa9-api"); /* 8 characters, 9 bytes */
    ctl_table_cell(t, "");
    ctl_table_cell(t, NULL);
    ctl_table_cell(t, "x");

    struct capture c;
    capture_begin(&c);
    ctl_table_print(t, c.f);
    assert_string_equal(capture_text(&c), "NAME      ROUTES  DESCRIPTION\n"
                                          "shop      12      the shop with a newline\n"
                                          "caf\xc3\xa9-api  -       -\n"
                                          "x         -       -\n");
    capture_end(&c);
    ctl_table_free(t);
    assert_null(ctl_table_free(NULL));

    /* No rows: the header alone. */
    t = ctl_table_new(headers);
    capture_begin(&c);
    ctl_table_print(t, c.f);
    assert_string_equal(capture_text(&c), "NAME  ROUTES  DESCRIPTION\n");
    capture_end(&c);
    ctl_table_free(t);
}

static void
test_times(void **state)
{
    static const struct {
        int64_t t;
        const char *want;
    } cases[] = {
        {0, "-"},
        {NOW, "0s ago"},
        {NOW - 59, "59s ago"},
        {NOW - 60, "1m ago"},
        {NOW - 3599, "59m ago"},
        {NOW - 3600, "1h ago"},
        {NOW - 86399, "23h ago"},
        {NOW - 86400, "1d ago"},
        {NOW - 6 * 86400, "6d ago"},
        {NOW - 7 * 86400, "2025-11-25"},
        {NOW + 3600, "2025-12-02"}, /* the future (clock skew): a date, not "-1h ago" */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        ctl_fmt_time(cases[i].t, NOW, buf, sizeof(buf));
        assert_string_equal(buf, cases[i].want);
    }
    char buf[32];
    ctl_fmt_time_iso(NOW, buf, sizeof(buf));
    assert_string_equal(buf, "2025-12-02T05:51:30Z");
    ctl_fmt_time_iso(0, buf, sizeof(buf));
    assert_string_equal(buf, "-");
}

static void
test_describe(void **state)
{
    Edge__V1__Upstream *u = edge_pb_new(&edge__v1__upstream__descriptor);
    u->name = edge_pb_strdup("pets");
    for (int i = 0; i < 2; i++) {
        Edge__V1__Target *t = edge_pb_new(&edge__v1__target__descriptor);
        t->host = edge_pb_strdup("10.0.0.1");
        t->port = 80 + i;
        t->weight = 1;
        edge_pb_append((void ***)&u->targets, &u->n_targets, t);
    }
    u->timeout_ms = 30000;
    u->health_check = edge_pb_new(&edge__v1__health_check__descriptor);
    u->created_at = NOW - 120;

    struct capture c;
    capture_begin(&c);
    assert_int_equal(ctl_print_describe(c.f, &u->base, NOW), 0);
    assert_string_equal(capture_text(&c), "name: pets\n"
                                          "targets:\n"
                                          "  - host: 10.0.0.1\n"
                                          "    port: 80\n"
                                          "    weight: 1\n"
                                          "  - host: 10.0.0.1\n"
                                          "    port: 81\n"
                                          "    weight: 1\n"
                                          "lb: LB_POLICY_ROUND_ROBIN\n"
                                          "connect_timeout_ms: 0\n"
                                          "timeout_ms: 30000\n"
                                          "retries: 0\n"
                                          "pool_size: 0\n"
                                          "tls: false\n"
                                          "sni: -\n"
                                          "health_check:\n"
                                          "  path: -\n"
                                          "  interval_ms: 0\n"
                                          "  timeout_ms: 0\n"
                                          "  healthy_threshold: 0\n"
                                          "  unhealthy_threshold: 0\n"
                                          "created_at: 2025-12-02T05:49:30Z (2m ago)\n"
                                          "updated_at: -\n");
    capture_end(&c);

    capture_begin(&c);
    assert_int_equal(ctl_print_json_message(c.f, &u->base), 0);
    const char *text = capture_text(&c);
    assert_non_null(strstr(text, "\n  \"name\": \"pets\",\n"));
    assert_non_null(strstr(text, "\"sni\": \"\""));
    assert_int_equal(text[strlen(text) - 1], '\n');
    capture_end(&c);

    ProtobufCMessage *list[] = {&u->base, &u->base};
    capture_begin(&c);
    assert_int_equal(ctl_print_json_list(c.f, list, 2), 0);
    json_error_t jerr;
    json_t *j = json_loads(capture_text(&c), 0, &jerr);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    capture_end(&c);

    capture_begin(&c);
    assert_int_equal(ctl_print_json_list(c.f, NULL, 0), 0);
    assert_string_equal(capture_text(&c), "[]\n");
    capture_end(&c);
    edge_pb_free(u);
}

static void
test_describe_reals(void **state)
{
    Edge__V1__Stage *s = edge_pb_new(&edge__v1__stage__descriptor);
    s->name = edge_pb_strdup("prod");
    s->throttle = edge_pb_new(&edge__v1__throttle__descriptor);
    s->throttle->rate = 0.1;
    s->throttle->burst = 3;

    struct capture c;
    capture_begin(&c);
    assert_int_equal(ctl_print_describe(c.f, &s->base, NOW), 0);
    const char *text = capture_text(&c);
    assert_non_null(strstr(text, "\nthrottle:\n  rate: 0.1\n  burst: 3\n"));
    assert_non_null(strstr(text, "\ncanary: -\n"));
    assert_non_null(strstr(text, "\nvariables: -\n"));
    capture_end(&c);
    edge_pb_free(s);
}

static void
test_output_parse(void **state)
{
    enum ctl_output o = CTL_OUTPUT_TABLE;
    assert_int_equal(ctl_output_parse("json", &o), 0);
    assert_int_equal(o, CTL_OUTPUT_JSON);
    assert_int_equal(ctl_output_parse("table", &o), 0);
    assert_int_equal(o, CTL_OUTPUT_TABLE);
    /* yaml parses (only `api export` accepts it: ctl_apply_global refuses it elsewhere). */
    assert_int_equal(ctl_output_parse("yaml", &o), 0);
    assert_int_equal(o, CTL_OUTPUT_YAML);
    assert_int_equal(ctl_output_parse("xml", &o), -22);
    assert_int_equal(ctl_output_parse(NULL, &o), -22);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),        cmocka_unit_test(test_times),
        cmocka_unit_test(test_describe),     cmocka_unit_test(test_describe_reals),
        cmocka_unit_test(test_output_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
