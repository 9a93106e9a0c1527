"""CRUD of every noun through edgectl, in table and -o json output."""

from helpers import deployment_id, field, one, route_id, rows


def names(listing, key="name"):
    return [field(r, key) for r in rows(listing)]


def test_api_crud(edgectl):
    r = edgectl("api", "create", "pets", "--description", "the pet store")
    assert "pets" in r.stdout
    edgectl("api", "create", "orders")

    table = edgectl("api", "list")
    assert "pets" in table.stdout and "orders" in table.stdout
    assert "the pet store" in table.stdout
    assert sorted(names(edgectl("-o", "json", "api", "list"))) == ["orders", "pets"]

    got = one(edgectl("-o", "json", "api", "get", "pets"))
    assert field(got, "name") == "pets"
    assert field(got, "description") == "the pet store"
    assert "the pet store" in edgectl("api", "get", "pets").stdout

    edgectl("api", "update", "pets", "--description", "renamed shop")
    assert field(one(edgectl("-o", "json", "api", "get", "pets")), "description") == \
        "renamed shop"

    edgectl("api", "delete", "orders")
    assert names(edgectl("-o", "json", "api", "list")) == ["pets"]
    r = edgectl("api", "get", "orders", check=1)
    assert "NOT_FOUND" in r.stderr


def test_empty_listings_are_json_arrays(edgectl):
    for args in (["api", "list"], ["upstream", "list"], ["domain", "list"], ["node", "list"]):
        assert rows(edgectl("-o", "json", *args)) == [], args


def test_upstream_crud(edgectl):
    edgectl("upstream", "create", "backend", "--target", "127.0.0.1:8001,weight=3",
            "--target", "127.0.0.1:8002", "--lb", "least_request", "--connect-timeout-ms",
            "500", "--timeout-ms", "3000", "--retries", "2", "--pool-size", "8")
    assert "backend" in edgectl("upstream", "list").stdout
    assert names(edgectl("-o", "json", "upstream", "list")) == ["backend"]

    u = one(edgectl("-o", "json", "upstream", "get", "backend"))
    targets = field(u, "targets")
    assert [(field(t, "host"), int(field(t, "port"))) for t in targets] == \
        [("127.0.0.1", 8001), ("127.0.0.1", 8002)]
    assert int(field(targets[0], "weight")) == 3
    assert int(field(targets[1], "weight", default=1)) == 1
    assert "least" in str(field(u, "lb")).lower()
    assert int(field(u, "connect_timeout_ms")) == 500
    assert int(field(u, "timeout_ms")) == 3000
    assert int(field(u, "retries")) == 2
    assert int(field(u, "pool_size")) == 8
    table = edgectl("upstream", "get", "backend").stdout
    assert "127.0.0.1" in table and "8001" in table

    edgectl("upstream", "update", "backend", "--target", "127.0.0.1:8003", "--retries", "1")
    u = one(edgectl("-o", "json", "upstream", "get", "backend"))
    assert [int(field(t, "port")) for t in field(u, "targets")] == [8003]
    assert int(field(u, "retries")) == 1

    edgectl("upstream", "delete", "backend")
    assert names(edgectl("-o", "json", "upstream", "list")) == []
    assert "NOT_FOUND" in edgectl("upstream", "get", "backend", check=1).stderr


def test_upstream_defaults(edgectl):
    edgectl("upstream", "create", "d", "--target", "127.0.0.1:9")
    u = one(edgectl("-o", "json", "upstream", "get", "d"))
    assert int(field(u, "connect_timeout_ms")) == 2000
    assert int(field(u, "timeout_ms")) == 30000
    assert int(field(u, "pool_size")) == 64


def test_route_crud(edgectl):
    edgectl("upstream", "create", "pets-svc", "--target", "127.0.0.1:8001")
    edgectl("api", "create", "pets")
    r = edgectl("route", "create", "pets", "--method", "GET", "--path", "/pets/{id}",
                "--upstream", "pets-svc", "--upstream-path", "/v1/pets/{id}", "--timeout-ms",
                "1500", "--host", "api.example.com", "--header", "X-Env: prod",
                "--api-key-required", "--max-body-bytes", "1024", "--rate", "10", "--burst",
                "20")
    rid = route_id(r)
    rid2 = route_id(edgectl("route", "create", "pets", "--method", "ANY", "--path",
                            "/{proxy+}", "--upstream", "pets-svc"))
    assert rid != rid2

    table = edgectl("route", "list", "pets").stdout
    assert rid in table and "/pets/{id}" in table and "/{proxy+}" in table
    listed = rows(edgectl("-o", "json", "route", "list", "pets"))
    assert sorted(field(x, "id") for x in listed) == sorted([rid, rid2])

    got = one(edgectl("-o", "json", "route", "get", "pets", rid))
    assert field(got, "method") == "GET"
    assert field(got, "path") == "/pets/{id}"
    assert field(got, "host") == "api.example.com"
    assert field(got, "api_key_required") is True
    assert int(field(got, "max_body_bytes")) == 1024
    integ = field(got, "integration")
    assert field(integ, "upstream") == "pets-svc"
    assert field(integ, "path") == "/v1/pets/{id}"
    assert int(field(integ, "timeout_ms")) == 1500
    hdrs = field(got, "headers")
    assert [(field(h, "name").lower(), field(h, "value")) for h in hdrs] == [("x-env", "prod")]
    thr = field(got, "throttle")
    assert float(field(thr, "rate")) == 10.0 and int(field(thr, "burst")) == 20
    assert rid in edgectl("route", "get", "pets", rid).stdout

    # The upstream path may only use the route's parameters: both change together.
    edgectl("route", "update", "pets", rid, "--method", "POST", "--path", "/pets",
            "--upstream-path", "/v1/pets")
    got = one(edgectl("-o", "json", "route", "get", "pets", rid))
    assert (field(got, "method"), field(got, "path")) == ("POST", "/pets")
    assert int(field(one(edgectl("-o", "json", "api", "get", "pets")), "route_count")) == 2

    edgectl("route", "delete", "pets", rid)
    assert [field(x, "id") for x in rows(edgectl("-o", "json", "route", "list", "pets"))] == \
        [rid2]
    assert "NOT_FOUND" in edgectl("route", "get", "pets", rid, check=1).stderr


