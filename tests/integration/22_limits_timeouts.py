"""Every limit and timeout of the data plane: 414, 431 (count and bytes), 413 (route and node
default), 408 on the header, body and idle timeouts, upstream connect/response timeouts (504),
refused (502), no target (503)."""

import socket
import threading
import time

import pytest
import requests

from dp_helpers import (BlackHole, connect, deploy, one_response, parse_responses,  # noqa: F401
                        raw, read_responses, read_until_close, ready_nodes, refused_target,
                        up_factory)

FLAGS = ["--header-timeout-ms", "400", "--idle-timeout-ms", "400", "--body-timeout-ms", "400",
         "--max-body-bytes", "1000"]


@pytest.fixture
def site(edgectl, admin, pb, up_factory, dataplanes):
    up = up_factory("up")
    edgectl("upstream", "create", "up", "--target", up.target)
    edgectl("api", "create", "t")
    edgectl("route", "create", "t", "--method", "ANY", "--path", "/{proxy+}", "--upstream", "up")
    edgectl("route", "create", "t", "--method", "POST", "--path", "/small",
            "--upstream", "up", "--max-body-bytes", "100")
    edgectl("route", "create", "t", "--method", "POST", "--path", "/bigup/{p+}",
            "--upstream", "up", "--upstream-path", "/{p}", "--max-body-bytes", "100000000")
    edgectl("route", "create", "t", "--method", "POST", "--path", "/quickup/{p+}",
            "--upstream", "up", "--upstream-path", "/{p}", "--max-body-bytes", "100000000",
            "--timeout-ms", "600")
    edgectl("route", "create", "t", "--method", "GET", "--path", "/quick/{x}",
            "--upstream", "up", "--timeout-ms", "300")
    rev = deploy(edgectl, admin, pb, "t")
    (n,) = ready_nodes(dataplanes(1, extra_args=FLAGS), rev)
    return n, up


def head(path=b"/t/prod/x", extra=b""):
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def test_414_uri_too_long(site):
    n, up = site
    r = one_response(n.port, head(b"/t/prod/" + b"a" * 9000))
    assert r.status == 414
    assert not up.requests
    assert one_response(n.port, head(b"/t/prod/" + b"a" * 7000,
                                     b"Connection: close\r\n")).status == 200


def test_431_too_many_headers(site):
    n, up = site
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(101))
    assert one_response(n.port, head(extra=many)).status == 431
    ok = b"".join(b"X-H%d: v\r\n" % i for i in range(90))
    assert one_response(n.port, head(extra=ok + b"Connection: close\r\n")).status == 200
    assert len(up.requests) == 1


def test_431_header_bytes(site):
    n, up = site
    assert one_response(n.port, head(extra=b"X-Big: " + b"v" * 20000 + b"\r\n")).status == 431
    assert not up.requests


def test_413_route_limit(site):
    n, up = site
    r = one_response(n.port, b"POST /t/prod/small HTTP/1.1\r\nHost: x\r\nContent-Length: 101"
                             b"\r\n\r\n" + b"a" * 101)
    assert r.status == 413
    r = one_response(n.port, b"POST /t/prod/small HTTP/1.1\r\nHost: x\r\nContent-Length: 100"
                             b"\r\nConnection: close\r\n\r\n" + b"a" * 100)
    assert r.status == 200
    # Chunked: the limit is found while streaming.
    r = one_response(n.port, b"POST /t/prod/small HTTP/1.1\r\nHost: x\r\n"
                             b"Transfer-Encoding: chunked\r\n\r\n" +
                     b"40\r\n" + b"a" * 64 + b"\r\n" + b"40\r\n" + b"a" * 64 + b"\r\n0\r\n\r\n")
    assert r.status == 413


def test_413_node_default(site):
    n, up = site
    r = one_response(n.port, b"POST /t/prod/any HTTP/1.1\r\nHost: x\r\nContent-Length: 1001"
                             b"\r\n\r\n" + b"a" * 1001)
    assert r.status == 413
    r = one_response(n.port, b"POST /t/prod/any HTTP/1.1\r\nHost: x\r\nContent-Length: 1000"
                             b"\r\nConnection: close\r\n\r\n" + b"a" * 1000)
    assert r.status == 200


