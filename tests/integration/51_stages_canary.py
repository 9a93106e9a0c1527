"""Deployments, rollback, canary releases, promote-canary and stage variables, through two data
planes (the issue "OpenAPI import and export, deployments, stages, canary releases").

Two echo upstreams ("blue" and "green") tell the sides apart: the echo answers with its name,
and the data plane tells the upstream which deployment answered in X-Edge-Deployment."""

import http.client
import json
import statistics
import time

import pytest
import requests

from conftest import _EchoHandler, wait_until
from helpers import deployment_id, field, one, revision, route_id


class _OneWriteEcho(_EchoHandler):
    # The stock echo writes head and body separately: with Nagle on its side and delayed ACKs
    # on ours each exchange waits ~40 ms, too slow for 10,000 requests. One buffered write.
    wbufsize = 1 << 16


def fast_echo(echo_factory, name):
    s = echo_factory(name)
    s.RequestHandlerClass = _OneWriteEcho
    return s


def get(url, **kw):
    kw.setdefault("timeout", 5)
    return requests.get(url, **kw)


@pytest.fixture
def shop(edgectl, echo_factory):
    """API shop with GET /who -> blue, deployed to prod; returns a small namespace."""
    blue, green = fast_echo(echo_factory, "blue"), fast_echo(echo_factory, "green")
    edgectl("upstream", "create", "blue", "--target", blue.target)
    edgectl("upstream", "create", "green", "--target", green.target)
    edgectl("api", "create", "shop")
    rid = route_id(edgectl("route", "create", "shop", "--method", "GET", "--path", "/who",
                           "--upstream", "blue"))
    d1 = deployment_id(edgectl("deploy", "shop", "--stage", "prod"))

    class Shop:
        pass

    s = Shop()
    s.route, s.d1, s.blue, s.green = rid, d1, blue, green
    return s


def served(node, path="/shop/prod/who", session=None):
    """(upstream name, deployment id) that answered one request."""
    r = (session or requests).get(node.url + path, timeout=5)
    assert r.status_code == 200, (r.status_code, r.text)
    body = r.json()
    return body["upstream"], body["headers"].get("X-Edge-Deployment")


def wait_serving(nodes, admin, dep, timeout=10):
    rev = revision(admin)
    for n in nodes:
        n.wait_revision(rev, timeout=timeout)
    for n in nodes:
        wait_until(lambda: served(n)[1] == dep, timeout, interval=0.02,
                   what=f"{n.node_id} serving {dep}")


def test_deploy_and_rollback_on_two_nodes(shop, dataplanes, edgectl, admin):
    nodes = dataplanes(2)
    for n in nodes:
        n.wait_ready()
    wait_serving(nodes, admin, shop.d1)
    assert all(served(n) == ("blue", shop.d1) for n in nodes)

    # Editing routes changes nothing that a stage serves until the next deploy.
    edgectl("route", "update", "shop", shop.route, "--upstream", "green")
    rev = revision(admin)
    for n in nodes:
        n.wait_revision(rev)
    time.sleep(0.3)
    assert all(served(n) == ("blue", shop.d1) for n in nodes)

    d2 = deployment_id(edgectl("deploy", "shop", "--stage", "prod"))
    wait_serving(nodes, admin, d2)
    assert all(served(n) == ("green", d2) for n in nodes)

    # Rollback: the stage points at the old deployment again, on every node.
    edgectl("stage", "update", "shop", "prod", "--deployment", shop.d1)
    wait_serving(nodes, admin, shop.d1)
    assert all(served(n) == ("blue", shop.d1) for n in nodes)


def test_canary_ten_percent(shop, dataplanes, edgectl, admin, measure):
    (n,) = dataplanes(1)
    n.wait_ready()
    edgectl("route", "update", "shop", shop.route, "--upstream", "green")
    d2 = deployment_id(edgectl("deploy", "shop", "--stage", "prod", "--canary-percent", "10"))
    st = one(edgectl("-o", "json", "stage", "get", "shop", "prod"))
    assert field(st, "deployment_id") == shop.d1
    assert field(field(st, "canary"), "deployment_id") == d2
    assert float(field(field(st, "canary"), "percent")) == 10
    assert f"{d2} 10%" in edgectl("stage", "list", "shop").stdout
    n.wait_revision(revision(admin))

    total, hits = 10000, {"blue": 0, "green": 0}
    deadline = time.monotonic() + 90
    with requests.Session() as s:
        for i in range(total):
            assert time.monotonic() < deadline, f"too slow: {i} requests in 90 s"
            up, dep = served(n, session=s)
            assert dep == (d2 if up == "green" else shop.d1)
            hits[up] += 1
    share = hits["green"] / total
    measure(f"canary 10%: {hits['green']} of {total} requests ({share:.2%}) went to the canary")
    assert 0.08 <= share <= 0.12, hits


