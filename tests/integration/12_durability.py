"""Durability of the store: SIGKILL in the middle of a stream of writes loses no acknowledged
write and leaves a sound database; bad database files and directories fail the start with a
clear message; SIGTERM exits 0."""

import os
import shutil
import sqlite3
import subprocess
import threading
import time

import grpc
import pytest

from conftest import CONTROLPLANE, AdminClient, require, sanitizer_report


class Writer(threading.Thread):
    """Creates APIs (and an upstream plus a route every 10th) as fast as the server acks them,
    recording each acknowledged one, until stopped, the server dies, or limits are hit."""

    def __init__(self, pb, cp, prefix, max_writes=5000, max_s=20.0):
        super().__init__(daemon=True)
        self.pb, self.cp, self.prefix = pb, cp, prefix
        self.max_writes, self.max_s = max_writes, max_s
        self.acked_apis, self.acked_upstreams, self.acked_routes = [], [], 0
        self.error = None
        self.stop_flag = threading.Event()

    def run(self):
        pb = self.pb
        a = AdminClient(pb, self.cp.addr, self.cp.token, timeout=5)
        deadline = time.monotonic() + self.max_s
        try:
            for i in range(self.max_writes):
                if self.stop_flag.is_set() or time.monotonic() > deadline:
                    break
                name = f"{self.prefix}{i}"
                a.CreateApi(pb.res.Api(name=name, description=f"write {i}"))
                self.acked_apis.append(name)
                if i % 10 == 0:
                    up = f"{name}-up"
                    a.CreateUpstream(pb.res.Upstream(name=up, targets=[
                        pb.res.Target(host="127.0.0.1", port=1000 + i % 60000)]))
                    self.acked_upstreams.append(up)
                    a.CreateRoute(pb.res.Route(api=name, method="GET", path=f"/r{i}",
                                               integration=pb.res.Integration(upstream=up)))
                    self.acked_routes += 1
        except grpc.RpcError as e:
            self.error = e
        finally:
            a.close()


def integrity_of_copy(db, tmp_path):
    """PRAGMA integrity_check on a copy of the DB and its WAL (the original stays untouched)."""
    copy = tmp_path / "copy"
    copy.mkdir(exist_ok=True)
    dst = copy / db.name
    for suffix in ("", "-wal"):
        src = str(db) + suffix
        if os.path.exists(src):
            shutil.copyfile(src, str(dst) + suffix)
    con = sqlite3.connect(str(dst))
    try:
        res = con.execute("PRAGMA integrity_check").fetchall()
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        con.close()
    return res, fk, mode


def wait_for_writes(w, n, timeout=20):
    deadline = time.monotonic() + timeout
    while len(w.acked_apis) < n and w.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(w.acked_apis) >= n, f"only {len(w.acked_apis)} writes acked ({w.error!r})"


def check_all_present(admin, pb, w):
    names = {a.name for a in admin.ListApis(pb.admin.ListApisRequest(), timeout=30).apis}
    missing = [n for n in w.acked_apis if n not in names]
    assert not missing, f"{len(missing)} acknowledged APIs lost, e.g. {missing[:5]}"
    ups = {u.name for u in admin.ListUpstreams(pb.admin.ListUpstreamsRequest()).upstreams}
    missing = [n for n in w.acked_upstreams if n not in ups]
    assert not missing, f"{len(missing)} acknowledged upstreams lost, e.g. {missing[:5]}"


@pytest.mark.parametrize("round_", range(3))
def test_sigkill_mid_writes_loses_no_acknowledged_write(cp, pb, admin_factory, tmp_path,
                                                        round_):
    w = Writer(pb, cp, f"k{round_}-")
    w.start()
    wait_for_writes(w, 50 + 40 * round_)
    cp.kill()
    w.join(15)
    assert not w.is_alive()
    assert w.error is not None, "the writer never saw the server die"
    res, fk, mode = integrity_of_copy(cp.db, tmp_path)
    assert res == [("ok",)], res
    assert fk == [], fk
    assert mode.lower() == "wal"

    cp.start()
    a = admin_factory(cp)
    check_all_present(a, pb, w)
    st = a.GetStatus(pb.admin.GetStatusRequest())
    # One revision per acknowledged write (a kill can land between an upstream and its route).
    assert st.revision >= len(w.acked_apis) + len(w.acked_upstreams) + w.acked_routes
    # The store still takes writes and the revision keeps counting from where it was.
    a.CreateApi(pb.res.Api(name="after-restart"))
    assert a.GetStatus(pb.admin.GetStatusRequest()).revision == st.revision + 1


