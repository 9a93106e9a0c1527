"""edgectl as a program: exit codes 0/1/2, --help on every command, server and token from the
environment or flags."""

import re

import pytest

from conftest import run_edgectl

COMMANDS = [
    [], ["api"], ["api", "create"], ["api", "list"], ["api", "get"], ["api", "update"],
    ["api", "delete"],
    ["route"], ["route", "create"], ["route", "list"], ["route", "get"], ["route", "update"],
    ["route", "delete"],
    ["upstream"], ["upstream", "create"], ["upstream", "list"], ["upstream", "get"],
    ["upstream", "update"], ["upstream", "delete"],
    ["deploy"], ["deployment"], ["deployment", "list"], ["deployment", "get"],
    ["stage"], ["stage", "create"], ["stage", "list"], ["stage", "get"], ["stage", "update"],
    ["stage", "delete"],
    ["domain"], ["domain", "map"], ["domain", "list"], ["domain", "unmap"],
    ["node"], ["node", "list"], ["status"], ["audit"], ["version"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "edgectl")
def test_help_on_every_command(cmd):
    # No server is needed (and none is running at this address): help never connects.
    r = run_edgectl([*cmd, "--help"], server="127.0.0.1:1", check=0, timeout=10)
    assert "usage" in r.stdout.lower(), r
    if cmd:
        assert cmd[0] in r.stdout, r


def test_usage_errors_exit_2():
    for args in (["no-such-noun"], ["api", "frobnicate"], ["api", "create"],
                 ["api", "get"], ["route", "create", "shop"],
                 ["route", "create", "shop", "--method", "GET", "--path", "/x"],
                 ["upstream", "create", "u"], ["upstream", "create", "u", "--target"],
                 ["upstream", "create", "u", "--target", "127.0.0.1:80", "--retries", "abc"],
                 ["api", "list", "--no-such-flag"], ["-o", "yaml", "api", "list"],
                 ["deploy", "shop"], ["domain", "map", "h.example.com"],
                 ["stage", "create", "shop", "dev", "--var", "novalue"],
                 ["route", "create", "shop", "--method", "GET", "--path", "/x", "--upstream",
                  "u", "--header", "no colon"],
                 ["audit", "--limit", "x"]):
        r = run_edgectl(args, server="127.0.0.1:1", env={"EDGE_TOKEN": "t"}, check=2,
                        timeout=10)
        assert r.stderr.strip(), r


def test_no_args_is_usage():
    r = run_edgectl([], check=2, timeout=10)
    assert "--help" in r.stderr or "usage" in r.stderr.lower(), r


def test_exit_0_and_1(edgectl):
    assert edgectl("api", "create", "ok").rc == 0
    r = edgectl("api", "create", "ok", check=1)
    assert re.match(r"edgectl: ALREADY_EXISTS: .+", r.stderr), r.stderr
    r = edgectl("api", "get", "missing", check=1)
    assert re.match(r"edgectl: NOT_FOUND: .+", r.stderr), r.stderr
    assert r.stdout == ""


def test_server_down_exits_1(tmp_path):
    tok = tmp_path / "t"
    tok.write_text("x\n")
    r = run_edgectl(["api", "list"], server="127.0.0.1:1", token_file=tok, check=1, timeout=30)
    assert r.stderr.startswith("edgectl: UNAVAILABLE") or "DEADLINE" in r.stderr, r.stderr


def test_env_server_and_token(cp):
    env = {"EDGE_SERVER": cp.addr, "EDGE_TOKEN": cp.token}
    run_edgectl(["api", "create", "from-env"], env=env)
    out = run_edgectl(["-o", "json", "api", "list"], env=env).json()
    assert [a["name"] for a in out] == ["from-env"]
    # Flags win over the environment.
    r = run_edgectl(["api", "list"], server=cp.addr, env={"EDGE_SERVER": "127.0.0.1:1",
                                                          "EDGE_TOKEN": cp.token})
    assert "from-env" in r.stdout
    r = run_edgectl(["--token", "wrong", "api", "list"], env=env, check=1)
    assert "UNAUTHENTICATED" in r.stderr


def test_token_flag(cp):
    r = run_edgectl(["--token", cp.token, "api", "list"], server=cp.addr)
    assert r.rc == 0


def test_token_not_echoed(edgectl, cp):
    for args in (["status"], ["api", "list"], ["api", "get", "missing"]):
        r = edgectl(*args, check=False)
        assert cp.token not in r.stdout and cp.token not in r.stderr


def test_json_output_of_every_listing(edgectl):
    edgectl("upstream", "create", "svc", "--target", "127.0.0.1:8001")
    edgectl("api", "create", "shop")
    edgectl("route", "create", "shop", "--method", "GET", "--path", "/x", "--upstream", "svc")
    edgectl("deploy", "shop", "--stage", "prod")
    edgectl("domain", "map", "*", "shop", "prod")
    for args in (["api", "list"], ["upstream", "list"], ["route", "list", "shop"],
                 ["deployment", "list", "shop"], ["stage", "list", "shop"], ["domain", "list"],
                 ["node", "list"], ["audit"]):
        doc = edgectl("-o", "json", *args).json()
        assert isinstance(doc, list), (args, doc)
        if args[0] not in ("node",):
            assert len(doc) >= 1, (args, doc)
            assert all(isinstance(x, dict) for x in doc)
