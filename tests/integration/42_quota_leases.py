"""Quotas across a fleet, held exactly by control-plane leases (DESIGN §5): a quota of N admits
exactly N requests whether they come one by one or all at once, to one node or to both; the
count survives node and control-plane restarts; a plan update lifts an exhausted quota; with the
control plane gone a node falls back to its share of the quota without making callers wait."""

import importlib
import random
import threading
import time
from collections import Counter

import requests

from conftest import wait_until
from dp_helpers import pin_port
from helpers import field

keys = importlib.import_module("41_keys_dataplane")
create_key, setup_api, sync, get = keys.create_key, keys.setup_api, keys.sync, keys.get


def quota_site(edgectl, upstream, dataplanes, quota, n=2, workers=1):
    setup_api(edgectl, upstream)
    edgectl("plan", "create", "q", "--quota", quota, "--stage", "pets:prod")
    key, kid = create_key(edgectl, "alice", "--plan", "q")
    nodes = dataplanes(n, workers=workers)
    for d in nodes:
        d.wait_ready()
    sync(nodes, edgectl)
    return nodes, key, kid


def usage_total(edgectl, kid, plan="q"):
    j = edgectl("-o", "json", "usage", plan).json()
    return sum(int(field(d, "count")) for d in j.get("days", []) if field(d, "key_id") == kid)


def test_sequential_exactly_the_quota_across_two_nodes(cp, edgectl, dataplanes, upstream):
    """1,000 sequential requests spread at random over two nodes are all admitted; the next
    ones are refused on both nodes, with Retry-After; the control plane counts 1,000."""
    nodes, key, kid = quota_site(edgectl, upstream, dataplanes, "1000/day")
    rng = random.Random(7)
    sessions = [requests.Session() for _ in nodes]
    codes = Counter()
    for i in range(1000):
        j = rng.randrange(2) if i < 900 else 1  # the tail all on one node
        codes[get(nodes[j], "/pets/prod/pets", key=key, session=sessions[j]).status_code] += 1
    assert codes == {200: 1000}, codes
    for j, n in enumerate(nodes):
        for _ in range(3):
            r = get(n, "/pets/prod/pets", key=key, session=sessions[j])
            assert r.status_code == 429, (j, r.status_code, r.text)
            assert r.json() == {"message": "quota exceeded"}
            assert 0 < int(r.headers["Retry-After"]) <= 86400
    wait_until(lambda: usage_total(edgectl, kid) == 1000, 10, interval=0.2,
               what="usage 1000 at the control plane")
    used_at = int(field(edgectl("-o", "json", "key", "get", "alice").json(), "last_used_at",
                        default=0))
    assert abs(used_at - time.time()) < 120, used_at


def test_all_on_one_node_gets_the_whole_quota(cp, edgectl, dataplanes, upstream):
    """No static split: one node may use the whole fleet quota while the other idles."""
    nodes, key, _ = quota_site(edgectl, upstream, dataplanes, "300/day")
    s = requests.Session()
    # The idle node takes a lease first (one request), then the busy node needs it back.
    assert get(nodes[1], "/pets/prod/pets", key=key).status_code == 200
    codes = Counter(get(nodes[0], "/pets/prod/pets", key=key, session=s).status_code
                    for _ in range(305))
    assert codes == {200: 299, 429: 6}, codes


def test_concurrent_never_above_the_quota(cp, edgectl, dataplanes, upstream):
    """8 concurrent callers over two nodes (two workers each) offer 1,600 requests against a
    quota of 1,000: exactly 1,000 are admitted (no node fails, so no lease is lost)."""
    nodes, key, kid = quota_site(edgectl, upstream, dataplanes, "1000/day", workers=2)
    codes = Counter()
    lock = threading.Lock()

    def caller(i):
        s = requests.Session()
        n = nodes[i % 2]
        local = Counter()
        for _ in range(200):
            local[get(n, "/pets/prod/pets", key=key, session=s).status_code] += 1
        with lock:
            codes.update(local)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(codes.values()) == 1600, codes
    assert codes[200] == 1000 and codes[429] == 600, codes
    wait_until(lambda: usage_total(edgectl, kid) == 1000, 10, interval=0.2,
               what="usage 1000 at the control plane")


