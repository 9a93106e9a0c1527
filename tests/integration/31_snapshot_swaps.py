"""Snapshots: a route change reaches both nodes; 100 snapshot swaps while a bounded wrk load
runs lose no request (with the ASan build, no leak: the fixtures check sanitizer reports)."""

import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import wait_until
from dp_helpers import deploy, get, metric, ready_nodes, revision, up_factory  # noqa: F401


@pytest.fixture
def site(edgectl, admin, pb, up_factory, dataplanes):
    a, b = up_factory("a"), up_factory("b")
    edgectl("upstream", "create", "a", "--target", a.target)
    edgectl("upstream", "create", "b", "--target", b.target)
    edgectl("api", "create", "s")
    edgectl("route", "create", "s", "--method", "GET", "--path", "/thing", "--upstream", "a")
    rev = deploy(edgectl, admin, pb, "s")
    nodes = ready_nodes(dataplanes(2, workers=2), rev)
    return nodes, a, b


def test_route_change_visible_on_both_nodes(site, edgectl, admin, pb, measure):
    nodes, a, b = site
    for n in nodes:
        assert get(f"{n.url}/s/prod/thing").headers["X-Upstream"] == "a"
        assert get(f"{n.url}/s/prod/other").status_code == 404
    edgectl("route", "create", "s", "--method", "GET", "--path", "/other", "--upstream", "b")
    t0 = time.monotonic()
    rev = deploy(edgectl, admin, pb, "s")
    for n in nodes:
        n.wait_revision(rev, timeout=10)
        r = get(f"{n.url}/s/prod/other")
        assert r.status_code == 200 and r.headers["X-Upstream"] == "b"
        assert int(n.config()["revision"]) == rev
    measure(f"route change on 2 nodes in {1000 * (time.monotonic() - t0):.0f} ms")


def _wrk_summary(out):
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    reqs = re.search(r"(\d+) requests in", out)
    return (int(non2xx.group(1)) if non2xx else 0,
            tuple(int(x) for x in sock.groups()) if sock else (0, 0, 0, 0),
            int(reqs.group(1)) if reqs else 0)


@pytest.mark.slow
def test_100_swaps_under_load(site, admin, pb, measure):
    if not shutil.which("wrk"):
        pytest.fail("wrk is not installed")
    nodes, a, b = site
    n = nodes[0]
    before = metric(get(f"{n.admin_url}/metrics").text, "edge_config_applied_total") or 0
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d10s", "--timeout", "5s",
                            f"{n.url}/s/prod/thing"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.5)
        targets = {"a": a, "b": b}
        t0 = time.monotonic()
        swaps = 0
        # Each swap moves upstream "a" to the other server's port: a new revision, a new
        # snapshot, and pooled upstream connections that must not be reused across it.
        while swaps < 100 and time.monotonic() - t0 < 8.5:
            dst = targets["b" if swaps % 2 == 0 else "a"]
            admin.UpdateUpstream(pb.res.Upstream(
                name="a", targets=[pb.res.Target(host="127.0.0.1", port=dst.port)]))
            swaps += 1
            time.sleep(0.02)
        last = revision(admin, pb)
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait(5)
    n.wait_revision(last, timeout=10)
    nodes[1].wait_revision(last, timeout=10)
    after = metric(get(f"{n.admin_url}/metrics").text, "edge_config_applied_total") or 0
    non2xx, sock, total = _wrk_summary(out)
    measure(f"{swaps} upstream swaps in {time.monotonic() - t0:.1f}s, node applied "
            f"{after - before:.0f} snapshots; wrk: {total} requests, non-2xx {non2xx}, "
            f"socket errors {sock}")
    assert swaps >= 100, f"only {swaps} swaps in the time bound"
    assert total > 0, out
    assert non2xx == 0 and sock == (0, 0, 0, 0), out
    assert after - before >= 20, "the node did not apply the swaps"
    # Both servers served (the swaps did take effect).
    assert a.requests and b.requests


def test_swaps_with_inflight_requests(site, admin, pb, up_factory):
    """A request in flight across a swap completes on the snapshot it started with."""
    nodes, a, b = site
    n = nodes[0]
    res = {}

    def slow():
        res["r"] = get(f"{n.url}/s/prod/thing?sleep_ms=800", timeout=10)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    for i in range(5):
        dst = b if i % 2 == 0 else a
        admin.UpdateUpstream(pb.res.Upstream(
            name="a", targets=[pb.res.Target(host="127.0.0.1", port=dst.port)]))
    rev = revision(admin, pb)
    n.wait_revision(rev)
    t.join(10)
    assert res["r"].status_code == 200 and res["r"].headers["X-Upstream"] == "a"
    wait_until(lambda: get(f"{n.url}/s/prod/thing").headers["X-Upstream"] == "b", 5,
               what="the last swap serving")
