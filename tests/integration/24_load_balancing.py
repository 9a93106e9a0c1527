"""Consistent hashing by client address through a real node: one client always reaches the
same target, clients spread over the targets, a removed target moves only its own clients, and
two nodes agree on every client's target."""

import socket
from collections import Counter

from dp_helpers import deploy, ready_nodes, up_factory  # noqa: F401


def target_of(node, client_ip, path="/lb/prod/x"):
    """The X-Upstream of one request sent from client_ip (a 127.0.0.0/8 address)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=5,
                                  source_address=(client_ip, 0)) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert head.startswith("HTTP/1.1 200"), head
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.lower() == "x-upstream":
            return v.strip()
    raise AssertionError(f"no X-Upstream in {head!r}")


CLIENTS = [f"127.0.{i // 200}.{i % 200 + 2}" for i in range(60)]


def test_consistent_hash_by_client(edgectl, admin, pb, up_factory, dataplanes):
    ups = {n: up_factory(n) for n in ("a", "b", "c")}
    edgectl("upstream", "create", "pool", "--lb", "consistent_hash",
            *[x for u in ups.values() for x in ("--target", u.target)])
    edgectl("api", "create", "lb")
    edgectl("route", "create", "lb", "--method", "GET", "--path", "/x", "--upstream", "pool")
    rev = deploy(edgectl, admin, pb, "lb")
    nodes = ready_nodes(dataplanes(2), rev)

    first = {ip: target_of(nodes[0], ip) for ip in CLIENTS}
    for ip in CLIENTS[:20]:  # the same client, again, and on the other node
        assert target_of(nodes[0], ip) == first[ip]
        assert target_of(nodes[1], ip) == first[ip]
    spread = Counter(first.values())
    assert set(spread) == {"a", "b", "c"}, spread
    assert min(spread.values()) >= 5, spread

    # Target c goes: only c's clients move.
    edgectl("upstream", "update", "pool", "--target", ups["a"].target, "--target",
            ups["b"].target)
    rev = int(edgectl("-o", "json", "status").json()["revision"])
    for n in nodes:
        n.wait_revision(rev)
    for ip in CLIENTS:
        now = target_of(nodes[0], ip)
        if first[ip] != "c":
            assert now == first[ip], (ip, first[ip], now)
        else:
            assert now in ("a", "b")
