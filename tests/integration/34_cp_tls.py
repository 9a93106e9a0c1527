"""Nodes on a control plane that requires mutual TLS and a node token: a node with the CA, its
client certificate and the token file serves; one without a client certificate, with another
CA, in plaintext or without the token does not get a configuration (and says why in its
log). The node's stream is our own gRPC over HTTP/2 (nghttp2 + OpenSSL) against gRPC core's
server: this is where the two meet over TLS."""

import subprocess
import time
from pathlib import Path

import requests

from conftest import wait_until

GEN_CERTS = Path(__file__).resolve().parents[1] / "unit" / "cpclient" / "gen_certs.sh"


def certs(dir_):
    dir_.mkdir(parents=True, exist_ok=True)
    subprocess.run(["sh", str(GEN_CERTS), str(dir_)], check=True, timeout=60)
    return dir_


def tls_cp(cp, edgectl, upstream, tmp_path):
    """Configures an API on the plain control plane, then restarts it on the same database
    requiring mTLS and a node token."""
    edgectl("upstream", "create", "echo", "--target", upstream.target)
    edgectl("api", "create", "pets")
    edgectl("route", "create", "pets", "--method", "GET", "--path", "/pets", "--upstream", "echo")
    edgectl("deploy", "pets", "--stage", "prod")
    c = certs(tmp_path / "pki")
    token = tmp_path / "node.token"
    token.write_text("node-secret-0123456789\n")
    assert cp.stop() == 0
    cp.extra_args = [str(a) for a in ("--tls-cert", c / "srv.pem", "--tls-key", c / "srv.key",
                                      "--tls-client-ca", c / "ca.pem", "--node-token-file",
                                      token)]
    cp.start(wait=False)
    cp.port = wait_until(cp._read_port, 20, what="TLS control plane port")
    return c, token


def ready(node):
    try:
        return requests.get(f"{node.admin_url}/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_mtls_and_token(cp, edgectl, dataplanes, upstream, tmp_path):
    c, token = tls_cp(cp, edgectl, upstream, tmp_path)
    (good,) = dataplanes(1, extra_args=[str(a) for a in (
        "--cp-ca", c / "ca.pem", "--cp-cert", c / "cli.pem", "--cp-key", c / "cli.key",
        "--token-file", token)])
    good.wait_ready(timeout=20)
    r = requests.get(f"{good.url}/pets/prod/pets", timeout=5)
    assert r.status_code == 200, r.text

    other = certs(tmp_path / "other-pki")
    nodes = {
        "no client certificate": ["--cp-ca", c / "ca.pem", "--token-file", token],
        "another CA": ["--cp-ca", other / "ca.pem", "--cp-cert", c / "cli.pem",
                       "--cp-key", c / "cli.key", "--token-file", token],
        "plaintext": ["--token-file", token],
        "no token": ["--cp-ca", c / "ca.pem", "--cp-cert", c / "cli.pem",
                     "--cp-key", c / "cli.key"],
    }
    bad = {why: dataplanes(1, extra_args=[str(a) for a in args])[0]
           for why, args in nodes.items()}
    deadline = time.monotonic() + 3  # several reconnect attempts (backoff starts at 200 ms)
    while time.monotonic() < deadline:
        for why, n in bad.items():
            assert not ready(n), f"a node with {why} got a configuration"
        time.sleep(0.2)
    assert "certificate verify failed" in bad["another CA"].proc.log()
    assert "UNAUTHENTICATED" in bad["no token"].proc.log()
    for n in bad.values():
        assert "cannot reach" in n.proc.log() or "disconnected" in n.proc.log()
    # The good node still serves, and takes new revisions over TLS.
    assert requests.get(f"{good.url}/pets/prod/pets", timeout=5).status_code == 200


def test_token_file_errors(dataplanes, tmp_path):
    empty = tmp_path / "empty.token"
    empty.write_text("\n")
    import subprocess as sp
    from conftest import DATAPLANE, require
    base = [require(DATAPLANE), "--control-plane", "127.0.0.1:1", "--listen", "127.0.0.1:0",
            "--admin", "127.0.0.1:0", "--cache-dir", str(tmp_path / "c")]
    p = sp.run(base + ["--token-file", str(empty)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1 and "no token" in p.stderr, p.stderr
    p = sp.run(base + ["--token-file", str(tmp_path / "missing")], capture_output=True,
               text=True, timeout=20)
    assert p.returncode == 1 and "missing" in p.stderr, p.stderr
    p = sp.run(base + ["--token", "t", "--token-file", str(empty)], capture_output=True,
               text=True, timeout=20)
    assert p.returncode == 2, p.stderr
