"""The upstream side's edge cases, from a scripted raw-socket upstream: close-delimited, 204,
304 and HEAD responses, stale pooled connections, 1xx, invalid or smuggling responses (502),
resets mid-body, and clients that go away mid-response."""

import socket
import threading
import time

import pytest

from dp_helpers import (connect, deploy, exchange, get, parse_responses, raw, read_responses,
                        read_until_close, ready_nodes)


class RawUpstream:
    """Answers each request with script(path, method) -> (bytes, close_after: bool | float).

    close_after True closes right after writing; a float closes that many seconds later
    (a keep-alive connection the server drops while it is idle in the node's pool)."""

    def __init__(self, script):
        self.script = script
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.requests = []
        self.conns = 0
        self._stop = False
        self.t = threading.Thread(target=self._accept, daemon=True)
        self.t.start()

    @property
    def target(self):
        return f"127.0.0.1:{self.ls.getsockname()[1]}"

    def _accept(self):
        self.ls.settimeout(0.2)
        while not self._stop:
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10)
        buf = b""
        try:
            while not self._stop:
                while b"\r\n\r\n" not in buf:
                    b = c.recv(65536)
                    if not b:
                        return
                    buf += b
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                hdrs = {ln.split(":", 1)[0].strip().lower(): ln.split(":", 1)[1].strip()
                        for ln in lines[1:] if ":" in ln}
                n = int(hdrs.get("content-length", "0"))
                while len(buf) < n:
                    buf += c.recv(65536)
                buf = buf[n:]
                self.requests.append((method, path))
                out, close_after = self.script(path, method)
                if callable(out):
                    out(c)
                else:
                    c.sendall(out)
                if close_after is True:
                    return
                if close_after:
                    time.sleep(close_after)
                    return
        except (OSError, ValueError):
            return
        finally:
            c.close()

    def stop(self):
        self._stop = True
        self.ls.close()


def script(path, method):
    p = path.split("?")[0]
    if p == "/close-delimited":
        return b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", True
    if p == "/http10":
        return b"HTTP/1.0 200 OK\r\n\r\nold server", True
    if p == "/204":
        return b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n", False
    if p == "/304":
        return b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 99\r\n\r\n", False
    if p == "/head":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n" + (
            b"" if method == "HEAD" else b"0123456789"), False
    if p == "/drop-idle":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0.05
    if p == "/continue":
        return (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
                b"done"), False
    if p == "/garbage":
        return b"NOT HTTP AT ALL\r\n\r\n", True
    if p == "/cl-te":
        return (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"0\r\n\r\n"), True
    if p == "/two-cl":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nokxyz", True
    if p == "/big-head":
        return b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 20000 + b"\r\nContent-Length: 0\r\n\r\n", True
    if p == "/truncated":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"t" * 1000, True
    if p == "/truncated-chunked":
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", True
    if p == "/upstream-close":
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", True
    if p == "/slow-big":
        def send(c):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 20000000\r\n\r\n")
            try:
                for _ in range(200):
                    c.sendall(b"s" * 100000)
            except OSError:
                pass
        return send, True
    return b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ndefault", False


@pytest.fixture
def site(edgectl, admin, pb, dataplanes):
    up = RawUpstream(script)
    edgectl("upstream", "create", "raw", "--target", up.target, "--timeout-ms", "3000")
    edgectl("api", "create", "e")
    edgectl("route", "create", "e", "--method", "ANY", "--path", "/{p+}", "--upstream", "raw")
    edgectl("route", "create", "e", "--method", "GET", "--path", "/short/{x}", "--upstream", "raw",
            "--upstream-path", "/{x}", "--timeout-ms", "700")
    rev = deploy(edgectl, admin, pb, "e")
    (n,) = ready_nodes(dataplanes(1), rev)
    yield n, up
    up.stop()


def req(path, method=b"GET", extra=b""):
    return method + b" /e/prod" + path + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n"


def test_close_delimited_and_http10_responses(site):
    n, up = site
    for path, body in ((b"/close-delimited", b"until the end"), (b"/http10", b"old server")):
        rs, _ = exchange(n.port, req(path) + req(b"/after", extra=b"Connection: close\r\n"), 2)
        assert rs[0].status == 200 and rs[0].body == body, rs
        # Re-framed (chunked) for a 1.1 client, so the client connection lives on.
        assert len(rs) == 2 and rs[1].body == b"default", rs


