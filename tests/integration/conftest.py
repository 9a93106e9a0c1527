"""Fixtures for Edge's integration tests: the real binaries on ephemeral loopback ports.

Every process a fixture starts is stopped by PID at teardown (SIGTERM, then SIGKILL after a
timeout) and its stderr goes to a file whose tail is attached to the report of a failing test.
A test that needs a binary that is not built is skipped, with the path in the reason; nothing
else skips.

EDGE_BUILD names the build directory (default: build/ at the repository root; a relative path is
taken relative to the repository root, so the suite runs from any working directory).
"""

import atexit
import http.server
import json
import os
import queue
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _build_dir():
    b = Path(os.environ.get("EDGE_BUILD", "build"))
    if not b.is_absolute():
        b = REPO / b
    return b


BUILD = _build_dir()
CONTROLPLANE = BUILD / "controlplane" / "edge-controlplane"
EDGECTL = BUILD / "cli" / "edgectl"
DATAPLANE = BUILD / "dataplane" / "edge-dataplane"

# Sanitizer builds: gRPC's c-ares leaks a few bytes by design (see ../shared/lsan-grpc.supp);
# tests/run.sh sets these, this makes a hand-run pytest against build-asan/ behave the same.
_SUPP = REPO.parent / "shared" / "lsan-grpc.supp"
if _SUPP.is_file():
    os.environ.setdefault("LSAN_OPTIONS", f"suppressions={_SUPP}:print_suppressions=0")
os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")

START_TIMEOUT_S = 20.0 if "asan" in BUILD.name else 10.0
STOP_TIMEOUT_S = 10.0


def require(binary):
    """Skips the calling test when binary is not built (and only then)."""
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.skip(f"{binary.name} is not built: {binary} is missing")
    return str(binary)


_handed_out_ports = set()


def free_port():
    """A port that is free now and that no other caller in this session got.

    Binding port 0 twice can return the same port once the first socket is closed, and the
    kernel hands ports of its ephemeral range to outgoing connections at any moment. So pick
    below that range (32768+ on Linux), check that the port binds, and never repeat one."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    for _ in range(1000):
        port = rng.randrange(12000, 32000)
        if port in _handed_out_ports:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out_ports.add(port)
        return port
    raise RuntimeError("no free port found in 12000-32000")


class ProcessDied(RuntimeError):
    """Raised by a wait_until predicate: stop waiting, the process is gone."""


def wait_until(pred, timeout, interval=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except ProcessDied:
            raise
        except Exception as e:  # the thing we wait for may raise until it is ready
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")


def sanitizer_report(text):
    """The first line of an ASan/LSan/UBSan report in text, or None."""
    for line in text.splitlines():
        if any(m in line for m in SANITIZER_MARKS):
            return line
    return None


def check_sanitizers(procs):
    """Fails the test (at teardown) when a process it started printed a sanitizer report."""
    bad = [(p.name, sanitizer_report(p.log())) for p in procs]
    bad = [b for b in bad if b[1]]
    if bad:
        pytest.fail("sanitizer report: " + "; ".join(f"{n}: {line}" for n, line in bad))


# --------------------------------------------------------------------------------------------
# Process bookkeeping: every Proc is registered so that the session can never leak one.

_ALL_PROCS = []


class Proc:
    """A started binary. stderr (and stdout) go to log_path."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self.env = env
        self.popen = None

    def start(self):
        assert self.popen is None or self.popen.poll() is not None
        self._log = open(self.log_path, "ab")
        self._log.write(f"==== start: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=self.env,
                                      start_new_session=True)
        _ALL_PROCS.append(self)
        return self

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _reap(self, timeout):
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM, then SIGKILL after timeout. Returns the exit status (negative: signal)."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self._reap(timeout) is None:
                self.kill()
        self._close_log()
        return self.popen.returncode

    def kill(self):
        if self.popen is not None and self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.popen.wait(STOP_TIMEOUT_S)
        self._close_log()
        return self.popen.returncode if self.popen else None

    def _close_log(self):
        log = getattr(self, "_log", None)
        if log is not None and not log.closed:
            log.close()