def test_sigterm_mid_writes_exits_zero_and_keeps_everything(cp, pb, admin_factory, tmp_path):
    w = Writer(pb, cp, "t-")
    w.start()
    wait_for_writes(w, 100)
    assert cp.stop() == 0
    w.join(15)
    res, fk, _ = integrity_of_copy(cp.db, tmp_path)
    assert res == [("ok",)] and fk == []
    cp.start()
    check_all_present(admin_factory(cp), pb, w)


def test_sigterm_idle_exits_zero(cp):
    assert cp.stop() == 0
    assert "listening" in cp.proc.log()


# -- bad files and directories ---------------------------------------------------------------

def start_expect_failure(db, timeout=20):
    p = subprocess.run([require(CONTROLPLANE), "--db", str(db), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode != 0, f"started on {db}: {p!r}"
    assert p.returncode != -11 and p.returncode != -6, f"crashed: {p.returncode} {p.stderr}"
    assert p.stderr.strip(), "no message on stderr"
    assert not sanitizer_report(p.stderr), p.stderr
    return p


def test_not_a_database_file(tmp_path):
    db = tmp_path / "edge.db"
    db.write_bytes(b"this is a text file, not a SQLite database\n" * 200)
    p = start_expect_failure(db)
    assert str(db) in p.stderr or "database" in p.stderr.lower(), p.stderr
    # The file is left as it was.
    assert db.read_bytes().startswith(b"this is a text file")


def test_corrupt_database_file(cp, pb, admin, tmp_path):
    for i in range(30):
        admin.CreateApi(pb.res.Api(name=f"c{i}", description="x" * 500))
    assert cp.stop() == 0
    db = cp.db
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(db) + suffix):
            os.unlink(str(db) + suffix)
    data = bytearray(db.read_bytes())
    assert data.startswith(b"SQLite format 3\0")
    # Keep the 100-byte header, destroy the schema page and the pages after it.
    page = int.from_bytes(data[16:18], "big") or 65536
    for off in range(100, min(len(data), 4 * page)):
        data[off] = 0xA5
    db.write_bytes(bytes(data))
    p = start_expect_failure(db)
    msg = p.stderr.lower()
    assert "corrupt" in msg or "malformed" in msg or "not a database" in msg, p.stderr


def test_truncated_database_file(cp, pb, admin):
    for i in range(30):
        admin.CreateApi(pb.res.Api(name=f"c{i}", description="x" * 1000))
    assert cp.stop() == 0
    db = cp.db
    for suffix in ("-wal", "-shm"):
        if os.path.exists(str(db) + suffix):
            os.unlink(str(db) + suffix)
    data = db.read_bytes()
    db.write_bytes(data[:len(data) // 3 + 7])
    # Either refuses to start, or starts and reports every read cleanly; it must not crash.
    p = subprocess.Popen([require(CONTROLPLANE), "--db", str(db), "--listen", "127.0.0.1:0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        rc = p.wait(5)
        assert rc not in (-11, -6) and rc != 0, rc
    except subprocess.TimeoutExpired:
        pytest.fail("edge-controlplane started on a truncated database without noticing")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_database_is_a_directory(tmp_path):
    db = tmp_path / "edge.db"
    db.mkdir()
    start_expect_failure(db)


def test_missing_parent_directory(tmp_path):
    p = start_expect_failure(tmp_path / "no" / "such" / "dir" / "edge.db")
    assert "no/such/dir" in p.stderr or "no such" in p.stderr.lower(), p.stderr


def test_parent_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    start_expect_failure(f / "edge.db")


def test_unwritable_directory(tmp_path):
    if os.geteuid() == 0:
        # root ignores mode bits; /proc refuses new files to everyone.
        d = "/proc"
    else:
        d = tmp_path / "ro"
        d.mkdir()
        d.chmod(0o555)
    try:
        p = start_expect_failure(os.path.join(str(d), "edge-test.db"))
        assert "edge-test.db" in p.stderr or "permission" in p.stderr.lower() or \
            "read-only" in p.stderr.lower(), p.stderr
    finally:
        if os.geteuid() != 0:
            os.chmod(d, 0o755)


def test_token_file_unwritable(tmp_path):
    db = tmp_path / "edge.db"
    (tmp_path / "edge.db.token").mkdir()  # the token path is taken by a directory
    p = start_expect_failure(db)
    assert "token" in p.stderr.lower(), p.stderr