def _api_with_route(edgectl):
    edgectl("upstream", "create", "svc", "--target", "127.0.0.1:8001")
    edgectl("api", "create", "shop")
    edgectl("route", "create", "shop", "--method", "GET", "--path", "/items", "--upstream",
            "svc")


def test_deploy_and_deployments(edgectl):
    _api_with_route(edgectl)
    d1 = deployment_id(edgectl("deploy", "shop", "--stage", "prod", "--description", "first"))
    d2 = deployment_id(edgectl("deploy", "shop", "--stage", "prod"))
    assert d1 != d2

    listed = rows(edgectl("-o", "json", "deployment", "list", "shop"))
    assert sorted(field(d, "id") for d in listed) == sorted([d1, d2])
    assert d1 in edgectl("deployment", "list", "shop").stdout

    got = one(edgectl("-o", "json", "deployment", "get", "shop", d1))
    assert field(got, "description") == "first"
    routes = field(got, "routes")
    assert [field(x, "path") for x in routes] == ["/items"]

    # deploy created the stage and pointed it at the newest deployment.
    st = one(edgectl("-o", "json", "stage", "get", "shop", "prod"))
    assert field(st, "deployment_id") == d2


def test_stage_crud(edgectl):
    _api_with_route(edgectl)
    d1 = deployment_id(edgectl("deploy", "shop", "--stage", "prod"))
    edgectl("stage", "create", "shop", "dev", "--var", "color=blue", "--var", "size=xl")
    assert sorted(names(edgectl("-o", "json", "stage", "list", "shop"))) == ["dev", "prod"]
    assert "dev" in edgectl("stage", "list", "shop").stdout

    st = one(edgectl("-o", "json", "stage", "get", "shop", "dev"))
    assert field(st, "variables") == {"color": "blue", "size": "xl"}
    assert not field(st, "deployment_id")

    edgectl("stage", "update", "shop", "dev", "--deployment", d1, "--var", "color=red")
    st = one(edgectl("-o", "json", "stage", "get", "shop", "dev"))
    assert field(st, "deployment_id") == d1
    assert field(st, "variables")["color"] == "red"

    r = edgectl("stage", "update", "shop", "dev", "--deployment", "d-000000000000", check=1)
    assert "NOT_FOUND" in r.stderr or "INVALID_ARGUMENT" in r.stderr or \
        "FAILED_PRECONDITION" in r.stderr

    edgectl("stage", "delete", "shop", "dev")
    assert names(edgectl("-o", "json", "stage", "list", "shop")) == ["prod"]
    assert "NOT_FOUND" in edgectl("stage", "get", "shop", "dev", check=1).stderr


def test_domain_map_list_unmap(edgectl):
    _api_with_route(edgectl)
    edgectl("deploy", "shop", "--stage", "prod")
    edgectl("domain", "map", "api.example.com/v1", "shop", "prod")
    edgectl("domain", "map", "*.example.org", "shop", "prod")

    table = edgectl("domain", "list").stdout
    assert "api.example.com" in table and "*.example.org" in table
    listed = rows(edgectl("-o", "json", "domain", "list"))
    got = sorted((field(m, "host"), field(m, "base_path", default=""), field(m, "api"),
                  field(m, "stage")) for m in listed)
    assert got == [("*.example.org", "", "shop", "prod"),
                   ("api.example.com", "/v1", "shop", "prod")]

    assert "ALREADY_EXISTS" in edgectl("domain", "map", "api.example.com/v1", "shop", "prod",
                                       check=1).stderr
    edgectl("domain", "unmap", "api.example.com/v1")
    assert len(rows(edgectl("-o", "json", "domain", "list"))) == 1
    assert "NOT_FOUND" in edgectl("domain", "unmap", "api.example.com/v1", check=1).stderr


def test_status_audit_version_node(edgectl):
    edgectl("api", "create", "a1")
    st = edgectl("status").stdout
    assert "revision" in st.lower()

    audit = edgectl("audit", "--limit", "5").stdout
    assert "a1" in audit and "create" in audit
    entries = rows(edgectl("-o", "json", "audit", "--limit", "5"))
    assert any(field(e, "object_id") == "a1" and field(e, "action") == "create"
               for e in entries)

    v = edgectl("version").stdout
    assert "0." in v or "1." in v
    assert rows(edgectl("-o", "json", "node", "list")) == []
    edgectl("node", "list")
