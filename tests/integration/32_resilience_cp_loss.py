"""The control plane goes away (SIGKILL): nodes keep serving; a node restarted while it is down
serves from its cache; when it comes back (same address), nodes reconnect and take new
revisions."""

import time

import pytest

from conftest import wait_until
from dp_helpers import deploy, get, pin_port, ready_nodes, up_factory  # noqa: F401


@pytest.fixture
def site(edgectl, admin, pb, up_factory, dataplanes):
    a, b = up_factory("a"), up_factory("b")
    edgectl("upstream", "create", "a", "--target", a.target)
    edgectl("upstream", "create", "b", "--target", b.target)
    edgectl("api", "create", "res")
    edgectl("route", "create", "res", "--method", "GET", "--path", "/x", "--upstream", "a")
    rev = deploy(edgectl, admin, pb, "res")
    nodes = ready_nodes(dataplanes(2), rev)
    return nodes, rev


def ok(n, path="/res/prod/x"):
    r = get(f"{n.url}{path}")
    return r.status_code == 200


@pytest.mark.slow
def test_nodes_survive_cp_sigkill_and_reconnect(site, cp, edgectl, admin, pb, measure):
    nodes, rev = site
    pin_port(cp)
    cp.kill()
    assert not cp.proc.alive()
    # Keep serving, for a while, on both nodes.
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        for n in nodes:
            assert ok(n)
        time.sleep(0.1)
    for n in nodes:
        assert get(f"{n.admin_url}/live").status_code == 200
        assert int(n.config()["revision"]) == rev
    # A node restarted now has only its cache.
    n0 = nodes[0]
    assert n0.stop() == 0
    n0.start()  # (new ports; the same control-plane address, which is down)
    wait_until(lambda: ok(n0), 10, what="serving from the cache with the control plane down")
    assert int(n0.config()["revision"]) == rev
    # The control plane comes back on the same address: a new revision reaches both.
    cp.start()
    t0 = time.monotonic()
    edgectl("route", "create", "res", "--method", "GET", "--path", "/y", "--upstream", "b")
    rev2 = deploy(edgectl, admin, pb, "res")
    assert rev2 > rev
    for n in nodes:
        n.wait_revision(rev2, timeout=30)
        r = get(f"{n.url}/res/prod/y")
        assert r.status_code == 200 and r.headers["X-Upstream"] == "b"
    measure(f"both nodes back on the control plane and at revision {rev2} "
            f"{time.monotonic() - t0:.1f}s after its restart")


def test_cache_survives_node_restart_with_cp_up(site):
    nodes, rev = site
    n = nodes[1]
    assert n.stop() == 0
    assert any(n.cache_dir.iterdir()), "no snapshot cache written"
    n.start()
    n.wait_ready()
    n.wait_revision(rev)
    assert ok(n)