def test_408_header_timeout(site):
    n, up = site
    with connect(n.port) as s:
        s.sendall(b"GET /t/prod/x HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        out = read_until_close(s, timeout=5)
        dt = time.monotonic() - t0
    assert out.startswith(b"HTTP/1.1 408"), out
    assert 0.2 < dt < 3, dt
    assert not up.requests


def test_idle_timeout_closes_silently(site):
    n, up = site
    with connect(n.port) as s:
        t0 = time.monotonic()
        out = read_until_close(s, timeout=5)
        dt = time.monotonic() - t0
    assert out == b"" and 0.2 < dt < 3, (out, dt)
    # After a keep-alive exchange too.
    with connect(n.port) as s:
        s.sendall(head())
        s.settimeout(5)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        rest = read_until_close(s, timeout=5)
        dt = time.monotonic() - t0
    assert 0.2 < dt < 3, dt
    assert b"HTTP/" not in rest


def test_408_body_timeout(site):
    n, up = site
    with connect(n.port) as s:
        s.sendall(b"POST /t/prod/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        out = read_until_close(s, timeout=5)
    assert out.startswith(b"HTTP/1.1 408"), out


def test_504_response_timeout(site):
    n, up = site
    t0 = time.monotonic()
    r = one_response(n.port, head(b"/t/prod/quick/a?sleep_ms=1500", b"Connection: close\r\n"))
    assert r.status == 504, r
    assert time.monotonic() - t0 < 1.4


def test_504_connect_timeout(edgectl, admin, pb, dataplanes):
    bh = BlackHole()
    try:
        edgectl("upstream", "create", "hole", "--target", bh.target, "--connect-timeout-ms", "300")
        edgectl("api", "create", "h")
        edgectl("route", "create", "h", "--method", "GET", "--path", "/x", "--upstream", "hole")
        rev = deploy(edgectl, admin, pb, "h")
        (n,) = ready_nodes(dataplanes(1), rev)
        t0 = time.monotonic()
        r = one_response(n.port, b"GET /h/prod/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        dt = time.monotonic() - t0
        assert r.status == 504, r
        assert "connect" in r.json()["message"]
        assert dt < 2.5, dt
    finally:
        bh.close()


def test_502_refused_and_503_no_target(edgectl, admin, pb, dataplanes):
    edgectl("upstream", "create", "dead", "--target", refused_target())
    # No usable target: a name that never resolves (RFC 2606 .invalid) leaves none.
    edgectl("upstream", "create", "empty", "--target", "no-such-host.invalid:80")
    edgectl("api", "create", "d")
    edgectl("route", "create", "d", "--method", "GET", "--path", "/x", "--upstream", "dead")
    edgectl("route", "create", "d", "--method", "GET", "--path", "/none", "--upstream", "empty")
    rev = deploy(edgectl, admin, pb, "d")
    (n,) = ready_nodes(dataplanes(1), rev)
    r = one_response(n.port, b"GET /d/prod/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 502, r
    assert "message" in r.json()
    r = one_response(n.port, b"GET /d/prod/none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.status == 503, r


def test_error_keeps_connection_when_safe(site):
    n, up = site
    # A 404 for a bodiless request leaves the connection usable.
    rs = parse_responses(raw(n.port, head(b"/nope/prod/x") + head(b"/t/prod/y",
                                                                  b"Connection: close\r\n")))
    assert [r.status for r in rs] == [404, 200]


def test_slow_upstream_reader_is_not_a_client_body_timeout(site):
    """The body timeout (400 ms here) measures the client's silence: while the upstream does
    not take the bytes already read, the node stops reading the client, and that wait is not
    the client's fault (the upstream's response timeout governs it)."""
    n, up = site
    body = b"u" * (32 << 20)
    r = requests.post(f"{n.url}/t/prod/bigup/slowread?pause_ms=1200", data=body, timeout=20,
                      headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    assert r.json()["body_len"] == len(body)


def test_upstream_that_stops_reading_the_body_is_504(site):
    n, up = site
    total = 64 << 20
    s = connect(n.port, timeout=10)
    s.sendall(b"POST /t/prod/quickup/slowread?pause_ms=4000 HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: %d\r\n\r\n" % total)

    def send():
        block = b"s" * 65536
        try:
            for _ in range(total // len(block)):
                s.sendall(block)
        except OSError:
            pass

    t = threading.Thread(target=send, daemon=True)
    t.start()
    t0 = time.monotonic()
    rs, _ = read_responses(s, 1, timeout=8)
    dt = time.monotonic() - t0
    s.close()
    t.join(5)
    assert rs and rs[0].status == 504, rs
    assert dt < 4, f"answered after {dt:.1f}s"


def test_header_timeout_is_not_reset_by_a_trickle(site):
    """Slowloris: one byte every 100 ms keeps the connection busy but the head must still be
    complete within the header timeout (400 ms)."""
    n, up = site
    data = b"GET /t/prod/x HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100
    with connect(n.port) as s:
        t0 = time.monotonic()
        out = b""
        s.settimeout(0.1)
        for ch in data:
            try:
                s.sendall(bytes([ch]))
            except OSError:
                break
            try:
                out += s.recv(4096)
                if out:
                    break
            except socket.timeout:
                pass
            if time.monotonic() - t0 > 5:
                break
        dt = time.monotonic() - t0
        out += read_until_close(s, timeout=2)
    assert out.startswith(b"HTTP/1.1 408"), out
    assert dt < 1.5, dt
    assert not up.requests
