#!/usr/bin/python3
"""API keys at scale: revocation latency, data-plane memory per key, full-snapshot cost.

Runs the real binaries from EDGE_BUILD (default: build/ at the repo root): one
edge-controlplane (SQLite in a temp dir), two edge-dataplane nodes, and tests/bench/backend.c
as the upstream. The benchmark route requires an API key; every key is in one usage plan
(throttle 1,000,000/s, quota 1,000,000,000/day) that covers the stage.

  1. configure with edgectl, start both nodes, wait until both serve the probe key; sample
     VmRSS of each node (and of the control plane): "before".
  2. load --keys N keys (default 1,000,000). There is no bulk Admin RPC (edgectl and the Admin
     service create keys one by one), so the default loader (--load sqlite) stops the control
     plane, inserts the rows into its SQLite file in one transaction (the tables and triggers
     of controlplane/store/schema.c, created by the control plane itself; one revision and one
     audit row, as the store's own bulk insert does) and starts it again on the same port.
     --load rpc instead calls Admin.CreateApiKey with --rpc-concurrency calls in flight (one
     committed transaction each: slow for a million). The output says which loader ran.
  3. wait until both nodes hold the new revision and serve a sample of the loaded keys; VmRSS
     again: "after"; (after - before) / N is the resident memory per key.
  4. --revokes R times each: revoke one loaded key (a) with `edgectl key revoke NAME` (the
     clock starts before the process is spawned) and (b) with one Admin.DeleteApiKey call
     through grpcio; a poller per node sends the key on a keep-alive connection (~1 ms apart)
     until the node refuses it (401/403). Revocation latency = the later of the two nodes.
  5. full snapshot: a fake node opens Config/Watch and times Hello -> first (full) update,
     and its size; once on the running control plane (configuration in memory, snapshot
     packed on demand) and once after a restart of the control plane (loaded from SQLite).

Every wait is bounded, the whole run by --timeout; every process started here is stopped by
PID at exit (finally + atexit + SIGTERM/SIGINT handlers).

  tests/bench/keys_scale.py [--keys N] [--revokes R] [--load sqlite|rpc] [--json PATH]
                            [--timeout S] [--keep-tmp] [--build DIR]
"""
import argparse
import atexit
import base64
import hashlib
import http.client
import json
import os
import queue
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pbgen import gen_stubs  # noqa: E402
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
PATH = '/bench/prod/hello'
PLAN = 'bench'
NAME_FMT = 'bench-%07d'

PROCS = []  # every Popen started here, stopped in reverse order at exit
DEADLINE = [float('inf')]


def log(msg):
    print('[keys %s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


class Timeout(Exception):
    pass


def check_deadline(what):
    if time.monotonic() > DEADLINE[0]:
        raise Timeout('run time limit (--timeout) reached while ' + what)


def stop(p, grace=10.0):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=5)
    if p in PROCS:
        PROCS.remove(p)


def stop_all():
    for p in reversed(list(PROCS)):
        try:
            stop(p, grace=5.0)
        except Exception:  # noqa: BLE001 - best effort at exit, keep stopping the others
            pass


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def start(tmp, name, argv):
    logf = open(os.path.join(tmp, name + '.log'), 'w')
    p = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    logf.close()
    PROCS.append(p)
    return p


USED_PORTS = set()


def free_port():
    while True:
        s = socket.socket()
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
        s.close()
        if port not in USED_PORTS:
            USED_PORTS.add(port)
            return port


def wait_listen(port, timeout, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=0.5).close()
            return True
        except OSError:
            if proc is not None and proc.poll() is not None:
                return False
            time.sleep(0.02)
    return False


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def secret_of(seed, i):
    """The secret of loaded key i: 'ekb_' + 43 base64url characters, as the generated ones."""
    d = hashlib.sha256(b'%s:%d' % (seed, i)).digest()
    return 'ekb_' + base64.urlsafe_b64encode(d).decode().rstrip('=')


def http_status(port, secret, timeout=2.0):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.request('GET', PATH, headers={'x-api-key': secret} if secret else {})
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        c.close()