_MEASUREMENTS = []


@pytest.fixture
def measure(request):
    """measure(line): a measured figure, printed in the terminal summary of the run."""

    def add(line):
        _MEASUREMENTS.append(f"{request.node.nodeid}: {line}")
        print(line)

    return add


def pytest_terminal_summary(terminalreporter):
    if _MEASUREMENTS:
        terminalreporter.section("edge measurements")
        for line in _MEASUREMENTS:
            terminalreporter.write_line(line)


_TERMINATED = []


def _kill_all():
    for p in _ALL_PROCS:
        if p.alive():
            p.kill()


def pytest_configure(config):
    # The binaries run in their own sessions (a terminal's ^C must reach pytest first, not
    # them), so when `timeout` (tests/run.sh) SIGTERMs pytest, pytest must stop them: SIGTERM
    # becomes KeyboardInterrupt, which runs every fixture's teardown and writes the reports.
    # Only the first one counts: `timeout` signals both pytest and its process group, and a
    # second interrupt in the middle of the teardowns would leave processes behind.
    def on_term(signum, frame):
        if _TERMINATED:
            return
        _TERMINATED.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_term)
    atexit.register(_kill_all)


def pytest_sessionfinish(session, exitstatus):
    _kill_all()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    # After SIGTERM a gRPC call interrupted in the main thread can leave a channel whose
    # finalizer blocks forever at interpreter exit: the reports are written, so leave now.
    if _TERMINATED:
        _kill_all()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(128 + _TERMINATED[0])


# --------------------------------------------------------------------------------------------
# Logs of the processes a test started are attached to its report when it fails.

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for p in getattr(item, "_edge_procs", []):
            text = p.log()
            if len(text) > 20000:
                text = "...\n" + text[-20000:]
            rep.sections.append((f"{p.name} log ({p.log_path})", text))


def _track(request, proc):
    procs = getattr(request.node, "_edge_procs", None)
    if procs is None:
        procs = request.node._edge_procs = []
    if proc not in procs:
        procs.append(proc)


# --------------------------------------------------------------------------------------------
# Python gRPC stubs, generated once per session from the protos.

class _Pb:
    pass


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    out = tmp_path_factory.mktemp("pbgen")
    protos = sorted(str(p) for p in (REPO / "proto" / "edge" / "v1").glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", str(REPO / "proto"),
                    f"--python_out={out}", f"--grpc_python_out={out}", *protos],
                   check=True, cwd=REPO)
    sys.path.insert(0, str(out))
    import grpc  # noqa: F401  (fails here, clearly, if python3-grpcio is missing)
    from edge.v1 import (admin_pb2, admin_pb2_grpc, config_pb2, config_pb2_grpc,
                         resources_pb2)
    m = _Pb()
    m.admin = admin_pb2
    m.admin_grpc = admin_pb2_grpc
    m.config = config_pb2
    m.config_grpc = config_pb2_grpc
    m.res = resources_pb2
    return m


# --------------------------------------------------------------------------------------------
# The control plane.

