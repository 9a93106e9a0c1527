"""CRUD of every noun through grpcio, revisions per write (GetStatus) and the audit log."""

import re

import grpc

from helpers import assert_code, revision, rpc_error


def mk_upstream(pb, name="svc", port=8001, **kw):
    return pb.res.Upstream(name=name, targets=[pb.res.Target(host="127.0.0.1", port=port)],
                           **kw)


def mk_route(pb, api, method="GET", path="/items", upstream="svc", **kw):
    return pb.res.Route(api=api, method=method, path=path,
                        integration=pb.res.Integration(upstream=upstream), **kw)


def test_api_crud(admin, pb):
    A = pb.admin
    a = admin.CreateApi(pb.res.Api(name="pets", description="d1"))
    assert (a.name, a.description, a.route_count) == ("pets", "d1", 0)
    assert a.created_at > 0 and a.updated_at >= a.created_at
    assert admin.GetApi(A.GetApiRequest(name="pets")) == a
    assert [x.name for x in admin.ListApis(A.ListApisRequest()).apis] == ["pets"]
    u = admin.UpdateApi(pb.res.Api(name="pets", description="d2"))
    assert u.description == "d2" and u.created_at == a.created_at
    assert admin.GetApi(A.GetApiRequest(name="pets")).description == "d2"
    rev = admin.DeleteApi(A.DeleteApiRequest(name="pets")).revision
    assert rev == revision(admin)
    assert_code(rpc_error(admin.GetApi, A.GetApiRequest(name="pets")),
                grpc.StatusCode.NOT_FOUND)
    assert list(admin.ListApis(A.ListApisRequest()).apis) == []


def test_upstream_crud(admin, pb):
    A = pb.admin
    up = pb.res.Upstream(name="backend", lb=pb.res.LB_POLICY_LEAST_REQUEST, retries=2,
                         targets=[pb.res.Target(host="127.0.0.1", port=8001, weight=5),
                                  pb.res.Target(host="localhost", port=8002)],
                         health_check=pb.res.HealthCheck(path="/healthz", interval_ms=1000,
                                                         timeout_ms=500, healthy_threshold=2,
                                                         unhealthy_threshold=3))
    got = admin.CreateUpstream(up)
    assert [(t.host, t.port, t.weight) for t in got.targets] == \
        [("127.0.0.1", 8001, 5), ("localhost", 8002, 1)]
    assert (got.connect_timeout_ms, got.timeout_ms, got.pool_size) == (2000, 30000, 64)
    assert got.lb == pb.res.LB_POLICY_LEAST_REQUEST and got.retries == 2
    assert got.health_check.path == "/healthz"
    assert admin.GetUpstream(A.GetUpstreamRequest(name="backend")) == got

    got.targets.pop()
    got.timeout_ms = 1234
    upd = admin.UpdateUpstream(got)
    assert len(upd.targets) == 1 and upd.timeout_ms == 1234
    assert [u.name for u in admin.ListUpstreams(A.ListUpstreamsRequest()).upstreams] == \
        ["backend"]
    admin.DeleteUpstream(A.DeleteUpstreamRequest(name="backend"))
    assert_code(rpc_error(admin.GetUpstream, A.GetUpstreamRequest(name="backend")),
                grpc.StatusCode.NOT_FOUND)


def test_route_crud(admin, pb):
    A = pb.admin
    admin.CreateUpstream(mk_upstream(pb))
    admin.CreateApi(pb.res.Api(name="shop"))
    r = admin.CreateRoute(mk_route(
        pb, "shop", path="/items/{id}", host="shop.example.com", api_key_required=True,
        max_body_bytes=4096, headers=[pb.res.HeaderMatch(name="X-Env", value="prod")],
        throttle=pb.res.Throttle(rate=5, burst=10)))
    assert re.fullmatch(r"r-[0-9a-f]{12}", r.id), r.id
    assert (r.api, r.method, r.path, r.host) == ("shop", "GET", "/items/{id}",
                                                 "shop.example.com")
    assert r.api_key_required and r.max_body_bytes == 4096
    assert r.throttle.rate == 5 and r.throttle.burst == 10
    assert r.integration.upstream == "svc"
    assert admin.GetRoute(A.GetRouteRequest(api="shop", id=r.id)) == r
    assert admin.GetApi(A.GetApiRequest(name="shop")).route_count == 1

    r.path = "/items/{id}/photos/{proxy+}"
    r.method = "ANY"
    u = admin.UpdateRoute(r)
    assert (u.id, u.method, u.path) == (r.id, "ANY", "/items/{id}/photos/{proxy+}")
    assert [x.id for x in admin.ListRoutes(A.ListRoutesRequest(api="shop")).routes] == [r.id]

    admin.DeleteRoute(A.DeleteRouteRequest(api="shop", id=r.id))
    assert_code(rpc_error(admin.GetRoute, A.GetRouteRequest(api="shop", id=r.id)),
                grpc.StatusCode.NOT_FOUND)
    assert list(admin.ListRoutes(A.ListRoutesRequest(api="shop")).routes) == []


