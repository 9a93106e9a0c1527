#!/usr/bin/python3
"""Measure what idle keep-alive client connections cost a proxy in resident memory.

Sums VmRSS of the given PIDs, opens --count connections to the proxy, sends one keep-alive
request on each and reads the whole response, leaves them idle for --settle seconds, sums
VmRSS again, counts how many connections the proxy kept open, closes them all and prints one
JSON object on stdout:

  {"opened": N, "failed": F, "alive": A, "rss_before_kib": R0, "rss_with_kib": R1,
   "kib_per_conn": (R1 - R0) / A, "elapsed_s": T}

Everything is bounded by --timeout (default 60 s) and every socket has its own timeout. The
harness (run.sh) runs this once per proxy; it can also run by hand:

  idle_conns.py --port 8080 --path /bench/prod/x --count 1000 --pids 1234,1235
"""
import argparse
import json
import select
import socket
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass  # a process that went away holds no memory
    return total


def read_response(sock):
    """Reads one HTTP/1.1 response with a Content-Length body; returns the status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding":
            raise ConnectionError("chunked response: the backend should send Content-Length")
    if length is None:
        raise ConnectionError("response without Content-Length")
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside the response body")
        body += chunk
    return status


def still_open(sock):
    """True when the peer has neither closed the connection nor sent anything unexpected."""
    poller = select.poll()  # select() stops at fd 1024
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return True
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--pids", required=True, help="comma-separated PIDs of the proxy")
    ap.add_argument("--settle", type=float, default=1.0, help="idle seconds before measuring")
    ap.add_argument("--timeout", type=float, default=60.0, help="bound on the whole run")
    args = ap.parse_args()

    pids = [int(p) for p in args.pids.split(",") if p]
    start = time.monotonic()
    deadline = start + args.timeout
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
        "Connection: keep-alive\r\nUser-Agent: edge-bench-idle\r\n\r\n"
    ).encode()

    rss_before = rss_kib(pids)
    socks = []
    failed = 0
    first_error = None
    for _ in range(args.count):
        if time.monotonic() > deadline:
            failed += 1
            first_error = first_error or "timeout while opening connections"
            continue
        s = None
        try:
            s = socket.create_connection((args.host, args.port), timeout=5)
            s.sendall(request)
            status = read_response(s)
            if status != 200:
                raise ConnectionError(f"status {status}")
            socks.append(s)
        except (OSError, ValueError, IndexError) as e:
            failed += 1
            first_error = first_error or str(e)
            if s is not None:
                s.close()

    time.sleep(max(0.0, min(args.settle, deadline - time.monotonic())))
    rss_with = rss_kib(pids)
    alive = sum(1 for s in socks if still_open(s))
    for s in socks:
        s.close()

    result = {
        "opened": len(socks),
        "failed": failed,
        "alive": alive,
        "rss_before_kib": rss_before,
        "rss_with_kib": rss_with,
        "kib_per_conn": round((rss_with - rss_before) / alive, 3) if alive else None,
        "elapsed_s": round(time.monotonic() - start, 3),
    }
    if first_error:
        result["first_error"] = first_error
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