class ControlPlane:
    """edge-controlplane on a DB in a temp dir, on an ephemeral 127.0.0.1 port.

    start() can be called again after stop()/kill() (same DB, new port)."""

    def __init__(self, workdir, db=None, extra_args=(), name="edge-controlplane"):
        self.dir = Path(workdir)
        self.db = Path(db) if db else self.dir / "edge.db"
        self.port_file = self.dir / f"{name}.port"
        self.token_path = Path(str(self.db) + ".token")
        self.extra_args = list(extra_args)
        self.proc = Proc(name, [], self.dir / f"{name}.log")
        self.port = None

    @property
    def addr(self):
        return f"127.0.0.1:{self.port}"

    @property
    def token(self):
        return self.token_path.read_text().strip()

    def argv(self):
        return [require(CONTROLPLANE), "--db", self.db, "--listen", "127.0.0.1:0",
                "--port-file", self.port_file, "--log-level", "debug", *self.extra_args]

    def start(self, wait=True):
        if self.port_file.exists():
            self.port_file.unlink()
        self.proc.argv = [str(a) for a in self.argv()]
        self.proc.start()
        if wait:
            self.wait_ready()
        return self

    def _read_port(self):
        if not self.proc.alive():
            raise ProcessDied(f"edge-controlplane exited with {self.proc.popen.returncode}")
        try:
            txt = self.port_file.read_text().strip()
            if txt:
                return int(txt)
        except (FileNotFoundError, ValueError):
            pass
        # Fallback: "listening on 127.0.0.1:PORT" in the log.
        # Only this run's lines: the log is appended to across restarts.
        for line in self.proc.log().rsplit("==== start:", 1)[-1].splitlines()[::-1]:
            if "listening on 127.0.0.1:" in line:
                tail = line.split("listening on 127.0.0.1:", 1)[1]
                digits = "".join(c for c in tail[:6] if c.isdigit())
                if digits and int(digits) != 0:
                    return int(digits)
        return None

    def wait_ready(self, timeout=START_TIMEOUT_S):
        self.port = wait_until(self._read_port, timeout, what="control plane port")
        wait_until(lambda: self.token_path.exists() and self.token_path.read_text().strip(),
                   timeout, what=f"token file {self.token_path}")
        import grpc
        with grpc.insecure_channel(self.addr) as ch:
            grpc.channel_ready_future(ch).result(timeout=timeout)
        return self

    def stop(self):
        return self.proc.stop()

    def kill(self):
        return self.proc.kill()


@pytest.fixture
def cp_factory(request, tmp_path):
    """Makes control planes (not started): cp_factory(workdir=None, **kw) -> ControlPlane."""
    made = []

    def make(workdir=None, **kw):
        d = Path(workdir) if workdir else tmp_path / f"cp{len(made)}"
        d.mkdir(parents=True, exist_ok=True)
        c = ControlPlane(d, **kw)
        made.append(c)
        _track(request, c.proc)
        return c

    yield make
    for c in made:
        c.stop()
    check_sanitizers([c.proc for c in made])


@pytest.fixture
def cp(cp_factory):
    """A running control plane on a fresh DB."""
    return cp_factory().start()


# --------------------------------------------------------------------------------------------
# edgectl

class CtlResult:
    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return (f"CtlResult(argv={self.argv!r}, rc={self.rc}, stdout={self.stdout[-2000:]!r}, "
                f"stderr={self.stderr[-2000:]!r})")


def run_edgectl(args, server=None, token_file=None, env=None, check=True, timeout=30,
                input=None):
    """Runs edgectl. check=True: rc must be 0; check=<int>: rc must be that; False: anything."""
    argv = [require(EDGECTL)]
    if server:
        argv += ["--server", server]
    if token_file:
        argv += ["--token-file", str(token_file)]
    argv += [str(a) for a in args]
    e = dict(os.environ)
    e.pop("EDGE_SERVER", None)
    e.pop("EDGE_TOKEN", None)
    if env:
        e.update(env)
    p = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout,
                       input=input)
    r = CtlResult(argv, p.returncode, p.stdout, p.stderr)
    assert not sanitizer_report(p.stderr), r
    if check is True:
        assert r.rc == 0, r
    elif check is not False:
        assert r.rc == check, r
    return r


@pytest.fixture
def edgectl(cp):
    """edgectl(*args, check=True, env=None) against the cp fixture (--server, --token-file)."""

    def run(*args, check=True, env=None, timeout=30, input=None):
        return run_edgectl(args, server=cp.addr, token_file=cp.token_path, env=env,
                           check=check, timeout=timeout, input=input)

    return run