def test_204_304_head_keep_the_connection_in_sync(site):
    n, up = site
    data = (req(b"/204") + req(b"/304") + req(b"/head", b"HEAD") + req(b"/head") +
            req(b"/x", extra=b"Connection: close\r\n"))
    rs = parse_responses(raw(n.port, data), head_requests=(2,))
    assert [r.status for r in rs] == [204, 304, 200, 200, 200], rs
    assert rs[0].body == b"" and rs[1].body == b"" and rs[2].body == b""
    assert rs[2].header("Content-Length") == "10"
    assert rs[3].body == b"0123456789" and rs[4].body == b"default"


def test_stale_pooled_connection_is_retried(site):
    n, up = site
    for i in range(3):
        r = get(f"{n.url}/e/prod/drop-idle")
        assert r.status_code == 200 and r.text == "ok"
        time.sleep(0.2)  # the upstream closed its side of the pooled connection meanwhile
    assert up.conns >= 3


def test_1xx_from_upstream(site):
    n, up = site
    r = get(f"{n.url}/e/prod/continue")
    assert r.status_code == 200 and r.text == "done"


@pytest.mark.parametrize("path", ["/garbage", "/cl-te", "/two-cl", "/big-head"])
def test_invalid_upstream_response_is_502(site, path):
    n, up = site
    rs, closed = exchange(n.port, req(path.encode()))
    assert rs and rs[0].status == 502, rs
    assert b"okxyz" not in rs[0].body
    # The node is fine afterwards.
    assert get(f"{n.url}/e/prod/x").text == "default"


@pytest.mark.parametrize("path", ["/truncated", "/truncated-chunked"])
def test_truncated_upstream_body_closes_the_client(site, path):
    n, up = site
    with connect(n.port) as s:
        s.sendall(req(path.encode()))
        t0 = time.monotonic()
        out = read_until_close(s, timeout=8)
        dt = time.monotonic() - t0
    assert out.startswith(b"HTTP/1.1 200"), out[:200]
    assert dt < 5, f"the client was left hanging {dt:.1f}s"
    if path == "/truncated-chunked":
        assert not out.endswith(b"0\r\n\r\n"), "a truncated body was completed"
    assert get(f"{n.url}/e/prod/x").text == "default"


def test_upstream_connection_close_does_not_close_client(site):
    n, up = site
    rs, closed = exchange(n.port, req(b"/upstream-close") + req(b"/x"), 2)
    assert [r.status for r in rs] == [200, 200] and rs[0].body == b"bye", rs