def _get_from(node, source_ip, path="/shop/prod/who"):
    c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=5,
                                   source_address=(source_ip, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        assert r.status == 200, r.read()
        return json.loads(r.read())["upstream"]
    finally:
        c.close()


def test_sticky_canary_keeps_a_client_on_one_side(shop, dataplanes, edgectl, admin):
    nodes = dataplanes(2)
    for n in nodes:
        n.wait_ready()
    edgectl("route", "update", "shop", shop.route, "--upstream", "green")
    d2 = deployment_id(edgectl("deploy", "shop", "--stage", "prod"))
    edgectl("stage", "update", "shop", "prod", "--deployment", shop.d1,
            "--canary-deployment", d2, "--canary-percent", "50", "--canary-sticky")
    st = one(edgectl("-o", "json", "stage", "get", "shop", "prod"))
    assert field(field(st, "canary"), "sticky") is True
    rev = revision(admin)
    for n in nodes:
        n.wait_revision(rev)

    # Clients are told apart by address: all of 127.0.0.0/8 reaches the loopback listener.
    sides = {}
    for i in range(2, 26):
        ip = f"127.0.0.{i}"
        seen = {_get_from(nodes[k % 2], ip) for k in range(12)}  # both nodes agree too
        assert len(seen) == 1, (ip, seen)
        sides[ip] = seen.pop()
    assert set(sides.values()) == {"blue", "green"}, sides

    # Not sticky: one client sees both sides.
    edgectl("stage", "update", "shop", "prod", "--no-canary-sticky")
    rev = revision(admin)
    for n in nodes:
        n.wait_revision(rev)
    seen = {_get_from(nodes[0], "127.0.0.2") for _ in range(60)}
    assert seen == {"blue", "green"}


def test_promote_canary(shop, dataplanes, edgectl, admin):
    nodes = dataplanes(2)
    for n in nodes:
        n.wait_ready()
    r = edgectl("stage", "promote-canary", "shop", "prod", check=1)
    assert "FAILED_PRECONDITION" in r.stderr and "no canary" in r.stderr

    edgectl("route", "update", "shop", shop.route, "--upstream", "green")
    d2 = deployment_id(edgectl("deploy", "shop", "--stage", "prod", "--canary-percent", "30"))
    rev = revision(admin)
    for n in nodes:
        n.wait_revision(rev)
    with requests.Session() as s:
        got = {served(nodes[0], session=s)[0] for _ in range(100)}
    assert got == {"blue", "green"}

    out = edgectl("stage", "promote-canary", "shop", "prod")
    assert d2 in out.stdout
    st = one(edgectl("-o", "json", "stage", "get", "shop", "prod"))
    assert field(st, "deployment_id") == d2
    assert not field(st, "canary")
    wait_serving(nodes, admin, d2)
    with requests.Session() as s:
        for n in nodes:
            assert {served(n, session=s) for _ in range(50)} == {("green", d2)}

    # --no-canary clears a canary without promoting it.
    edgectl("deploy", "shop", "--stage", "prod", "--canary-percent", "100")
    wait_serving(nodes, admin, deployment_id(edgectl("deployment", "list", "shop")))
    edgectl("stage", "update", "shop", "prod", "--no-canary")
    assert not field(one(edgectl("-o", "json", "stage", "get", "shop", "prod")), "canary")
    wait_serving(nodes, admin, d2)


def test_canary_validation(shop, edgectl):
    edgectl("api", "create", "other")
    edgectl("route", "create", "other", "--method", "GET", "--path", "/x", "--upstream", "blue")
    d_other = deployment_id(edgectl("deploy", "other", "--stage", "prod"))

    r = edgectl("stage", "update", "shop", "prod", "--canary-deployment", d_other,
                "--canary-percent", "5", check=1)
    assert "NOT_FOUND" in r.stderr and d_other in r.stderr
    edgectl("stage", "update", "shop", "prod", "--canary-percent", "101", check=2)
    edgectl("stage", "update", "shop", "prod", "--canary-percent", "-1", check=2)
    edgectl("deploy", "shop", "--stage", "prod", "--canary-percent", "0", check=2)
    edgectl("deploy", "shop", "--stage", "prod", "--canary-sticky", check=2)
    edgectl("stage", "update", "shop", "prod", "--no-canary", "--canary-percent", "5", check=2)
    r = edgectl("stage", "update", "shop", "prod", "--canary-percent", "5", check=1)
    assert "INVALID_ARGUMENT" in r.stderr and "deployment_id" in r.stderr
    # A canary needs a stage that serves something to compare with.
    r = edgectl("deploy", "shop", "--stage", "qa", "--canary-percent", "5", check=1)
    assert "NOT_FOUND" in r.stderr and "qa" in r.stderr
    # Nothing of the failed calls stuck.
    st = one(edgectl("-o", "json", "stage", "get", "shop", "prod"))
    assert field(st, "deployment_id") == shop.d1 and not field(st, "canary")


def test_stage_variables_in_the_upstream_path(edgectl, echo_factory, dataplanes, admin):
    echo = echo_factory("echo")
    edgectl("upstream", "create", "echo", "--target", echo.target)
    edgectl("api", "create", "cat")
    edgectl("route", "create", "cat", "--method", "ANY", "--path", "/{proxy+}", "--upstream",
            "echo", "--upstream-path", "/${stageVariables.version}/svc/{proxy}")
    d = deployment_id(edgectl("deploy", "cat", "--stage", "prod"))
    edgectl("stage", "update", "cat", "prod", "--var", "version=v1")
    edgectl("stage", "create", "cat", "beta", "--deployment", d, "--var", "version=v2-beta")
    edgectl("stage", "create", "cat", "qa", "--deployment", d)  # no variable: 500
    (n,) = dataplanes(1)
    n.wait_ready()
    n.wait_revision(revision(admin))

    assert get(f"{n.url}/cat/prod/a/b?q=1").json()["path"] == "/v1/svc/a/b?q=1"
    assert get(f"{n.url}/cat/beta/a").json()["path"] == "/v2-beta/svc/a"
    r = get(f"{n.url}/cat/qa/a")
    assert r.status_code == 500
    assert "version" in r.json()["message"] and "not defined" in r.json()["message"]

    # The control plane explains the same thing.
    t = one(edgectl("-o", "json", "route", "test", "cat", "--stage", "prod", "GET", "/a/b"))
    assert field(t, "upstream_url").endswith("/v1/svc/a/b")
    t = one(edgectl("-o", "json", "route", "test", "cat", "--stage", "qa", "GET", "/a"))
    assert "version" in field(t, "reason") and "500" in field(t, "reason")

    # Variables are the stage's: a change serves at once, without a deploy.
    edgectl("stage", "update", "cat", "prod", "--var", "version=v3")
    n.wait_revision(revision(admin))
    assert get(f"{n.url}/cat/prod/a").json()["path"] == "/v3/svc/a"

    # A bad reference is refused when the route is written.
    r = edgectl("route", "create", "cat", "--method", "GET", "--path", "/bad", "--upstream",
                "echo", "--upstream-path", "/${stage.version}", check=1)
    assert "INVALID_ARGUMENT" in r.stderr


def test_stage_variables_in_the_upstream(edgectl, echo_factory, dataplanes, admin):
    """AWS's http://${stageVariables.backend}/...: one deployment, and each stage's variable
    says where it goes: an upstream's name, or a literal host:port."""
    blue, green = echo_factory("blue"), echo_factory("green")
    edgectl("upstream", "create", "blue-svc", "--target", blue.target)
    edgectl("api", "create", "pets")
    edgectl("route", "create", "pets", "--method", "GET", "--path", "/pets/{id}", "--upstream",
            "${stageVariables.backend}", "--upstream-path", "/v1/pets/{id}")
    edgectl("route", "create", "pets", "--method", "GET", "--path", "/health", "--upstream",
            "blue-svc")
    (listed,) = [r for r in edgectl("-o", "json", "route", "list", "pets").json()
                 if r["path"] == "/pets/{id}"]
    assert field(listed, "integration")["upstream"] == "${stageVariables.backend}"
    d = deployment_id(edgectl("deploy", "pets", "--stage", "prod"))
    edgectl("stage", "update", "pets", "prod", "--var", "backend=blue-svc")
    edgectl("stage", "create", "pets", "beta", "--deployment", d,
            "--var", f"backend={green.target}")
    edgectl("stage", "create", "pets", "qa", "--deployment", d)  # no variable: 500
    edgectl("stage", "create", "pets", "dev", "--deployment", d, "--var", "backend=nowhere")
    nodes = dataplanes(2)
    for n in nodes:
        n.wait_ready()
        n.wait_revision(revision(admin))

    for n in nodes:
        r = get(f"{n.url}/pets/prod/pets/7?x=1")
        assert r.status_code == 200
        assert r.json()["upstream"] == "blue" and r.json()["path"] == "/v1/pets/7?x=1"
        r = get(f"{n.url}/pets/beta/pets/8")
        assert r.status_code == 200
        assert r.json()["upstream"] == "green" and r.json()["path"] == "/v1/pets/8"
        for stage, want in (("qa", "is not defined in stage pets/qa"),
                            ("dev", "names no upstream and is not host:port")):
            r = get(f"{n.url}/pets/{stage}/pets/9")
            assert r.status_code == 500
            assert "backend" in r.json()["message"] and want in r.json()["message"]
            # The rest of the stage serves.
            assert get(f"{n.url}/pets/{stage}/health").json()["upstream"] == "blue"
    # Keep-alive to the literal target: many requests, all to green.
    with requests.Session() as s:
        for _ in range(20):
            assert s.get(f"{nodes[0].url}/pets/beta/pets/1", timeout=5).json()["upstream"] == \
                "green"

    # route test shows the upstream each stage resolves to.
    t = one(edgectl("-o", "json", "route", "test", "pets", "--stage", "prod", "GET", "/pets/7"))
    assert field(t, "upstream_url") == f"http://{blue.target}/v1/pets/7"
    assert 'upstream "blue-svc" from stage variable "backend"' in field(t, "reason")
    t = one(edgectl("-o", "json", "route", "test", "pets", "--stage", "beta", "GET", "/pets/7"))
    assert field(t, "upstream_url") == f"http://{green.target}/v1/pets/7"
    assert "a literal target" in field(t, "reason")
    out = edgectl("route", "test", "pets", "--stage", "qa", "GET", "/pets/7").stdout
    assert 'stage variable "backend", which the stage does not define: nodes answer 500' in out
    out = edgectl("route", "test", "pets", "--stage", "dev", "GET", "/pets/7").stdout
    assert "names no upstream" in out and "500" in out
    out = edgectl("route", "test", "pets", "GET", "/pets/7").stdout
    assert 'its upstream is stage variable "backend", resolved per stage' in out

    # A variable changes where a stage goes at once, without a deploy: by name to by target.
    edgectl("stage", "update", "pets", "prod", "--var", f"backend=http://{green.target}")
    for n in nodes:
        n.wait_revision(revision(admin))
        assert get(f"{n.url}/pets/prod/pets/7").json()["upstream"] == "green"

    # Malformed references are refused when the route is written.
    for bad in ("${stageVariables.back-end}", "${stageVariables.backend", "svc-${stageVariables.x}",
                "${stageVariables.a}/x"):
        r = edgectl("route", "create", "pets", "--method", "GET", "--path", "/bad",
                    "--upstream", bad, check=1)
        assert "INVALID_ARGUMENT" in r.stderr and "route.integration.upstream" in r.stderr


def test_deploy_reaches_every_node(shop, dataplanes, edgectl, admin, measure):
    nodes = dataplanes(2)
    for n in nodes:
        n.wait_ready()
    wait_serving(nodes, admin, shop.d1)
    times = []
    sessions = [requests.Session() for _ in nodes]
    try:
        for i in range(20):
            edgectl("route", "update", "shop", shop.route,
                    "--upstream", "green" if i % 2 == 0 else "blue")
            t0 = time.monotonic()
            d = deployment_id(edgectl("deploy", "shop", "--stage", "prod"))
            for n, s in zip(nodes, sessions):
                wait_until(lambda: served(n, session=s)[1] == d, 10, interval=0.002,
                           what=f"{n.node_id} serving {d}")
            times.append(time.monotonic() - t0)
    finally:
        for s in sessions:
            s.close()
    med = statistics.median(times)
    measure(f"edgectl deploy -> new deployment serving on 2 nodes: median {med * 1000:.1f} ms, "
            f"max {max(times) * 1000:.1f} ms over {len(times)} deploys (edgectl start included)")
    assert med < 2.0
