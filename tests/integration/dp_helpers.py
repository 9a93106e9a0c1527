"""Helpers for the data-plane integration tests (21_* .. 33_*): raw sockets, a response parser,
a scriptable upstream and a one-call setup of an API on the control plane.

Only 127.0.0.1, every wait bounded."""

import http.server
import json
import os
import socket
import socketserver
import threading
import time
import urllib.parse

import pytest
import requests

from conftest import wait_until


# ---- raw sockets ----------------------------------------------------------------------------

def connect(port, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_close(s, timeout=5.0, limit=1 << 24):
    """Everything the peer sends until it closes (or timeout: then what came so far)."""
    s.settimeout(timeout)
    out = bytearray()
    deadline = time.monotonic() + timeout
    while len(out) < limit and time.monotonic() < deadline:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not b:
            break
        out += b
    return bytes(out)


def raw(port, data, timeout=5.0):
    """Sends data, half-closes nothing, reads until the server closes or timeout."""
    with connect(port, timeout) as s:
        s.sendall(data)
        return read_until_close(s, timeout)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def headers_named(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Response({self.status}, {self.headers!r}, {self.body[:200]!r})"


def parse_responses(data, head_requests=()):
    """Splits a byte stream into HTTP/1.x responses (Content-Length, chunked or close)."""
    out = []
    pos = 0
    i = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        if end < 0:
            raise ValueError(f"incomplete head at {pos}: {data[pos:pos + 200]!r}")
        lines = data[pos:end].decode("latin-1").split("\r\n")
        ver, code, *reason = lines[0].split(" ", 2)
        assert ver.startswith("HTTP/1."), lines[0]
        hdrs = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hdrs.append((k.strip(), v.strip()))
        r = Response(int(code), reason[0] if reason else "", hdrs, b"")
        pos = end + 4
        if r.status in (204, 304) or 100 <= r.status < 200 or i in head_requests:
            pass
        elif r.header("Transfer-Encoding", "").lower() == "chunked":
            body = bytearray()
            while True:
                le = data.index(b"\r\n", pos)
                n = int(data[pos:le].split(b";")[0], 16)
                pos = le + 2
                if n == 0:
                    te = data.index(b"\r\n\r\n", pos - 2)
                    pos = te + 4
                    break
                body += data[pos:pos + n]
                pos += n + 2
            r.body = bytes(body)
        elif r.header("Content-Length") is not None:
            n = int(r.header("Content-Length"))
            if len(data) < pos + n:
                raise ValueError(f"incomplete body at {pos}")
            r.body = data[pos:pos + n]
            pos += n
        else:
            r.body = data[pos:]
            pos = len(data)
        if not (100 <= r.status < 200):
            i += 1
        out.append(r)
    return out


def read_responses(s, count=1, timeout=5.0, head_requests=()):
    """Reads from s until count complete responses (or close, or timeout): (responses, closed).
    closed is True when the peer closed right after them (checked for a short moment)."""
    s.settimeout(timeout)
    buf = bytearray()
    deadline = time.monotonic() + timeout
    closed = False
    rs = []
    while time.monotonic() < deadline:
        try:
            rs = [r for r in parse_responses(bytes(buf), head_requests) if r.status >= 200]
            if len(rs) >= count:
                break
        except (ValueError, IndexError):
            pass
        try:
            b = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not b:
            closed = True
            break
        buf += b
    try:
        rs = parse_responses(bytes(buf), head_requests)
    except (ValueError, IndexError):
        pass
    if not closed:
        s.settimeout(0.3)
        try:
            closed = s.recv(1) == b""
        except socket.timeout:
            closed = False
        except ConnectionResetError:
            closed = True
    return rs, closed


def one_response(port, data, timeout=5.0):
    """Sends data on a new connection and returns the first response (without waiting for a
    close)."""
    with connect(port, timeout) as s:
        s.sendall(data)
        rs, _ = read_responses(s, 1, timeout)
    assert rs, "no response"
    return rs[0]


def exchange(port, data, count=1, timeout=5.0, head_requests=()):
    """(responses, closed) for data sent on a new connection."""
    with connect(port, timeout) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return read_responses(s, count, timeout, head_requests)


# ---- a scriptable upstream ------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EdgeTestUp/1"
    # Head and body go out in two writes: with Nagle on, the body waits for the ACK of the
    # head, which the node delays (40 ms a request on a pooled connection).
    disable_nagle_algorithm = True

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                ln = self.rfile.readline()
                n = int(ln.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _handle(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path.endswith("/slowread") and self.headers.get("Content-Length"):
            # Reads a bit, stops for pause_ms, then reads the rest: a slow upstream reader.
            n = int(self.headers["Content-Length"])
            first = self.rfile.read(min(n, 256 * 1024))
            time.sleep(int(q.get("pause_ms", "1000")) / 1000.0)
            body = first + self.rfile.read(n - len(first))
        else:
            body = self._body()
        srv = self.server
        srv.requests.append({"method": self.command, "path": self.path,
                             "headers": [(k, v) for k, v in self.headers.items()],
                             "body_len": len(body)})
        tail = u.path.rsplit("/", 1)[-1]
        if "sleep_ms" in q:
            time.sleep(int(q["sleep_ms"]) / 1000.0)
        if tail == "stream":  # ?bytes=N: a chunked body made on the fly
            total = int(q.get("bytes", "1048576"))
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b"x" * 65536
            left = total
            try:
                while left > 0:
                    n = min(left, len(block))
                    self.wfile.write(b"%x\r\n" % n + block[:n] + b"\r\n")
                    left -= n
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            return
        if tail == "chunked":  # a chunked response of several chunks
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("X-Upstream", srv.name)
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        doc = {"method": self.command, "path": self.path,
               "headers": {k: v for k, v in self.headers.items()},
               "header_list": [(k, v) for k, v in self.headers.items()],
               "body_len": len(body), "body": body[:4096].decode("utf-8", "replace"),
               "upstream": srv.name}
        out = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Upstream", srv.name)
        if tail == "hop":  # hop-by-hop response headers the proxy must strip
            self.send_header("Connection", "X-Secret-Hop")
            self.send_header("X-Secret-Hop", "1")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("Proxy-Authenticate", "Basic")
            self.send_header("Upgrade", "foo")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    def log_message(self, fmt, *args):
        pass


class Upstream(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, name="up"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.name = name
        self.requests = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.server_address[1]

    @property
    def target(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.shutdown()
        self.server_close()


@pytest.fixture
def up_factory():
    made = []

    def make(name="up"):
        u = Upstream(name)
        made.append(u)
        return u

    yield make
    for u in made:
        u.stop()


class BlackHole:
    """A listening socket whose accept queue is full: a connect to it never completes."""

    def __init__(self):
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(0)
        self.fill = []
        for _ in range(4):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(self.ls.getsockname())
            except BlockingIOError:
                pass
            self.fill.append(c)
        time.sleep(0.05)

    @property
    def target(self):
        return f"127.0.0.1:{self.ls.getsockname()[1]}"

    def close(self):
        for c in self.fill:
            c.close()
        self.ls.close()


def refused_target():
    """host:port on which nothing listens (bound then closed, never listened on)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


# ---- control plane setup ---------------------------------------------------------------------

def revision(admin, pb):
    return admin.GetStatus(pb.admin.GetStatusRequest()).revision


def deploy(edgectl, admin, pb, api, stage="prod"):
    edgectl("deploy", api, "--stage", stage)
    return revision(admin, pb)


def ready_nodes(nodes, rev):
    for n in nodes:
        n.wait_ready()
        n.wait_revision(rev)
    return nodes


def get(url, **kw):
    kw.setdefault("timeout", 5)
    return requests.get(url, **kw)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def metric(text, name, labels=None):
    """Sum of the samples of metric name (optionally those whose labels contain labels)."""
    total = 0.0
    found = False
    for ln in text.splitlines():
        if ln.startswith("#") or not ln.startswith(name):
            continue
        key, _, val = ln.rpartition(" ")
        if key != name and not key.startswith(name + "{"):
            continue
        if labels and not all(f'{k}="{v}"' in key for k, v in labels.items()):
            continue
        total += float(val)
        found = True
    return total if found else None


def is_asan():
    return "asan" in os.environ.get("EDGE_BUILD", "")


def wait_for(pred, timeout, what):
    return wait_until(pred, timeout, interval=0.05, what=what)


def pin_port(cp_):
    """Makes the next cp_.start() listen on the port it has now (nodes know that address)."""
    port = cp_.port
    orig = cp_.argv

    def argv():
        return [f"127.0.0.1:{port}" if a == "127.0.0.1:0" else a for a in orig()]

    cp_.argv = argv
