"""Admin errors: authentication, the status codes of admin.proto, validation naming the field,
message limits and unknown methods. After each, the server keeps serving."""

import grpc
import pytest

from conftest import AdminClient
from helpers import assert_code, revision, rpc_error

C = grpc.StatusCode


def mk_upstream(pb, name="svc", targets=(("127.0.0.1", 8001, 0),), **kw):
    return pb.res.Upstream(name=name, targets=[pb.res.Target(host=h, port=p, weight=w)
                                               for h, p, w in targets], **kw)


def mk_route(pb, api="shop", method="GET", path="/items", upstream="svc", **kw):
    integ = kw.pop("integration", None) or pb.res.Integration(upstream=upstream)
    return pb.res.Route(api=api, method=method, path=path, integration=integ, **kw)


@pytest.fixture
def shop(admin, pb):
    admin.CreateUpstream(mk_upstream(pb))
    admin.CreateApi(pb.res.Api(name="shop"))
    return admin


# -- authentication --------------------------------------------------------------------------

def test_unauthenticated_without_token(cp, pb):
    a = AdminClient(pb, cp.addr, token=False)
    try:
        assert_code(rpc_error(a.GetStatus, pb.admin.GetStatusRequest()), C.UNAUTHENTICATED)
        assert_code(rpc_error(a.CreateApi, pb.res.Api(name="x")), C.UNAUTHENTICATED)
    finally:
        a.close()


@pytest.mark.parametrize("header", [
    "Bearer wrong-token", "Bearer ", "bearer-less", "Basic dXNlcjpwYXNz", "Bearer {tok}x",
])
def test_unauthenticated_with_wrong_token(cp, pb, admin, header):
    a = AdminClient(pb, cp.addr, token=False)
    md = [("authorization", header.replace("{tok}", cp.token))]
    try:
        assert_code(rpc_error(a.ListApis, pb.admin.ListApisRequest(), metadata=md),
                    C.UNAUTHENTICATED)
        assert_code(rpc_error(a.CreateApi, pb.res.Api(name="x"), metadata=md),
                    C.UNAUTHENTICATED)
    finally:
        a.close()
    # Nothing was written.
    assert list(admin.ListApis(pb.admin.ListApisRequest()).apis) == []


def test_edgectl_unauthenticated(cp, tmp_path):
    from conftest import run_edgectl
    r = run_edgectl(["api", "list"], server=cp.addr, env={"EDGE_TOKEN": "nope"}, check=1)
    assert "UNAUTHENTICATED" in r.stderr
    bad = tmp_path / "bad.token"
    bad.write_text("not-the-token\n")
    r = run_edgectl(["api", "create", "x"], server=cp.addr, token_file=bad, check=1)
    assert r.stderr.startswith("edgectl: UNAUTHENTICATED"), r.stderr
    r = run_edgectl(["api", "list"], server=cp.addr, check=False)
    assert r.rc in (1, 2) and r.stderr, r


# -- ALREADY_EXISTS / NOT_FOUND / FAILED_PRECONDITION ----------------------------------------

def test_already_exists(shop, pb):
    A = pb.admin
    assert_code(rpc_error(shop.CreateApi, pb.res.Api(name="shop")), C.ALREADY_EXISTS, "shop")
    assert_code(rpc_error(shop.CreateUpstream, mk_upstream(pb)), C.ALREADY_EXISTS, "svc")
    shop.CreateRoute(mk_route(pb))
    shop.CreateDeployment(A.CreateDeploymentRequest(api="shop", stage="prod"))
    assert_code(rpc_error(shop.CreateStage, pb.res.Stage(api="shop", name="prod")),
                C.ALREADY_EXISTS)
    dm = pb.res.DomainMapping(host="a.example.com", api="shop", stage="prod")
    shop.CreateDomainMapping(dm)
    assert_code(rpc_error(shop.CreateDomainMapping, dm), C.ALREADY_EXISTS)


def test_not_found(shop, pb):
    A = pb.admin
    for fn, req in [
        (shop.GetApi, A.GetApiRequest(name="nope")),
        (shop.UpdateApi, pb.res.Api(name="nope", description="x")),
        (shop.DeleteApi, A.DeleteApiRequest(name="nope")),
        (shop.GetUpstream, A.GetUpstreamRequest(name="nope")),
        (shop.UpdateUpstream, mk_upstream(pb, name="nope")),
        (shop.DeleteUpstream, A.DeleteUpstreamRequest(name="nope")),
        (shop.GetRoute, A.GetRouteRequest(api="shop", id="r-000000000000")),
        (shop.DeleteRoute, A.DeleteRouteRequest(api="shop", id="r-000000000000")),
        (shop.ListRoutes, A.ListRoutesRequest(api="nope")),
        (shop.CreateRoute, mk_route(pb, api="nope")),
        (shop.GetStage, A.GetStageRequest(api="shop", name="nope")),
        (shop.DeleteStage, A.DeleteStageRequest(api="shop", name="nope")),
        (shop.GetDeployment, A.GetDeploymentRequest(api="shop", id="d-000000000000")),
        (shop.CreateDeployment, A.CreateDeploymentRequest(api="nope", stage="prod")),
        (shop.DeleteDomainMapping, A.DeleteDomainMappingRequest(host="nope.example.com")),
        (shop.CreateDomainMapping, pb.res.DomainMapping(host="x.example.com", api="shop",
                                                        stage="nope")),
    ]:
        err = rpc_error(fn, req)
        assert err.code() == C.NOT_FOUND, (fn, req, err.code(), err.details())