def test_deployment_stage_domain(admin, pb):
    A = pb.admin
    admin.CreateUpstream(mk_upstream(pb))
    admin.CreateApi(pb.res.Api(name="shop"))
    route = admin.CreateRoute(mk_route(pb, "shop"))
    d = admin.CreateDeployment(A.CreateDeploymentRequest(api="shop", stage="prod",
                                                         description="v1"))
    assert re.fullmatch(r"d-[0-9a-f]{12}", d.id), d.id
    assert d.revision == revision(admin)
    full = admin.GetDeployment(A.GetDeploymentRequest(api="shop", id=d.id))
    assert [x.id for x in full.routes] == [route.id]
    # A deployment is immutable: changing the API's routes later does not change it.
    admin.DeleteRoute(A.DeleteRouteRequest(api="shop", id=route.id))
    full2 = admin.GetDeployment(A.GetDeploymentRequest(api="shop", id=d.id))
    assert [x.path for x in full2.routes] == ["/items"]
    listed = admin.ListDeployments(A.ListDeploymentsRequest(api="shop")).deployments
    assert [x.id for x in listed] == [d.id]

    prod = admin.GetStage(A.GetStageRequest(api="shop", name="prod"))
    assert prod.deployment_id == d.id
    dev = admin.CreateStage(pb.res.Stage(api="shop", name="dev", variables={"k": "v"}))
    assert dict(dev.variables) == {"k": "v"} and dev.deployment_id == ""
    dev.deployment_id = d.id
    dev.variables["k2"] = "v2"
    dev2 = admin.UpdateStage(dev)
    assert dev2.deployment_id == d.id and dict(dev2.variables) == {"k": "v", "k2": "v2"}
    assert sorted(s.name for s in admin.ListStages(A.ListStagesRequest(api="shop")).stages) == \
        ["dev", "prod"]

    m = admin.CreateDomainMapping(pb.res.DomainMapping(host="shop.example.com",
                                                       base_path="/v1", api="shop",
                                                       stage="prod"))
    assert (m.host, m.base_path, m.api, m.stage) == ("shop.example.com", "/v1", "shop", "prod")
    admin.CreateDomainMapping(pb.res.DomainMapping(host="*", api="shop", stage="dev"))
    maps = admin.ListDomainMappings(A.ListDomainMappingsRequest()).mappings
    assert sorted((x.host, x.base_path) for x in maps) == [("*", ""),
                                                           ("shop.example.com", "/v1")]
    admin.DeleteDomainMapping(A.DeleteDomainMappingRequest(host="shop.example.com",
                                                           base_path="/v1"))
    assert len(admin.ListDomainMappings(A.ListDomainMappingsRequest()).mappings) == 1

    # A stage a domain maps to cannot go away under it... or takes the mapping with it; either
    # way nothing dangles.
    try:
        admin.DeleteStage(A.DeleteStageRequest(api="shop", name="dev"))
        assert list(admin.ListDomainMappings(A.ListDomainMappingsRequest()).mappings) == []
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
    admin.DeleteStage(A.DeleteStageRequest(api="shop", name="prod"))
    assert_code(rpc_error(admin.GetStage, A.GetStageRequest(api="shop", name="prod")),
                grpc.StatusCode.NOT_FOUND)

    st = admin.GetStatus(A.GetStatusRequest())
    assert (st.apis, st.routes, st.upstreams, st.deployments) == (1, 0, 1, 1)


def test_revision_increments_per_write(admin, pb):
    A = pb.admin
    writes = [
        lambda: admin.CreateUpstream(mk_upstream(pb)),
        lambda: admin.CreateApi(pb.res.Api(name="rev")),
        lambda: admin.UpdateApi(pb.res.Api(name="rev", description="x")),
        lambda: admin.CreateRoute(mk_route(pb, "rev")),
        lambda: admin.CreateDeployment(A.CreateDeploymentRequest(api="rev", stage="prod")),
        lambda: admin.CreateStage(pb.res.Stage(api="rev", name="dev")),
        lambda: admin.CreateDomainMapping(pb.res.DomainMapping(host="*", api="rev",
                                                               stage="prod")),
        lambda: admin.DeleteDomainMapping(A.DeleteDomainMappingRequest(host="*")),
        lambda: admin.DeleteStage(A.DeleteStageRequest(api="rev", name="dev")),
    ]
    rev = revision(admin)
    for i, w in enumerate(writes):
        w()
        now = revision(admin)
        assert now == rev + 1, f"write #{i}: revision {rev} -> {now}"
        rev = now
        # Reads and failed writes do not move it.
        admin.ListApis(A.ListApisRequest())
        rpc_error(admin.CreateApi, pb.res.Api(name="Not Valid"))
        assert revision(admin) == rev


def test_audit_rows(admin, pb):
    A = pb.admin
    r0 = revision(admin)
    admin.CreateApi(pb.res.Api(name="aud"))
    admin.UpdateApi(pb.res.Api(name="aud", description="y"))
    admin.CreateUpstream(mk_upstream(pb, name="aud-up"))
    admin.DeleteApi(A.DeleteApiRequest(name="aud"))
    entries = admin.ListAudit(A.ListAuditRequest(after_revision=r0)).entries
    got = [(e.action, e.object_type, e.object_id) for e in entries]
    want = [("create", "api", "aud"), ("update", "api", "aud"),
            ("create", "upstream", "aud-up"), ("delete", "api", "aud")]
    # Order: by revision (either direction), one row per write.
    assert got == want or got == want[::-1], got
    revs = sorted(e.revision for e in entries)
    assert revs == list(range(r0 + 1, r0 + 5))
    for e in entries:
        assert e.at > 0 and e.actor
    limited = admin.ListAudit(A.ListAuditRequest(limit=2)).entries
    assert len(limited) == 2
