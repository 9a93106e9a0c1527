"""edge-controlplane as a process: flags, start, token file, listen address, signals."""

import os
import re
import stat
import subprocess

import grpc

from conftest import CONTROLPLANE, require, sanitizer_report
from helpers import revision


def run_cp(*args, timeout=20):
    p = subprocess.run([require(CONTROLPLANE), *map(str, args)], capture_output=True,
                       text=True, timeout=timeout)
    assert not sanitizer_report(p.stderr), p.stderr
    return p


def test_version():
    p = run_cp("--version")
    assert p.returncode == 0, p
    assert re.search(r"\d+\.\d+\.\d+", p.stdout), p.stdout


def test_help():
    p = run_cp("--help")
    assert p.returncode == 0, p
    assert "usage" in p.stdout.lower()
    for flag in ("--db", "--listen", "--port-file", "--log-level", "--version"):
        assert flag in p.stdout, flag


def test_bad_usage_exits_2():
    assert run_cp("--no-such-flag").returncode == 2
    # --db is required
    p = run_cp("--listen", "127.0.0.1:0")
    assert p.returncode != 0
    assert "--db" in p.stderr


def test_start_logs_listening_and_writes_port_file(cp):
    log = cp.proc.log()
    assert f"listening on 127.0.0.1:{cp.port}" in log, log
    assert int(cp.port_file.read_text().strip()) == cp.port


def test_token_file_mode_and_content(cp):
    st = cp.token_path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert cp.token_path.parent == cp.db.parent
    tok = cp.token
    # Random, long enough to be a secret, printable on one line.
    assert len(tok) >= 32, tok
    assert re.fullmatch(r"[A-Za-z0-9._~+/=-]+", tok), tok
    # Its path is logged; the secret is not.
    log = cp.proc.log()
    assert str(cp.token_path) in log
    assert tok not in log


def test_token_is_random_per_database(cp_factory):
    a = cp_factory().start()
    b = cp_factory().start()
    assert a.token != b.token


def test_token_survives_restart(cp_factory, admin_factory, pb):
    c = cp_factory().start()
    tok = c.token
    assert c.stop() == 0
    c.start()
    assert c.token == tok
    a = admin_factory(c)
    a.GetStatus(pb.admin.GetStatusRequest())


def test_sigterm_exits_zero(cp):
    assert cp.stop() == 0


def test_sigterm_with_idle_admin_connection_is_prompt(cp, admin, pb):
    """--shutdown-grace-ms waits for calls in flight; an idle connection is not one."""
    import time
    admin.GetStatus(pb.admin.GetStatusRequest())
    t0 = time.monotonic()
    assert cp.stop() == 0
    took = time.monotonic() - t0
    assert took < 1.5, f"SIGTERM took {took:.2f}s with an idle client connected"


def test_sigterm_with_open_watch_exits_zero(cp, watch_factory):
    w = watch_factory("node-term")
    w.next(timeout=10)
    assert cp.stop() == 0
    assert w.done.wait(10), "the watch stream did not end when the control plane stopped"


def test_status(cp, admin, pb):
    st = admin.GetStatus(pb.admin.GetStatusRequest())
    assert re.search(r"\d+\.\d+\.\d+", st.version)
    assert st.store_id
    assert st.started_at > 0
    assert os.path.realpath(st.db_path) == os.path.realpath(str(cp.db))
    assert (st.apis, st.routes, st.upstreams) == (0, 0, 0)


def test_store_id_stable_across_restarts(cp, admin_factory, pb):
    a = admin_factory(cp)
    sid = a.GetStatus(pb.admin.GetStatusRequest()).store_id
    a.CreateApi(pb.res.Api(name="keep"))
    rev = revision(a)
    assert cp.stop() == 0
    cp.start()
    b = admin_factory(cp)
    st = b.GetStatus(pb.admin.GetStatusRequest())
    assert st.store_id == sid
    assert st.revision == rev
    assert b.GetApi(pb.admin.GetApiRequest(name="keep")).name == "keep"


def test_non_loopback_without_tls_refuses_to_start(cp_factory):
    c = cp_factory(extra_args=())
    p = subprocess.run([require(CONTROLPLANE), "--db", str(c.db), "--listen", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode != 0
    assert "tls" in p.stderr.lower(), p.stderr


def test_port_in_use_fails_cleanly(cp, cp_factory):
    other = cp_factory()
    p = subprocess.run([require(CONTROLPLANE), "--db", str(other.db), "--listen", cp.addr],
                       capture_output=True, text=True, timeout=5)
    assert p.returncode != 0
    assert p.stderr.strip(), "no message on stderr"
    # The first one is unaffected.
    with grpc.insecure_channel(cp.addr) as ch:
        grpc.channel_ready_future(ch).result(timeout=5)
