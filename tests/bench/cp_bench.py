#!/usr/bin/python3
"""Control-plane benchmark: Admin write throughput and revision push latency to watchers.

Starts a real edge-controlplane on a temporary database and measures, through grpcio:
  * route creates per second (sequential unary CreateRoute calls, each one committed
    transaction with fsync), and with 4 concurrent clients;
  * push latency: N watcher processes each hold a Config/Watch stream; the main process
    commits R stage updates (each a real delta) at a fixed interval; each watcher records
    receive time minus the server's published_at_ns stamp. Prints median, p90 and p99.

Usage: tests/bench/cp_bench.py [--build DIR] [--routes N] [--watchers N] [--pushes N]
"""
import argparse
import multiprocessing as mp
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pbgen import gen_stubs  # noqa: E402


def start_cp(build, tmp):
    db = os.path.join(tmp, 'edge.db')
    port_file = os.path.join(tmp, 'port')
    log = open(os.path.join(tmp, 'cp.log'), 'w')
    p = subprocess.Popen([os.path.join(build, 'controlplane/edge-controlplane'), '--db', db,
                          '--listen', '127.0.0.1:0', '--port-file', port_file,
                          '--log-level', 'warn'], stderr=log)
    for _ in range(200):
        if os.path.exists(port_file):
            break
        time.sleep(0.05)
    port = int(open(port_file).read())
    token = open(db + '.token').read().strip()
    return p, '127.0.0.1:%d' % port, token


def watcher(stubs, target, idx, ready, results, expected):
    sys.path.insert(0, stubs)
    import grpc
    from edge.v1 import config_pb2, config_pb2_grpc
    ch = grpc.insecure_channel(target)
    stub = config_pb2_grpc.ConfigStub(ch)
    acks = queue.Queue()

    def gen():
        yield config_pb2.NodeMessage(hello=config_pb2.Hello(node_id='bench-%d' % idx,
                                                            version='bench'))
        while True:
            m = acks.get()
            if m is None:
                return
            yield m
    lat = []
    first = True
    for u in stub.Watch(gen()):
        now = time.time_ns()
        if first:
            first = False
            ready.put(idx)
        elif u.put or u.remove:
            lat.append((now - u.published_at_ns) / 1e6)
        acks.put(config_pb2.NodeMessage(ack=config_pb2.Ack(revision=u.revision, ok=True)))
        if len(lat) >= expected:
            break
    acks.put(None)
    results.put(lat)


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.environ.get('EDGE_BUILD', os.path.join(ROOT, 'build')))
    ap.add_argument('--routes', type=int, default=2000)
    ap.add_argument('--watchers', type=int, default=10)
    ap.add_argument('--pushes', type=int, default=200)
    ap.add_argument('--interval-ms', type=float, default=20)
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix='edge-cp-bench-')
    gen_stubs(tmp)
    import grpc
    from edge.v1 import admin_pb2, admin_pb2_grpc, resources_pb2 as R
    p, target, token = start_cp(a.build, tmp)
    try:
        md = [('authorization', 'Bearer ' + token)]
        admin = admin_pb2_grpc.AdminStub(grpc.insecure_channel(target))
        admin.CreateUpstream(R.Upstream(name='up', targets=[R.Target(host='127.0.0.1',
                                                                      port=9)]), metadata=md)
        admin.CreateApi(R.Api(name='bench'), metadata=md)

        t0 = time.monotonic()
        for i in range(a.routes):
            admin.CreateRoute(R.Route(api='bench', method='GET', path='/r%d/{id}' % i,
                                      integration=R.Integration(upstream='up')), metadata=md)
        seq = a.routes / (time.monotonic() - t0)

        def worker(k, n):
            stub = admin_pb2_grpc.AdminStub(grpc.insecure_channel(target))
            for i in range(n):
                stub.CreateRoute(R.Route(api='bench', method='POST', path='/c%d/%d' % (k, i),
                                         integration=R.Integration(upstream='up')), metadata=md)
        n4 = a.routes // 4
        t0 = time.monotonic()
        ts = [threading.Thread(target=worker, args=(k, n4)) for k in range(4)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        par = 4 * n4 / (time.monotonic() - t0)
        print('admin writes: %.0f route creates/s sequential, %.0f/s with 4 clients '
              '(%d routes each run)' % (seq, par, a.routes))

        admin.CreateDeployment(admin_pb2.CreateDeploymentRequest(api='bench', stage='prod'),
                               metadata=md)
        # spawn, not fork: gRPC does not survive a fork of a process that has used it.
        ctx = mp.get_context('spawn')
        ready, results = ctx.Queue(), ctx.Queue()
        procs = [ctx.Process(target=watcher, args=(tmp, target, i, ready, results, a.pushes))
                 for i in range(a.watchers)]
        [w.start() for w in procs]
        for _ in procs:
            ready.get(timeout=30)
        stage = admin.GetStage(admin_pb2.GetStageRequest(api='bench', name='prod'), metadata=md)
        for i in range(a.pushes):
            stage.variables['n'] = str(i)
            admin.UpdateStage(stage, metadata=md)
            time.sleep(a.interval_ms / 1000.0)
        lat = []
        for _ in procs:
            lat += results.get(timeout=60)
        [w.join(timeout=10) for w in procs]
        print('push latency to %d watchers over %d revisions: median %.2f ms, p90 %.2f ms, '
              'p99 %.2f ms, max %.2f ms (%d samples)'
              % (a.watchers, a.pushes, statistics.median(lat), pct(lat, 90), pct(lat, 99),
                 max(lat), len(lat)))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
