"""Data plane smoke tests (the next issue): N nodes against one control plane and a real
upstream; admin port; config changes reach every node; serving without the control plane."""

import time

import pytest
import requests

from conftest import wait_until
from helpers import field, rows


@pytest.fixture
def demo(edgectl, upstream, admin, pb):
    edgectl("upstream", "create", "echo", "--target", upstream.target)
    edgectl("api", "create", "demo")
    edgectl("route", "create", "demo", "--method", "GET", "--path", "/hello", "--upstream",
            "echo")
    edgectl("route", "create", "demo", "--method", "ANY", "--path", "/{proxy+}", "--upstream",
            "echo")
    edgectl("deploy", "demo", "--stage", "prod")
    return admin.GetStatus(pb.admin.GetStatusRequest()).revision


def get(url, **kw):
    kw.setdefault("timeout", 5)
    return requests.get(url, **kw)


def test_two_nodes_serve_the_demo(demo, dataplanes, upstream, edgectl):
    nodes = dataplanes(2)
    for n in nodes:
        n.wait_ready()
        n.wait_revision(demo)
        r = get(f"{n.url}/demo/prod/hello", headers={"X-Test": "1"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["method"] == "GET" and body["path"] == "/hello"
        assert body["headers"].get("X-Test") == "1"
        r = requests.post(f"{n.url}/demo/prod/a/b?q=1", data=b"payload", timeout=5)
        assert r.status_code == 200
        assert r.json()["path"] == "/a/b?q=1" and r.json()["body"] == "payload"

    def both_acked():
        ns = {field(x, "id"): x for x in rows(edgectl("-o", "json", "node", "list"))}
        return all(ns.get(n.node_id) and field(ns[n.node_id], "connected") and
                   int(field(ns[n.node_id], "acked_revision", default=0)) == demo
                   for n in nodes)

    wait_until(both_acked, 10, interval=0.1, what="both nodes acked in node list")


def test_admin_port(demo, dataplanes):
    (n,) = dataplanes(1)
    n.wait_ready()
    n.wait_revision(demo)
    assert get(f"{n.admin_url}/live").status_code == 200
    assert get(f"{n.admin_url}/ready").status_code == 200
    m = get(f"{n.admin_url}/metrics")
    assert m.status_code == 200 and "# TYPE" in m.text
    assert int(n.config()["revision"]) == demo


def test_errors_are_small_json(demo, dataplanes):
    (n,) = dataplanes(1)
    n.wait_ready()
    n.wait_revision(demo)
    r = get(f"{n.url}/nope/prod/x")
    assert r.status_code == 404
    assert "message" in r.json()


def test_change_reaches_every_node(demo, dataplanes, edgectl, echo_factory, admin, pb):
    nodes = dataplanes(2)
    for n in nodes:
        n.wait_revision(demo)
    other = echo_factory("other")
    edgectl("upstream", "update", "echo", "--target", other.target)
    edgectl("deploy", "demo", "--stage", "prod")
    rev = admin.GetStatus(pb.admin.GetStatusRequest()).revision
    t0 = time.monotonic()
    for n in nodes:
        n.wait_revision(rev, timeout=10)
        wait_until(lambda: get(f"{n.url}/demo/prod/hello").headers.get("X-Upstream") ==
                   "other", 10, what=f"{n.node_id} on the new upstream")
    print(f"config change reached 2 nodes in {1000 * (time.monotonic() - t0):.0f} ms")


def test_serves_without_control_plane_and_restarts_from_cache(demo, dataplanes, cp):
    (n,) = dataplanes(1)
    n.wait_ready()
    n.wait_revision(demo)
    assert cp.stop() == 0
    assert get(f"{n.url}/demo/prod/hello").status_code == 200
    assert n.stop() == 0
    n.start()
    wait_until(lambda: get(f"{n.url}/demo/prod/hello").status_code == 200, 10,
               what="serving from the cached snapshot with the control plane down")