def test_counts_survive_node_and_control_plane_restarts(cp, edgectl, dataplanes, upstream):
    nodes, key, kid = quota_site(edgectl, upstream, dataplanes, "100/day")
    for i in range(60):
        assert get(nodes[i % 2], "/pets/prod/pets", key=key).status_code == 200
    # Both nodes stop (SIGTERM: they flush their counts), then the control plane restarts.
    for n in nodes:
        assert n.stop() == 0
    wait_until(lambda: usage_total(edgectl, kid) == 60, 10, interval=0.2,
               what="usage 60 after the nodes stopped")
    pin_port(cp)
    assert cp.stop() == 0
    cp.start()
    for n in nodes:
        n.start()
        n.wait_ready()
    sync(nodes, edgectl)
    codes = Counter(get(nodes[i % 2], "/pets/prod/pets", key=key).status_code
                    for i in range(50))
    assert codes == {200: 40, 429: 10}, codes


def test_plan_update_lifts_an_exhausted_quota(cp, edgectl, dataplanes, upstream):
    nodes, key, _ = quota_site(edgectl, upstream, dataplanes, "5/day")
    codes = [get(nodes[i % 2], "/pets/prod/pets", key=key).status_code for i in range(7)]
    assert codes == [200] * 5 + [429] * 2, codes
    edgectl("plan", "update", "q", "--quota", "8/day")
    sync(nodes, edgectl)
    codes = [get(nodes[i % 2], "/pets/prod/pets", key=key).status_code for i in range(5)]
    assert codes == [200] * 3 + [429] * 2, codes


def test_control_plane_gone_falls_back_to_the_share(cp, edgectl, dataplanes, upstream):
    """Without the control plane no lease can come: each node admits its share
    ceil(quota / fleet) of the requests it counted itself, and nobody waits for a lease."""
    nodes, key, _ = quota_site(edgectl, upstream, dataplanes, "40/day")
    assert cp.kill() is not None
    wait_until(lambda: not nodes[0].config().get("control_plane_connected", True), 10, interval=0.1,
               what="node 0 sees the control plane gone")
    s = requests.Session()
    t0 = time.monotonic()
    codes = Counter(get(nodes[0], "/pets/prod/pets", key=key, session=s).status_code
                    for _ in range(25))
    assert time.monotonic() - t0 < 5
    assert codes == {200: 20, 429: 5}, codes


def test_hostile_lease_messages(cp, edgectl, admin, pb, watch_factory, upstream):
    """A client speaking the lease protocol badly gets clear answers and harms nothing: unknown
    plans and misaligned periods are "exhausted", absurd counts and unasked releases change
    nothing held, leases before a hello end the stream with INVALID_ARGUMENT."""
    import grpc
    setup_api(edgectl, upstream)
    edgectl("plan", "create", "q", "--quota", "10/day", "--stage", "pets:prod")
    _, kid = create_key(edgectl, "alice", "--plan", "q")
    today = int(time.time()) // 86400 * 86400
    C = pb.config

    def leases(*items):
        return C.NodeMessage(leases=C.QuotaLeases(leases=[C.QuotaLease(**i) for i in items]))

    w = watch_factory("py-node", hello=False)
    w.hello(leases=True)
    assert w.next().full

    def grants(n):
        out = []
        while len(out) < n:
            u = w.next(timeout=5)
            if u.revision == 0:
                out.extend(u.grants)
        return out

    w.send(leases(dict(key_id=kid, plan="q", period_start=today, ref=7)))
    (g,) = grants(1)
    assert g.ref == 7 and g.period_start == today and 0 < g.granted <= 10 and not g.exhausted
    w.send(leases(dict(key_id=kid, plan="nope", period_start=today, ref=8),
                  dict(key_id=kid, plan="q", period_start=today + 1, ref=9)))
    bad = grants(2)
    assert {x.ref for x in bad} == {8, 9} and all(x.exhausted for x in bad), bad
    # Unasked releases with absurd numbers, an empty key, a count past int64: no harm.
    w.send(leases(dict(key_id=kid, plan="q", period_start=today, ref=7, release=True,
                       returned=2**64 - 1, used=0),
                  dict(key_id="", plan="q", period_start=today, ref=10),
                  dict(key_id=kid, plan="q", period_start=today, ref=11, used=2**64 - 1)))
    w.send(leases(dict(key_id=kid, plan="q", period_start=today, ref=12)))
    more = grants(2)
    assert [x.ref for x in more] == [11, 12], more
    assert not any(x.exhausted for x in more), more
    assert g.granted + sum(x.granted for x in more) <= 10
    assert int(field(edgectl("-o", "json", "status").json(), "revision")) > 0

    w2 = watch_factory("py-node-2", hello=False)
    w2.send(leases(dict(key_id=kid, plan="q", period_start=today, ref=1)))
    assert w2.done.wait(10)
    assert w2.error is not None and w2.error.code() == grpc.StatusCode.INVALID_ARGUMENT
