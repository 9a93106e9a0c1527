/* Admin token bootstrap and check; node bookkeeping. */
#include "store_test.h"

#include <sys/stat.h>

static void
test_token_bootstrap(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX + 16], err[512], token[128], again[160];
    bool created = false;

    (void)snprintf(path, sizeof(path), "%s/admin.token", f->dir);
    assert_int_equal(cp_store_admin_token_bootstrap(f->st, path, &created, err, sizeof(err)), 0);
    assert_true(created);

    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(token, sizeof(token), fp));
    fclose(fp);
    size_t n = strcspn(token, "\n");
    assert_int_equal(n, 64);
    token[n] = '\0';
    assert_int_equal(strspn(token, "0123456789abcdef"), 64);

    assert_int_equal(cp_store_token_check(f->st, token, n), 0);
    assert_int_equal(cp_store_token_check(f->st, token, n - 1), -EACCES);
    assert_int_equal(cp_store_token_check(f->st, "", 0), -EACCES);
    assert_int_equal(cp_store_token_check(f->st, NULL, 0), -EACCES);
    (void)snprintf(again, sizeof(again), "%s\n", token);
    assert_int_equal(cp_store_token_check(f->st, again, n + 1), -EACCES);
    again[0] = again[0] == 'a' ? 'b' : 'a';
    assert_int_equal(cp_store_token_check(f->st, again, n), -EACCES);

    /* Tokens are not configuration. */
    assert_int_equal(cp_store_revision(f->st), 0);

    /* A second start keeps the token and the file. */
    assert_int_equal(cp_store_admin_token_bootstrap(f->st, path, &created, err, sizeof(err)), 0);
    assert_false(created);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(again, sizeof(again), fp));
    fclose(fp);
    again[strcspn(again, "\n")] = '\0';
    assert_string_equal(again, token);

    /* Nothing secret reaches the database: only the hash. */
    cp_store_close(f->st);
    fp = fopen(f->path, "rb");
    assert_non_null(fp);
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof(buf), fp)) > 0)
        assert_null(memmem(buf, got, token, 16));
    fclose(fp);
    f->st = cp_store_open(f->path, err, sizeof(err));
    assert_non_null(f->st);
    assert_int_equal(cp_store_token_check(f->st, token, n), 0);
}

static void
test_token_bootstrap_unwritable(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX + 32], err[512];
    bool created = true;

    (void)snprintf(path, sizeof(path), "%s/missing/admin.token", f->dir);
    assert_true(cp_store_admin_token_bootstrap(f->st, path, &created, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "token file"));
    /* No hash was stored for a token nobody can read: the next start tries again. */
    (void)snprintf(path, sizeof(path), "%s/admin.token", f->dir);
    assert_int_equal(cp_store_admin_token_bootstrap(f->st, path, &created, err, sizeof(err)), 0);
    assert_true(created);
}

static void
test_nodes(void **state)
{
    struct fixture *f = *state;
    struct cp_store_err e = {0};
    Edge__V1__ListNodesResponse *l = NULL;

    assert_int_equal(cp_store_node_connected(f->st, "n2", "ipv4:127.0.0.1:2", "0.1.0", 100), 0);
    assert_int_equal(cp_store_node_connected(f->st, "n1", "ipv4:127.0.0.1:1", "0.1.0", 100), 0);
    assert_int_equal(cp_store_node_ack(f->st, "n1", 7, true, "", 110), 0);
    assert_int_equal(cp_store_node_ack(f->st, "n1", 8, false, "bad route", 120), 0);
    assert_int_equal(cp_store_node_ack(f->st, "ghost", 8, true, "", 120), -ENOENT);
    assert_int_equal(cp_store_node_disconnected(f->st, "n2", 130), 0);
    assert_int_equal(cp_store_node_disconnected(f->st, "ghost", 130), -ENOENT);
    assert_int_equal(cp_store_revision(f->st), 0);

    assert_int_equal(cp_store_node_list(f->st, &l, &e), 0);
    assert_int_equal(l->n_nodes, 2);
    Edge__V1__Node *n1 = l->nodes[0], *n2 = l->nodes[1];
    assert_string_equal(n1->id, "n1");
    assert_string_equal(n1->address, "ipv4:127.0.0.1:1");
    assert_string_equal(n1->version, "0.1.0");
    assert_int_equal(n1->acked_revision, 7);
    assert_int_equal(n1->nacked_revision, 8);
    assert_string_equal(n1->last_error, "bad route");
    assert_int_equal(n1->last_seen, 120);
    assert_int_equal(n1->first_seen, 100);
    assert_true(n1->connected);
    assert_false(n2->connected);
    assert_int_equal(n2->last_seen, 130);
    edge_pb_free(l);

    /* Reconnect keeps first_seen and the acks; reset marks everyone gone. */
    assert_int_equal(cp_store_node_connected(f->st, "n2", "ipv4:127.0.0.1:3", "0.2.0", 200), 0);
    assert_int_equal(cp_store_nodes_reset(f->st), 0);
    assert_int_equal(cp_store_node_list(f->st, &l, &e), 0);
    assert_false(l->nodes[0]->connected);
    assert_false(l->nodes[1]->connected);
    assert_string_equal(l->nodes[1]->address, "ipv4:127.0.0.1:3");
    assert_string_equal(l->nodes[1]->version, "0.2.0");
    assert_int_equal(l->nodes[1]->first_seen, 100);
    edge_pb_free(l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_token_bootstrap, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_token_bootstrap_unwritable, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_nodes, fixture_setup, fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