def node_config(admin_port):
    c = http.client.HTTPConnection('127.0.0.1', admin_port, timeout=2)
    try:
        c.request('GET', '/config')
        return json.loads(c.getresponse().read())
    except (OSError, http.client.HTTPException, ValueError):
        return {}
    finally:
        c.close()


class ControlPlane:
    def __init__(self, build, tmp, port):
        self.bin = os.path.join(build, 'controlplane/edge-controlplane')
        self.edgectl_bin = os.path.join(build, 'cli/edgectl')
        self.tmp = tmp
        self.db = os.path.join(tmp, 'edge.db')
        self.port = port
        self.target = '127.0.0.1:%d' % port
        self.proc = None
        self.starts = 0
        self.token = None

    def start(self):
        self.starts += 1
        t0 = time.monotonic()
        self.proc = start(self.tmp, 'cp-%d' % self.starts,
                          [self.bin, '--db', self.db, '--listen', self.target,
                           '--log-level', 'debug'])
        if not wait_listen(self.port, 120, self.proc):
            raise RuntimeError('edge-controlplane did not listen (see %s/cp-%d.log)'
                               % (self.tmp, self.starts))
        took = time.monotonic() - t0
        tok = self.db + '.token'
        for _ in range(100):
            if os.path.exists(tok) and os.path.getsize(tok):
                break
            time.sleep(0.05)
        self.token = open(tok).read().strip()
        return took

    def stop(self):
        stop(self.proc, grace=30)

    def edgectl_argv(self, *args):
        return [self.edgectl_bin, '--server', self.target, '--token-file', self.db + '.token',
                *args]

    def edgectl(self, *args):
        r = subprocess.run(self.edgectl_argv(*args), capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError('edgectl %s: %s' % (' '.join(args), r.stderr.strip()))
        return r.stdout

    def log_lines(self):
        with open(os.path.join(self.tmp, 'cp-%d.log' % self.starts)) as f:
            return f.read().splitlines()


def load_sqlite(cp, n, seed):
    """Stops the control plane, inserts n keys into its database, starts it again."""
    log('stopping the control plane to load %d keys into its SQLite file' % n)
    cp.stop()
    t0 = time.monotonic()
    con = sqlite3.connect(cp.db, isolation_level=None, timeout=30)
    try:
        con.execute('PRAGMA foreign_keys = ON')
        con.execute('BEGIN IMMEDIATE')
        (plan_id,) = con.execute('SELECT id FROM usage_plans WHERE name = ?', (PLAN,)).fetchone()
        now = int(time.time())
        base = random.getrandbits(48)

        def key_id(i):
            return 'k-%012x' % ((base + i) & 0xFFFFFFFFFFFF)

        def rows():
            for i in range(n):
                s = secret_of(seed, i)
                yield (key_id(i), NAME_FMT % i, s[:8], hashlib.sha256(s.encode()).digest(), now)
        con.executemany('INSERT INTO api_keys (id, name, prefix, secret_sha256, enabled,'
                        ' expires_at, created_at, last_used_at) VALUES (?, ?, ?, ?, 1, 0, ?, 0)',
                        rows())
        con.executemany('INSERT INTO plan_keys (plan_id, key_id) VALUES (?, ?)',
                        ((plan_id, key_id(i)) for i in range(n)))
        con.execute('UPDATE meta SET revision = revision + 1 WHERE id = 1')
        (rev,) = con.execute('SELECT revision FROM meta WHERE id = 1').fetchone()
        con.execute('INSERT INTO audit (revision, at, actor, action, object_type, object_id)'
                    ' VALUES (?, ?, ?, ?, ?, ?)',
                    (rev, now, 'keys_scale.py', 'create', 'key', 'bulk:%d' % n))
        con.execute('COMMIT')
    finally:
        con.close()
    write_s = time.monotonic() - t0
    log('%d keys written in %.1f s (revision %d); starting the control plane' % (n, write_s, rev))
    open_s = cp.start()
    return {'loader': 'sqlite: rows inserted into the stopped control plane\'s database',
            'write_s': round(write_s, 2), 'cp_restart_to_listen_s': round(open_s, 2),
            'revision': rev, 'db_bytes': os.path.getsize(cp.db)}


def load_rpc(cp, admin, pb, md, n, seed, concurrency):
    admin_pb2, R = pb
    log('creating %d keys with Admin.CreateApiKey, %d in flight' % (n, concurrency))

    def create(i):
        s = secret_of(seed, i)
        admin.CreateApiKey(admin_pb2.CreateApiKeyRequest(
            key=R.ApiKey(name=NAME_FMT % i, plans=[PLAN]), value=s), metadata=md, timeout=60)

    t0 = time.monotonic()
    done = 0
    with ThreadPoolExecutor(max_workers=concurrency) as ex:
        for chunk in range(0, n, 10000):
            check_deadline('creating keys')
            list(ex.map(create, range(chunk, min(n, chunk + 10000))))
            done = min(n, chunk + 10000)
            if done % 100000 == 0:
                log('  %d keys, %.0f/s' % (done, done / (time.monotonic() - t0)))
    took = time.monotonic() - t0
    rev = admin.GetStatus(admin_pb2.GetStatusRequest(), metadata=md).revision
    return {'loader': 'rpc: Admin.CreateApiKey x %d, %d in flight' % (n, concurrency),
            'write_s': round(took, 2), 'creates_per_s': round(n / took, 1), 'revision': rev,
            'db_bytes': os.path.getsize(cp.db)}


def wait_nodes(nodes, revision, secrets, timeout):
    """Until every node holds >= revision and answers 200 for every secret; seconds taken."""
    t0 = time.monotonic()
    end = t0 + timeout
    pending = list(nodes)
    while pending:
        check_deadline('waiting for the nodes')
        if time.monotonic() > end:
            raise RuntimeError('nodes %s did not reach revision %d in %d s'
                               % ([x['name'] for x in pending], revision, timeout))
        for nd in list(pending):
            if nd['proc'].poll() is not None:
                raise RuntimeError('%s exited (see its log)' % nd['name'])
            if node_config(nd['admin']).get('revision', 0) >= revision and all(
                    http_status(nd['port'], s) == 200 for s in secrets):
                pending.remove(nd)
        if pending:
            time.sleep(0.05)
    return time.monotonic() - t0


class Poller(threading.Thread):
    """Sends the key to one node on one keep-alive connection until the node refuses it."""

    def __init__(self, port, secret, go, limit_s):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
        self.secret, self.go, self.limit_s = secret, go, limit_s
        self.refused_at = None
        self.status = None
        self.polls = 0
        if self.request() != 200:
            raise RuntimeError('key not accepted before its revoke (status %s)' % self.status)

    def request(self):
        self.conn.request('GET', PATH, headers={'x-api-key': self.secret})
        r = self.conn.getresponse()
        r.read()
        self.status = r.status
        return r.status

    def run(self):
        try:
            self.go.wait(10)
            end = time.perf_counter() + self.limit_s
            while time.perf_counter() < end:
                st = self.request()
                self.polls += 1
                if st in (401, 403):
                    self.refused_at = time.perf_counter()
                    return
                time.sleep(0.0005)
        except (OSError, http.client.HTTPException) as e:
            self.status = 'error: %s' % e
        finally:
            self.conn.close()


def revoke_once(nodes, secret, action, limit_s=10.0):
    go = threading.Event()
    pollers = [Poller(nd['port'], secret, go, limit_s) for nd in nodes]
    for p in pollers:
        p.start()
    t0 = time.perf_counter()
    go.set()
    action()
    t_done = time.perf_counter()
    for p in pollers:
        p.join(limit_s + 5)
    if any(p.refused_at is None for p in pollers):
        raise RuntimeError('a node still accepted a revoked key after %.0f s (last status %s)'
                           % (limit_s, [p.status for p in pollers]))
    per_node = [(p.refused_at - t0) * 1e3 for p in pollers]
    return {'all_nodes_ms': max(per_node), 'per_node_ms': per_node,
            'command_ms': (t_done - t0) * 1e3, 'polls': [p.polls for p in pollers]}


# Own subchannels: gRPC Python otherwise shares connections between channels to one target,
# and one to a control plane that was restarted on the same port fails the next call.
GRPC_OPTS = [('grpc.max_receive_message_length', -1), ('grpc.use_local_subchannel_pool', 1)]


def snapshot_probe(config_pb2, target, node_id, attempts=3):
    import grpc
    for i in range(attempts):
        try:
            return snapshot_probe_once(config_pb2, target, node_id)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE or i == attempts - 1:
                raise
            time.sleep(0.2)


def snapshot_probe_once(config_pb2, target, node_id, timeout=300):
    """A fake node: Hello, then the first update's size and arrival time (raw bytes, unparsed)."""
    import grpc
    ch = grpc.insecure_channel(target, options=GRPC_OPTS)
    watch = ch.stream_stream('/edge.v1.Config/Watch',
                             request_serializer=config_pb2.NodeMessage.SerializeToString,
                             response_deserializer=lambda b: b)
    stop_q = queue.Queue()

    def gen():
        yield config_pb2.NodeMessage(hello=config_pb2.Hello(node_id=node_id, version='bench'))
        stop_q.get()

    t0 = time.perf_counter()
    it = watch(gen(), timeout=timeout)
    try:
        raw = next(it)
        took = time.perf_counter() - t0
    finally:
        stop_q.put(None)
        it.cancel()
        ch.close()
    t1 = time.perf_counter()
    u = config_pb2.ConfigUpdate.FromString(raw)
    parse = time.perf_counter() - t1
    return {'hello_to_first_update_ms': round(took * 1e3, 1), 'bytes': len(raw),
            'full': u.full, 'resources': len(u.put), 'revision': u.revision,
            'python_parse_ms': round(parse * 1e3, 1)}


def watch_load_ms(lines):
    """The control plane's debug line for its first load: 'watch: revision N (... ms)'."""
    for line in lines:
        if 'watch: revision' in line and ' ms)' in line:
            try:
                return float(line.rsplit(',', 1)[1].split()[0])
            except (IndexError, ValueError):
                return None
    return None


def watch_delta_ms(lines, after_revision):
    """The control plane's time to build each delta after after_revision (its debug log)."""
    out = []
    for line in lines:
        if 'watch: revision' not in line or ' ms)' not in line:
            continue
        try:
            rev = int(line.split('watch: revision', 1)[1].split()[0])
            ms = float(line.rsplit(',', 1)[1].split()[0])
        except (IndexError, ValueError):
            continue
        if rev > after_revision:
            out.append(ms)
    return out


def disconnects(tmp, nd):
    """How often the node lost its Watch stream so far (its log)."""
    with open(os.path.join(tmp, nd['name'] + '.log'), errors='replace') as f:
        return sum('cpclient: disconnected' in line for line in f)


def summary_ms(xs):
    return {'n': len(xs), 'median_ms': round(statistics.median(xs), 2),
            'p99_ms': round(pct(xs, 99), 2), 'max_ms': round(max(xs), 2),
            'min_ms': round(min(xs), 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=os.environ.get('EDGE_BUILD', os.path.join(ROOT, 'build')))
    ap.add_argument('--keys', type=int, default=1000000)
    ap.add_argument('--revokes', type=int, default=20, help='per method (edgectl, grpcio)')
    ap.add_argument('--load', choices=('sqlite', 'rpc'), default='sqlite')
    ap.add_argument('--rpc-concurrency', type=int, default=16)
    ap.add_argument('--timeout', type=float, default=900, help='bound on the whole run, s')
    ap.add_argument('--json', help='also write the figures here')
    ap.add_argument('--keep-tmp', action='store_true')
    a = ap.parse_args()
    if a.keys < a.revokes * 2 + 20 or a.revokes < 1:
        ap.error('--keys must be at least 2 x --revokes + 20, --revokes at least 1')
    for b in ('controlplane/edge-controlplane', 'dataplane/edge-dataplane', 'cli/edgectl'):
        if not os.access(os.path.join(a.build, b), os.X_OK):
            ap.error('no %s under %s (set EDGE_BUILD or --build)' % (b, a.build))

    DEADLINE[0] = time.monotonic() + a.timeout
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    tmp = tempfile.mkdtemp(prefix='edge-keys-scale-')
    ok = False
    try:
        out = run(a, tmp)
        ok = True
    finally:
        stop_all()
        if a.keep_tmp or not ok:
            log('logs kept in ' + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print_summary(out)
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(out, f, indent=2)
            f.write('\n')
        print('\nJSON written to ' + a.json)
    return 0


def run(a, tmp):
    out = {'keys': a.keys, 'date': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
           'cpus': os.cpu_count(), 'loadavg_start': open('/proc/loadavg').read().split()[:3],
           'build': a.build}
    seed = b'%d' % random.getrandbits(64)
    # The binaries are copied first: a rebuild in the middle of the run must not mix versions.
    for b in ('controlplane/edge-controlplane', 'dataplane/edge-dataplane', 'cli/edgectl'):
        os.makedirs(os.path.join(tmp, 'bin', os.path.dirname(b)), exist_ok=True)
        shutil.copy2(os.path.join(a.build, b), os.path.join(tmp, 'bin', b))
    a.build = os.path.join(tmp, 'bin')
    gen_stubs(tmp)
    import grpc
    from edge.v1 import admin_pb2, admin_pb2_grpc, config_pb2, resources_pb2 as R

    # Backend
    bk_bin = os.path.join(tmp, 'backend')
    subprocess.run(['cc', '-O2', '-D_GNU_SOURCE', '-w', '-o', bk_bin,
                    os.path.join(BENCH_DIR, 'backend.c'), '-lev'], check=True)
    bk_port = free_port()
    bk = start(tmp, 'backend', [bk_bin, '--port', str(bk_port)])
    if not wait_listen(bk_port, 10, bk):
        raise RuntimeError('the backend did not start')

    # Control plane and configuration
    cp = ControlPlane(a.build, tmp, free_port())
    cp.start()
    cp.edgectl('upstream', 'create', 'bench-backend', '--target', '127.0.0.1:%d' % bk_port)
    cp.edgectl('api', 'create', 'bench')
    cp.edgectl('route', 'create', 'bench', '--method', 'ANY', '--path', '/{proxy+}',
               '--upstream', 'bench-backend', '--api-key-required')
    cp.edgectl('deploy', 'bench', '--stage', 'prod')
    cp.edgectl('plan', 'create', PLAN, '--rate', '1000000', '--burst', '1000000',
               '--quota', '1000000000/day', '--stage', 'bench:prod')
    probe_out = cp.edgectl('key', 'create', 'probe', '--plan', PLAN)
    probe = [ln.split(':', 1)[1].strip() for ln in probe_out.splitlines()
             if ln.startswith('secret:')][0]

    md = [('authorization', 'Bearer ' + cp.token)]
    def admin_stub():
        return admin_pb2_grpc.AdminStub(grpc.insecure_channel(cp.target, options=GRPC_OPTS))

    admin = admin_stub()
    rev0 = admin.GetStatus(admin_pb2.GetStatusRequest(), metadata=md).revision

    # Two data planes
    nodes = []
    for i in (1, 2):
        nd = {'name': 'node%d' % i, 'port': free_port(), 'admin': free_port()}
        os.makedirs(os.path.join(tmp, 'cache%d' % i))
        nd['proc'] = start(tmp, nd['name'], [
            os.path.join(a.build, 'dataplane/edge-dataplane'), '--control-plane', cp.target,
            '--listen', '127.0.0.1:%d' % nd['port'], '--admin', '127.0.0.1:%d' % nd['admin'],
            '--workers', '1', '--cache-dir', os.path.join(tmp, 'cache%d' % i),
            '--node-id', nd['name']])
        nodes.append(nd)
    wait_nodes(nodes, rev0, [probe], 30)
    log('both nodes serve revision %d' % rev0)
    for nd in nodes:
        if http_status(nd['port'], None) != 401 or http_status(nd['port'], 'x' * 30) != 401:
            raise RuntimeError('%s does not refuse a missing or unknown key' % nd['name'])
        for _ in range(50):  # the key path, the throttle and quota words touched once
            http_status(nd['port'], probe)
    time.sleep(1)
    for nd in nodes:
        nd['rss_before_kib'] = rss_kib(nd['proc'].pid)
    cp_rss_before = rss_kib(cp.proc.pid)
    log('2 nodes serving revision %d; RSS %s KiB; loading %d keys'
        % (rev0, [nd['rss_before_kib'] for nd in nodes], a.keys))

    # Load the keys
    if a.load == 'sqlite':
        load = load_sqlite(cp, a.keys, seed)
        admin = admin_stub()
        t_restart = time.monotonic()
    else:
        load = load_rpc(cp, admin, (admin_pb2, R), md, a.keys, seed, a.rpc_concurrency)
        t_restart = time.monotonic()
    out['load'] = load
    sample = random.sample(range(a.keys), 10) + [0, a.keys - 1]
    applied = wait_nodes(nodes, load['revision'], [secret_of(seed, i) for i in sample] + [probe],
                         300)
    out['load']['nodes_applied_s'] = round(time.monotonic() - t_restart, 2)
    log('both nodes serve revision %d (%.1f s after the load finished)'
        % (load['revision'], applied))
    lines = cp.log_lines()
    out['snapshot_store_load_ms'] = watch_load_ms(lines) if a.load == 'sqlite' else None
    time.sleep(2)
    out['memory'] = {'nodes': []}
    for nd in nodes:
        after = rss_kib(nd['proc'].pid)
        out['memory']['nodes'].append({
            'node': nd['name'], 'rss_before_kib': nd['rss_before_kib'], 'rss_after_kib': after,
            'bytes_per_key': round((after - nd['rss_before_kib']) * 1024.0 / a.keys, 1)})
    cp_after = rss_kib(cp.proc.pid)
    out['memory']['control_plane'] = {
        'rss_before_kib': cp_rss_before, 'rss_after_kib': cp_after,
        'bytes_per_key': round((cp_after - cp_rss_before) * 1024.0 / a.keys, 1)}

    # Revocations, alternating edgectl and grpcio
    victims = random.sample([i for i in range(a.keys) if i not in sample], 2 * a.revokes)
    res = {'edgectl': [], 'grpc': []}
    disc0 = [disconnects(tmp, nd) for nd in nodes]
    for k, idx in enumerate(victims):
        check_deadline('revoking keys')
        name, secret = NAME_FMT % idx, secret_of(seed, idx)
        if k % 2 == 0:
            argv = cp.edgectl_argv('key', 'revoke', name)

            def action(argv=argv):
                r = subprocess.run(argv, capture_output=True, timeout=30)
                if r.returncode != 0:
                    raise RuntimeError('edgectl key revoke: %s' % r.stderr.decode().strip())
            res['edgectl'].append(revoke_once(nodes, secret, action))
        else:
            def action(name=name):
                admin.DeleteApiKey(admin_pb2.DeleteApiKeyRequest(key=name), metadata=md,
                                   timeout=30)
            res['grpc'].append(revoke_once(nodes, secret, action))
        time.sleep(0.1)
    out['revoke'] = {'node_reconnects_during_revokes': [
        disconnects(tmp, nd) - d for nd, d in zip(nodes, disc0)]}
    for m, rs in res.items():
        out['revoke'][m] = {
            'refused_on_every_node': summary_ms([r['all_nodes_ms'] for r in rs]),
            'command_returned': summary_ms([r['command_ms'] for r in rs]),
            'raw': rs}
    for nd, m in zip(nodes, out['memory']['nodes']):
        m['rss_after_revokes_kib'] = rss_kib(nd['proc'].pid)
    deltas = watch_delta_ms(cp.log_lines(), load['revision'])
    out['revoke']['cp_delta_build'] = summary_ms(deltas) if deltas else None
    log('revocations done; full snapshot probes')

    # Full snapshot: from memory on the running control plane, then after a restart
    out['snapshot_warm'] = snapshot_probe(config_pb2, cp.target, 'snapshot-probe-1')
    for nd in nodes:
        stop(nd['proc'])
    cp.stop()
    open_s = cp.start()
    cold = snapshot_probe(config_pb2, cp.target, 'snapshot-probe-2')
    cold['cp_start_to_listen_s'] = round(open_s, 2)
    cold['store_load_ms'] = watch_load_ms(cp.log_lines())
    out['snapshot_cold'] = cold
    out['memory']['control_plane']['rss_restarted_after_snapshot_kib'] = rss_kib(cp.proc.pid)
    cp.stop()
    out['loadavg_end'] = open('/proc/loadavg').read().split()[:3]
    return out


def print_summary(o):
    n = o['keys']
    ld = o['load']
    print('\n## API keys at scale: %s keys, 2 data planes (1 worker each), %s CPUs'
          % (format(n, ','), o['cpus']))
    print('load average %s at start, %s at end; a shared machine makes every time below noisy\n'
          % (' '.join(o['loadavg_start']), ' '.join(o['loadavg_end'])))
    print('loader: %s' % ld['loader'])
    extra = (', %.0f creates/s' % ld['creates_per_s']) if 'creates_per_s' in ld else \
        ', control plane restart to listening %.2f s' % ld['cp_restart_to_listen_s']
    print('  written in %.1f s%s; database %.1f MB; both nodes served revision %d %.1f s later'
          % (ld['write_s'], extra, ld['db_bytes'] / 1e6, ld['revision'], ld['nodes_applied_s']))
    print('\n| revoke by | n | refused on every node: median ms | p99 ms | max ms '
          '| command returned: median ms | p99 ms |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for m, label in (('edgectl', '`edgectl key revoke` (process start included)'),
                     ('grpc', 'Admin.DeleteApiKey via grpcio')):
        r = o['revoke'][m]
        a, c = r['refused_on_every_node'], r['command_returned']
        print('| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |'
              % (label, a['n'], a['median_ms'], a['p99_ms'], a['max_ms'], c['median_ms'],
                 c['p99_ms']))
    print('(target: p99 < 100 ms; with %d samples p99 is the slowest but one or the slowest)'
          % o['revoke']['edgectl']['refused_on_every_node']['n'])
    d = o['revoke'].get('cp_delta_build')
    if d:
        print('of which the control plane builds each delta in %.2f ms (median; p99 %.2f ms; its '
              'debug log): the rest is the RPC, the push and the nodes applying it'
              % (d['median_ms'], d['p99_ms']))
    rc = o['revoke']['node_reconnects_during_revokes']
    if any(rc):
        print('warning: the nodes lost their Watch stream %s times during the revokes: the '
              'slow revokes may be reconnects (see the node logs with --keep-tmp)' % rc)
    print('\n| process | VmRSS before keys KiB | after KiB | bytes per key | after the revokes KiB |')
    print('|---|---:|---:|---:|---:|')
    for m in o['memory']['nodes']:
        print('| %s | %s | %s | %.1f | %s |'
              % (m['node'], format(m['rss_before_kib'], ','), format(m['rss_after_kib'], ','),
                 m['bytes_per_key'], format(m['rss_after_revokes_kib'], ',')))
    c = o['memory']['control_plane']
    print('| control plane | %s | %s | %.1f | - |'
          % (format(c['rss_before_kib'], ','), format(c['rss_after_kib'], ','),
             c['bytes_per_key']))
    print('(target: <= ~128 bytes per key on a data plane)')
    w, cold = o['snapshot_warm'], o['snapshot_cold']
    print('\nfull snapshot: %.1f MB, %d resources (revision %d)'
          % (w['bytes'] / 1e6, w['resources'], w['revision']))
    print('  running control plane (config in memory, packed on demand): Hello -> update %.0f ms'
          % w['hello_to_first_update_ms'])
    sl = cold.get('store_load_ms')
    print('  after a restart: start -> listening %.2f s; Hello -> update %.0f ms (store load %s)'
          % (cold['cp_start_to_listen_s'], cold['hello_to_first_update_ms'],
             '%.0f ms' % sl if sl is not None else 'not logged'))
    if o.get('snapshot_store_load_ms') is not None:
        print('  first load after the bulk insert (control plane debug log): %.0f ms'
              % o['snapshot_store_load_ms'])
    print('  (times include gRPC transfer on loopback; not the fake node\'s protobuf parse, '
          '%.0f ms in Python)' % w['python_parse_ms'])


if __name__ == '__main__':
    try:
        sys.exit(main())
    except Timeout as e:
        print('keys_scale.py: ' + str(e), file=sys.stderr)
        sys.exit(1)