# --------------------------------------------------------------------------------------------
# grpcio clients

class AdminClient:
    """The Admin stub with the bearer token on every call: admin.CreateApi(msg)."""

    def __init__(self, pb, addr, token, timeout=10.0):
        import grpc
        self.pb = pb
        self.channel = grpc.insecure_channel(addr, options=[
            ("grpc.max_send_message_length", 128 << 20),
            ("grpc.max_receive_message_length", 128 << 20)])
        self.stub = pb.admin_grpc.AdminStub(self.channel)
        self.token = token
        self.timeout = timeout

    def __getattr__(self, method):
        fn = getattr(self.stub, method)

        def call(req, token=None, metadata=None, timeout=None):
            md = list(metadata) if metadata is not None else []
            tok = self.token if token is None else token
            if tok is not False:
                md.append(("authorization", f"Bearer {tok}"))
            return fn(req, metadata=md, timeout=timeout or self.timeout)

        return call

    def close(self):
        self.channel.close()


@pytest.fixture
def admin_factory(pb, cp_factory):
    # (Depends on cp_factory so that its channels close before the control planes stop.)
    made = []

    def make(cp_, token=None):
        a = AdminClient(pb, cp_.addr, cp_.token if token is None else token)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


@pytest.fixture
def admin(admin_factory, cp):
    return admin_factory(cp)


class WatchClient:
    """A Config/Watch stream as a node would hold it: send Hello, read updates, ack them."""

    _END = object()

    def __init__(self, pb, addr, node_id, revision=0, store_id="", hello=True, metadata=()):
        import grpc
        self.pb = pb
        self.node_id = node_id
        self.channel = grpc.insecure_channel(addr, options=[
            ("grpc.max_receive_message_length", 128 << 20)])
        self.stub = pb.config_grpc.ConfigStub(self.channel)
        self._out = queue.Queue()
        self.updates = queue.Queue()
        self.received = []  # (ConfigUpdate, receive time_ns CLOCK_REALTIME)
        self.error = None
        self.done = threading.Event()
        self.call = self.stub.Watch(self._requests(), metadata=list(metadata))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if hello:
            self.hello(revision=revision, store_id=store_id)

    def _requests(self):
        while True:
            m = self._out.get()
            if m is self._END:
                return
            yield m

    def _read(self):
        try:
            for u in self.call:
                t = time.time_ns()
                self.received.append((u, t))
                self.updates.put(u)
        except Exception as e:  # grpc.RpcError on cancel or server end
            self.error = e
        finally:
            self.done.set()

    def hello(self, revision=0, store_id="", version="test", listeners=(), leases=False):
        h = self.pb.config.Hello(node_id=self.node_id, version=version, revision=revision,
                                 store_id=store_id, listeners=list(listeners), leases=leases)
        self._out.put(self.pb.config.NodeMessage(hello=h))

    def send(self, msg):
        """Any NodeMessage, as it is (hostile ones included)."""
        self._out.put(msg)

    def ack(self, revision, ok=True, error=""):
        a = self.pb.config.Ack(revision=revision, ok=ok, error=error)
        self._out.put(self.pb.config.NodeMessage(ack=a))

    def next(self, timeout=10.0):
        try:
            return self.updates.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"watch {self.node_id}: no update within {timeout}s "
                               f"(stream error: {self.error!r})") from None

    def next_after(self, revision, timeout=10.0):
        """The first update whose revision is above revision (skipping older ones)."""
        deadline = time.monotonic() + timeout
        while True:
            u = self.next(timeout=max(0.01, deadline - time.monotonic()))
            if u.revision > revision:
                return u

    def close(self):
        """Half-closes our side and cancels the call; returns once the reader ended."""
        self._out.put(self._END)
        self.call.cancel()
        self.done.wait(10)
        self.channel.close()


