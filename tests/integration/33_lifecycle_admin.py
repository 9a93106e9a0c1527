"""A node's lifecycle and its admin port: SIGTERM drain (the slow request in flight completes,
new connections are refused, exit 0), /live, /ready, /metrics, /config, and the JSON access
log (--access-log)."""

import json
import os
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import wait_until
from dp_helpers import (connect, deploy, get, metric, ready_nodes,
                        up_factory)  # noqa: F401


@pytest.fixture
def site(edgectl, admin, pb, up_factory):
    up = up_factory("up")
    edgectl("upstream", "create", "up", "--target", up.target)
    edgectl("api", "create", "lc")
    edgectl("route", "create", "lc", "--method", "ANY", "--path", "/{p+}", "--upstream", "up")
    edgectl("route", "create", "lc", "--method", "GET", "--path", "/only-get", "--upstream", "up")
    rev = deploy(edgectl, admin, pb, "lc")
    return up, rev


def test_sigterm_drains(site, dataplanes, measure):
    up, rev = site
    (n,) = ready_nodes(dataplanes(1, workers=2, extra_args=["--drain-timeout-ms", "8000"]), rev)
    res = {}

    def slow():
        try:
            res["r"] = requests.get(f"{n.url}/lc/prod/slow?sleep_ms=1500", timeout=10)
        except Exception as e:  # noqa: BLE001
            res["e"] = e

    idle = connect(n.port)  # an idle keep-alive connection: closed at once by the drain
    t = threading.Thread(target=slow)
    t.start()
    wait_until(lambda: any("slow" in q["path"] for q in up.requests), 5,
               what="the slow request at the upstream")
    t0 = time.monotonic()
    os.kill(n.proc.pid, signal.SIGTERM)
    # /ready turns 503 (load balancers stop sending), /live stays up while draining.
    wait_until(lambda: get(f"{n.admin_url}/ready").status_code == 503, 2, what="/ready 503")
    # New connections are refused (or closed without an answer).
    refused = False
    try:
        with socket.create_connection(("127.0.0.1", n.port), timeout=2) as s:
            s.sendall(b"GET /lc/prod/x HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(2)
            refused = s.recv(100) == b""
    except (ConnectionRefusedError, ConnectionResetError):
        refused = True
    assert refused, "a new connection was served during the drain"
    idle.settimeout(3)
    try:
        assert idle.recv(100) == b""
    except ConnectionResetError:
        pass
    idle.close()
    t.join(10)
    assert "r" in res, res.get("e")
    assert res["r"].status_code == 200
    rc = n.proc.popen.wait(10)
    dt = time.monotonic() - t0
    assert rc == 0, n.proc.log()[-2000:]
    assert dt < 5, f"drain took {dt:.1f}s"
    measure(f"drain with one 1.5 s request in flight: exit 0 after {dt:.2f}s")


def test_admin_endpoints(site, dataplanes):
    up, rev = site
    (n,) = ready_nodes(dataplanes(1, workers=2), rev)
    assert get(f"{n.admin_url}/live").status_code == 200
    r = get(f"{n.admin_url}/ready")
    assert r.status_code == 200
    assert requests.head(f"{n.admin_url}/live", timeout=5).status_code == 200
    assert get(f"{n.admin_url}/nope").status_code == 404
    assert requests.post(f"{n.admin_url}/live", timeout=5).status_code == 405
    for i in range(5):
        assert get(f"{n.url}/lc/prod/m/{i}").status_code == 200
    assert get(f"{n.url}/lc/prod/only-get", headers={}).status_code == 200
    assert get(f"{n.url}/nope/x/y").status_code == 404
    cfg = n.config()
    assert int(cfg["revision"]) == rev
    assert cfg["loaded"] is True and cfg["apis"] == 1 and cfg["routes"] == 2
    assert cfg["upstreams"] == 1 and cfg["stages"] == 1 and cfg["workers"] == 2
    assert cfg["node_id"] == n.node_id and cfg["control_plane_connected"] is True
    assert cfg["last_error"] == "" and cfg["store_id"]
    m = get(f"{n.admin_url}/metrics")
    assert m.status_code == 200 and m.headers["Content-Type"].startswith("text/plain")
    t = m.text
    for name in ("edge_requests_total", "edge_request_duration_seconds_bucket",
                 "edge_active_connections", "edge_connections_total",
                 "edge_snapshot_revision", "edge_config_applied_total", "edge_workers"):
        assert metric(t, name) is not None, f"{name} missing from /metrics"
    assert metric(t, "edge_snapshot_revision") == rev
    assert metric(t, "edge_workers") == 2
    assert metric(t, "edge_requests_total") >= 7
    assert metric(t, "edge_requests_total", {"code_class": "2xx"}) >= 6
    assert metric(t, "edge_requests_total", {"route": "", "code_class": "4xx"}) >= 1
    assert metric(t, "edge_request_duration_seconds_count") >= 7
    # Every # TYPE line names a metric family that has samples.
    for ln in t.splitlines():
        assert ln.startswith("#") or len(ln.rsplit(" ", 1)) == 2, ln


def test_not_ready_without_any_configuration(tmp_path):
    """No control plane reachable and no cache: live, not ready, and requests get 503."""
    from conftest import DataPlane, check_sanitizers
    from dp_helpers import refused_target

    class NoCp:
        addr = refused_target()

    n = DataPlane(tmp_path / "lonely", NoCp(), "lonely")
    try:
        n.start()
        assert get(f"{n.admin_url}/live").status_code == 200
        r = get(f"{n.admin_url}/ready")
        assert r.status_code == 503 and "no configuration" in r.text
        assert n.config()["loaded"] is False
        r = get(f"{n.url}/a/b/c")
        assert r.status_code == 503 and "message" in r.json()
    finally:
        assert n.stop() == 0
    check_sanitizers([n.proc])


def test_access_log_json_lines(site, dataplanes, tmp_path):
    up, rev = site
    log = tmp_path / "access.log"
    (n,) = ready_nodes(dataplanes(1, extra_args=["--access-log", str(log)]), rev)
    get(f"{n.url}/lc/prod/a?q=1", headers={"X-Request-Id": "rid-1"})
    requests.post(f"{n.url}/lc/prod/b", data=b"12345", timeout=5)
    get(f"{n.url}/nope/prod/c")
    get(f"{n.url}/lc/prod/we\"ird")

    def lines():
        if not log.exists():
            return None
        ls = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        return ls if len(ls) >= 4 else None

    ls = wait_until(lines, 5, what="4 access log lines")
    a, b, c, d = ls[:4]
    assert a["method"] == "GET" and a["path"] == "/lc/prod/a?q=1" and a["status"] == 200
    assert a["request_id"] == "rid-1" and a["upstream"] == "up" and a["route"]
    assert a["client"] == "127.0.0.1" and a["bytes"] > 0 and a["duration_ms"] >= 0
    assert b["method"] == "POST" and b["status"] == 200
    assert c["status"] == 404 and c["upstream"] == ""
    assert d["status"] == 200 and "ird" in d["path"]
    for x in ls:
        assert isinstance(x["time"], (int, float)) and x["request_id"]


def test_access_log_escapes_client_text(site, dataplanes, tmp_path):
    up, rev = site
    log = tmp_path / "access.log"
    (n,) = ready_nodes(dataplanes(1, extra_args=["--access-log", str(log)]), rev)
    rid = 'a"b\\c'
    get(f"{n.url}/lc/prod/x", headers={"X-Request-Id": rid})

    def line():
        if not log.exists():
            return None
        t = log.read_text().splitlines()
        return t[0] if t else None

    ln = wait_until(line, 5, what="an access log line")
    doc = json.loads(ln)  # client text must not break the JSON line
    assert doc["request_id"] == rid
