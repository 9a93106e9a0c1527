"""Small helpers shared by the test files (fixtures are in conftest.py)."""

import re

import grpc
import pytest

ROUTE_ID = re.compile(r"\br-[0-9a-f]{12}\b")
DEPLOYMENT_ID = re.compile(r"\bd-[0-9a-f]{12}\b")


def rpc_error(fn, *args, **kw):
    """Calls fn and returns the grpc.RpcError it must raise."""
    with pytest.raises(grpc.RpcError) as ei:
        fn(*args, **kw)
    return ei.value


def assert_code(err, code, *words):
    """err has status code and its message names every word (case-insensitive)."""
    assert err.code() == code, f"expected {code}, got {err.code()}: {err.details()!r}"
    msg = (err.details() or "").lower()
    for w in words:
        assert w.lower() in msg, f"{code} message {err.details()!r} does not name {w!r}"


def rows(result):
    """A listing printed with -o json: a JSON array."""
    doc = result.json()
    assert isinstance(doc, list), f"-o json listing is not a JSON array: {result.stdout[:500]!r}"
    return doc


def one(result):
    """A single object printed with -o json (an object, or an array of exactly one)."""
    doc = result.json()
    if isinstance(doc, list):
        assert len(doc) == 1, doc
        doc = doc[0]
    assert isinstance(doc, dict), doc
    return doc


def field(obj, *names, default=None):
    """obj[name] trying snake_case and lowerCamelCase spellings."""
    for n in names:
        for k in (n, _camel(n)):
            if k in obj:
                return obj[k]
    return default


def _camel(s):
    head, *rest = s.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def route_id(result):
    m = ROUTE_ID.search(result.stdout)
    assert m, f"no route id (r-<12 hex>) in {result.stdout!r}"
    return m.group(0)


def deployment_id(result):
    m = DEPLOYMENT_ID.search(result.stdout)
    assert m, f"no deployment id (d-<12 hex>) in {result.stdout!r}"
    return m.group(0)


def revision(admin):
    return admin.GetStatus(admin.pb.admin.GetStatusRequest()).revision