def test_failed_precondition_upstream_in_use(shop, pb):
    A = pb.admin
    shop.CreateRoute(mk_route(pb))
    rev = revision(shop)
    assert_code(rpc_error(shop.DeleteUpstream, A.DeleteUpstreamRequest(name="svc")),
                C.FAILED_PRECONDITION, "svc")
    assert revision(shop) == rev
    assert shop.GetUpstream(A.GetUpstreamRequest(name="svc")).name == "svc"


def test_failed_precondition_cli(edgectl):
    edgectl("upstream", "create", "svc", "--target", "127.0.0.1:8001")
    edgectl("api", "create", "shop")
    edgectl("route", "create", "shop", "--method", "GET", "--path", "/x", "--upstream", "svc")
    r = edgectl("upstream", "delete", "svc", check=1)
    assert r.stderr.startswith("edgectl: FAILED_PRECONDITION: "), r.stderr


def test_route_to_missing_upstream_is_refused(shop, pb):
    err = rpc_error(shop.CreateRoute, mk_route(pb, upstream="ghost"))
    assert err.code() in (C.NOT_FOUND, C.FAILED_PRECONDITION, C.INVALID_ARGUMENT), err
    assert "ghost" in err.details() or "upstream" in err.details().lower()


# -- INVALID_ARGUMENT naming the field ------------------------------------------------------

@pytest.mark.parametrize("name", ["", "Upper", "has space", "-leading", "a" * 64, "sl/ash", "é"])
def test_invalid_api_name(admin, pb, name):
    assert_code(rpc_error(admin.CreateApi, pb.res.Api(name=name)), C.INVALID_ARGUMENT, "name")


def test_valid_api_names(admin, pb):
    for name in ["a", "a" * 63, "my-api.v2_x", "0day"]:
        admin.CreateApi(pb.res.Api(name=name))


# (Upper-case extension methods such as PROPFIND are accepted: HTTP allows them.)
@pytest.mark.parametrize("method", ["", "get", "Get", "GET POST", "G\nET", "GET/", "A" * 40])
def test_invalid_method(shop, pb, method):
    assert_code(rpc_error(shop.CreateRoute, mk_route(pb, method=method)), C.INVALID_ARGUMENT,
                "method")


def test_valid_methods(shop, pb):
    for i, m in enumerate(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS",
                           "TRACE", "CONNECT", "ANY"]):
        shop.CreateRoute(mk_route(pb, method=m, path=f"/m{i}"))


@pytest.mark.parametrize("path", ["", "items", "/items/{id", "/items/id}", "/{}",
                                  "/{proxy+}/more", "/a/{id}/{id}", "/{bad name}",
                                  "/a b", "/x\n"])
def test_invalid_path_template(shop, pb, path):
    assert_code(rpc_error(shop.CreateRoute, mk_route(pb, path=path)), C.INVALID_ARGUMENT,
                "path")


def test_valid_path_templates(shop, pb):
    for p in (["/", "/items", "/items/{id}", "/files/{name}.json", "/{proxy+}",
                           "/a/{x}/b/{y}", "/v1/{proxy+}", "/trailing/"]):
        shop.CreateRoute(mk_route(pb, path=p))


@pytest.mark.parametrize("targets,word", [
    ([], "target"),
    ([("127.0.0.1", 0, 0)], "port"),
    ([("127.0.0.1", 65536, 0)], "port"),
    ([("", 80, 0)], "host"),
    ([("bad host", 80, 0)], "host"),
    ([("127.0.0.1", 80, 1001)], "weight"),
])
def test_invalid_upstream_target(admin, pb, targets, word):
    assert_code(rpc_error(admin.CreateUpstream, mk_upstream(pb, targets=targets)),
                C.INVALID_ARGUMENT, word)


@pytest.mark.parametrize("field_name,value,word", [
    ("retries", 11, "retries"),
    ("timeout_ms", 0xFFFFFFFF, "timeout"),
    ("connect_timeout_ms", 0xFFFFFFFF, "timeout"),
])
def test_invalid_upstream_numbers(admin, pb, field_name, value, word):
    u = mk_upstream(pb)
    setattr(u, field_name, value)
    assert_code(rpc_error(admin.CreateUpstream, u), C.INVALID_ARGUMENT, word)


def test_invalid_route_timeout(shop, pb):
    r = mk_route(pb, integration=pb.res.Integration(upstream="svc", timeout_ms=0xFFFFFFFF))
    assert_code(rpc_error(shop.CreateRoute, r), C.INVALID_ARGUMENT, "timeout")