@pytest.fixture
def watch_factory(pb, cp):
    """watch_factory(node_id, revision=0, store_id="", cp_=cp) -> WatchClient."""
    made = []

    def make(node_id, cp_=None, **kw):
        w = WatchClient(pb, (cp_ or cp).addr, node_id, **kw)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


# --------------------------------------------------------------------------------------------
# A real upstream: threaded HTTP server that echoes the request as JSON.

class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EdgeTestEcho/1"
    # The head and body go out in separate writes: with Nagle on, each keep-alive exchange
    # waits for the proxy's delayed ACK (~40 ms).
    disable_nagle_algorithm = True

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.server.requests.append((self.command, self.path))
        doc = {"method": self.command, "path": self.path,
               "headers": {k: v for k, v in self.headers.items()},
               "body": body.decode("utf-8", "replace"), "upstream": self.server.name}
        out = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Upstream", self.server.name)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle

    def log_message(self, fmt, *args):
        pass


class EchoServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, name="echo"):
        super().__init__(("127.0.0.1", 0), _EchoHandler)
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
def echo_factory():
    made = []

    def make(name="echo"):
        s = EchoServer(name)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def upstream(echo_factory):
    return echo_factory("echo")


# --------------------------------------------------------------------------------------------
# Data planes against the cp fixture.

class DataPlane:
    def __init__(self, workdir, cp_, node_id, workers=1, extra_args=()):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cp = cp_
        self.node_id = node_id
        self.workers = workers
        self.cache_dir = self.dir / "cache"
        self.cache_dir.mkdir(exist_ok=True)
        self.extra_args = list(extra_args)
        self.port = None
        self.admin_port = None
        self.proc = Proc(f"edge-dataplane[{node_id}]", [], self.dir / "dataplane.log")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self):
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, wait=True):
        self.port = free_port()
        self.admin_port = free_port()
        self.proc.argv = [require(DATAPLANE), "--control-plane", self.cp.addr,
                          "--listen", f"127.0.0.1:{self.port}",
                          "--admin", f"127.0.0.1:{self.admin_port}",
                          "--cache-dir", str(self.cache_dir), "--node-id", self.node_id,
                          "--workers", str(self.workers), *self.extra_args]
        self.proc.start()
        if wait:
            self.wait_live()
        return self

    def _get(self, path):
        import requests
        return requests.get(self.admin_url + path, timeout=2)

    def wait_live(self, timeout=START_TIMEOUT_S):
        def live():
            if not self.proc.alive():
                raise ProcessDied(f"edge-dataplane exited with {self.proc.popen.returncode}")
            return self._get("/live").status_code == 200
        wait_until(live, timeout, interval=0.05, what=f"{self.node_id} /live")
        return self

    def wait_ready(self, timeout=START_TIMEOUT_S):
        wait_until(lambda: self._get("/ready").status_code == 200, timeout, interval=0.05,
                   what=f"{self.node_id} /ready")
        return self

    def config(self):
        return self._get("/config").json()

    def wait_revision(self, revision, timeout=START_TIMEOUT_S):
        """Waits until /config reports at least revision."""
        wait_until(lambda: int(self.config().get("revision", 0)) >= revision, timeout,
                   interval=0.05, what=f"{self.node_id} at revision {revision}")

    def stop(self):
        return self.proc.stop()

    def kill(self):
        return self.proc.kill()


@pytest.fixture
def dataplanes(request, cp, tmp_path):
    """dataplanes(n=1, workers=1, wait=True) -> [DataPlane], all against cp."""
    made = []

    def make(n=1, workers=1, wait=True, extra_args=()):
        out = []
        for _ in range(n):
            i = len(made)
            d = DataPlane(tmp_path / f"dp{i}", cp, f"node-{i}", workers=workers,
                          extra_args=extra_args)
            _track(request, d.proc)
            made.append(d)
            out.append(d.start(wait=False))
        if wait:
            for d in out:
                d.wait_live()
        return out

    yield make
    for d in made:
        d.stop()
    check_sanitizers([d.proc for d in made])