def test_client_gone_mid_response(site):
    n, up = site
    for _ in range(3):
        s = connect(n.port)
        s.sendall(req(b"/slow-big"))
        s.recv(1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
    time.sleep(0.3)
    assert get(f"{n.url}/e/prod/x").text == "default"
    m = get(f"{n.admin_url}/metrics").text
    assert "edge_active_connections" in m


def test_slow_client_is_not_an_upstream_timeout(site):
    """The response timeout (3 s here) measures the upstream's silence, not a client that reads
    slowly: while the node holds unsent bytes for the client it does not read the upstream,
    and that wait is not the upstream's fault."""
    n, up = site
    with connect(n.port, timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.sendall(req(b"/slow-big", extra=b"Connection: close\r\n"))
        first = s.recv(1000)
        assert first.startswith(b"HTTP/1.1 200"), first
        time.sleep(4.0)  # longer than the response timeout, with every buffer full
        got = len(first) + len(read_until_close(s, timeout=20, limit=1 << 26))
    assert got > 20000000, f"response cut after {got} bytes"


def test_client_that_never_reads_is_dropped(site):
    n, up = site
    with connect(n.port, timeout=10) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        s.sendall(req(b"/short/slow-big", extra=b"Connection: close\r\n"))
        assert s.recv(1000).startswith(b"HTTP/1.1 200")
        time.sleep(3.0)  # more than two response timeouts without reading a byte
        t0 = time.monotonic()
        got = len(read_until_close(s, timeout=10, limit=1 << 26))
        assert time.monotonic() - t0 < 5
    assert got < 20000000, "a client that stopped reading kept its exchange open"
    assert get(f"{n.url}/e/prod/x").text == "default"


def head_with_body(path, method):
    """A broken upstream: a body after the head of a HEAD response, then keep-alive."""
    p = path.split("?")[0]
    if p == "/bad-head":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!", False
    if p == "/extra":
        return (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n"
                b"Content-Length: 5\r\n\r\nEVIL!"), False
    return b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood", False


@pytest.mark.parametrize("first", [b"HEAD /e/prod/bad-head", b"GET /e/prod/extra"])
def test_bytes_beyond_a_response_never_answer_the_next_request(edgectl, admin, pb, dataplanes,
                                                              first):
    up = RawUpstream(head_with_body)
    try:
        edgectl("upstream", "create", "raw", "--target", up.target)
        edgectl("api", "create", "e")
        edgectl("route", "create", "e", "--method", "ANY", "--path", "/{p+}", "--upstream", "raw")
        rev = deploy(edgectl, admin, pb, "e")
        (n,) = ready_nodes(dataplanes(1), rev)
        rs, _ = exchange(n.port, first + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                         head_requests=(0,) if first.startswith(b"HEAD") else ())
        assert rs and rs[0].status == 200
        time.sleep(0.1)
        for _ in range(3):
            r = get(f"{n.url}/e/prod/next")
            assert r.status_code == 200 and r.text == "good", (r.status_code, r.text)
    finally:
        up.stop()


def test_client_half_close_still_gets_the_answer(site):
    n, up = site
    with connect(n.port) as s:
        s.sendall(req(b"/x") + req(b"/y"))
        s.shutdown(socket.SHUT_WR)
        out = read_until_close(s, timeout=5)
    rs = parse_responses(out)
    assert [r.body for r in rs] == [b"default", b"default"], out[:300]


class EarlyAnswer:
    """Answers 413 as soon as it has a request head, without reading the body, then closes."""

    def __init__(self):
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    @property
    def target(self):
        return f"127.0.0.1:{self.ls.getsockname()[1]}"

    def _run(self):
        try:
            while True:
                c, _ = self.ls.accept()
                c.settimeout(5)
                buf = b""
                while b"\r\n\r\n" not in buf:
                    b = c.recv(65536)
                    if not b:
                        break
                    buf += b
                c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n"
                          b"Connection: close\r\n\r\nnope")
                time.sleep(0.2)
                c.close()
        except OSError:
            return

    def stop(self):
        self.ls.close()


def test_early_upstream_answer_reaches_the_client(edgectl, admin, pb, dataplanes):
    up = EarlyAnswer()
    try:
        edgectl("upstream", "create", "early", "--target", up.target)
        edgectl("api", "create", "e")
        edgectl("route", "create", "e", "--method", "POST", "--path", "/up", "--upstream", "early")
        edgectl("route", "create", "e", "--method", "GET", "--path", "/ping", "--upstream",
                "early")
        rev = deploy(edgectl, admin, pb, "e")
        (n,) = ready_nodes(dataplanes(1), rev)
        total = 4 << 20
        s = connect(n.port, timeout=10)
        s.sendall(b"POST /e/prod/up HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)

        def send():
            try:
                for _ in range(total // 65536):
                    s.sendall(b"b" * 65536)
            except OSError:
                pass

        t = threading.Thread(target=send, daemon=True)
        t.start()
        rs, closed = read_responses(s, 1, timeout=8)
        t.join(10)
        s.close()
        assert rs and rs[0].status == 413 and rs[0].body == b"nope", rs
    finally:
        up.stop()


def test_pooled_connection_closed_by_the_upstream_is_not_used_for_a_post(site):
    n, up = site
    import requests
    for i in range(3):
        r = requests.post(f"{n.url}/e/prod/drop-idle", data=b"payload", timeout=5)
        assert r.status_code == 200 and r.text == "ok", (i, r.status_code, r.text)
        time.sleep(0.2)  # the upstream closes its idle side meanwhile: the pool must notice