def test_invalid_upstream_name_and_stage_name(admin, pb):
    assert_code(rpc_error(admin.CreateUpstream, mk_upstream(pb, name="Bad Name")),
                C.INVALID_ARGUMENT, "name")
    admin.CreateApi(pb.res.Api(name="shop"))
    assert_code(rpc_error(admin.CreateStage, pb.res.Stage(api="shop", name="Prod!")),
                C.INVALID_ARGUMENT, "name")


def test_invalid_args_cli(edgectl):
    """Malformed values are rejected with exit 2 (checked locally) or 1 (by the server); the
    message names the field either way, and nothing is created."""
    edgectl("api", "create", "shop")
    edgectl("upstream", "create", "svc", "--target", "127.0.0.1:8001")
    for args, word in [
        (["api", "create", "Bad Name"], "name"),
        (["upstream", "create", "u2", "--target", "127.0.0.1"], "target"),
        (["upstream", "create", "u2", "--target", "127.0.0.1:99999"], "target"),
        (["upstream", "create", "u2", "--target", "127.0.0.1:80,weight=0x"], "weight"),
        (["upstream", "create", "u2", "--target", "127.0.0.1:80", "--timeout-ms", "-1"],
         "timeout"),
        (["route", "create", "shop", "--method", "GET POST", "--path", "/x", "--upstream",
          "svc"],
         "method"),
        (["route", "create", "shop", "--method", "GET", "--path", "x{", "--upstream", "svc"],
         "path"),
    ]:
        r = edgectl(*args, check=False)
        assert r.rc in (1, 2), r
        assert word in r.stderr.lower(), r
    assert edgectl("-o", "json", "upstream", "list").json().__len__() == 1
    assert edgectl("-o", "json", "route", "list", "shop").json() == []


# -- limits and unknown methods --------------------------------------------------------------

def _alive(admin, pb):
    admin.GetStatus(pb.admin.GetStatusRequest())


def test_oversized_message_fails_cleanly(admin, pb):
    big = pb.res.Api(name="big", description="x" * (65 << 20))
    err = rpc_error(admin.CreateApi, big, timeout=60)
    # The transport's limit refuses it before any handler runs.
    assert err.code() == C.RESOURCE_EXHAUSTED, (err.code(), err.details())
    _alive(admin, pb)
    assert_code(rpc_error(admin.GetApi, pb.admin.GetApiRequest(name="big")), C.NOT_FOUND)


def test_large_description_fails_cleanly_or_is_stored_whole(admin, pb):
    desc = "y" * (10 << 20)
    try:
        admin.CreateApi(pb.res.Api(name="big", description=desc), timeout=60)
    except grpc.RpcError as e:
        assert e.code() in (C.INVALID_ARGUMENT, C.RESOURCE_EXHAUSTED), (e.code(), e.details())
        assert "description" in e.details().lower() or e.code() == C.RESOURCE_EXHAUSTED
    else:
        assert admin.GetApi(pb.admin.GetApiRequest(name="big"), timeout=60).description == desc
    _alive(admin, pb)


def test_many_large_calls_do_not_kill_the_server(admin, pb):
    for i in range(5):
        try:
            admin.CreateApi(pb.res.Api(name=f"b{i}", description="z" * (2 << 20)), timeout=60)
        except grpc.RpcError as e:
            assert e.code() in (C.INVALID_ARGUMENT, C.RESOURCE_EXHAUSTED), e
    _alive(admin, pb)


def test_garbage_request_bytes(cp, admin, pb):
    with grpc.insecure_channel(cp.addr) as ch:
        call = ch.unary_unary("/edge.v1.Admin/CreateApi", request_serializer=None,
                              response_deserializer=None)
        md = [("authorization", f"Bearer {cp.token}")]
        with pytest.raises(grpc.RpcError) as ei:
            call(b"\xff\xff\xff\xff\xff\x0f", metadata=md, timeout=10)
        assert ei.value.code() in (C.INVALID_ARGUMENT, C.INTERNAL), ei.value
    _alive(admin, pb)


@pytest.mark.parametrize("path", ["/edge.v1.Admin/NoSuchMethod", "/edge.v1.Nope/GetStatus",
                                  "/grpc.health.v1.Health/Watch"])
def test_unknown_method_unimplemented(cp, admin, pb, path):
    with grpc.insecure_channel(cp.addr) as ch:
        call = ch.unary_unary(path, request_serializer=None, response_deserializer=None)
        md = [("authorization", f"Bearer {cp.token}")]
        with pytest.raises(grpc.RpcError) as ei:
            call(b"", metadata=md, timeout=10)
        assert ei.value.code() == C.UNIMPLEMENTED, ei.value
    _alive(admin, pb)


def test_client_deadline_and_cancel_do_not_hurt(cp, admin, pb):
    fut = admin.stub.ListApis.future(pb.admin.ListApisRequest(),
                                     metadata=[("authorization", f"Bearer {cp.token}")],
                                     timeout=10)
    fut.cancel()
    try:
        admin.ListApis(pb.admin.ListApisRequest(), timeout=0.000001)
    except grpc.RpcError as e:
        assert e.code() == C.DEADLINE_EXCEEDED
    _alive(admin, pb)
