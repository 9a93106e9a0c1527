"""Every malformed request gets a 400 (and a close), and the upstream never sees it: CL+TE, two
differing Content-Lengths, bad chunk sizes, obs-fold, invalid characters in names and values,
missing Host, bare LF, and the classic smuggling shapes. A pipelined second request after a
malformed one must never reach the upstream either."""

import pytest

from dp_helpers import deploy, exchange, parse_responses, raw, ready_nodes, up_factory  # noqa: F401


@pytest.fixture(scope="function")
def site(edgectl, admin, pb, up_factory, dataplanes):
    up = up_factory("up")
    edgectl("upstream", "create", "up", "--target", up.target)
    edgectl("api", "create", "t")
    edgectl("route", "create", "t", "--method", "ANY", "--path", "/{proxy+}", "--upstream", "up")
    rev = deploy(edgectl, admin, pb, "t")
    (n,) = ready_nodes(dataplanes(1), rev)
    return n, up


SMUGGLED = b"GET /t/prod/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"

# (name, bytes): each must be answered 400 and nothing reaches the upstream.
CASES = [
    ("cl_and_te", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("te_and_cl", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Length: 40\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ("two_differing_cl", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                         b"Content-Length: 40\r\n\r\nabc" + SMUGGLED),
    ("cl_list", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 40\r\n\r\nabc"),
    ("cl_negative", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
    ("cl_plus", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc"),
    ("cl_hex", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc"),
    ("bad_chunk_size", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"zz\r\nabc\r\n0\r\n\r\n"),
    ("chunk_size_overflow", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding: chunked\r\n\r\n"
                            b"fffffffffffffffff1\r\nabc\r\n0\r\n\r\n"),
    ("chunk_missing_crlf", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                           b"\r\n3\r\nabcX0\r\n\r\n"),
    ("te_not_chunked_last", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
    ("te_unknown", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n"),
    ("te_obfuscated", b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n"
                      b"\r\n0\r\n\r\n"),
    ("te_http10", b"POST /t/prod/a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"0\r\n\r\n"),
    ("obs_fold", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n"),
    ("obs_fold_tab", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nX-A: one\r\n\ttwo\r\n\r\n"),
    ("space_before_colon", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nX-A : v\r\n\r\n"),
    ("bad_name_char", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nX(A): v\r\n\r\n"),
    ("empty_name", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n"),
    # An empty name after the 100th field (the field array is full): 400 or 431.
    ("empty_name_after_100", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\n" +
     b"".join(b"X-H%d: v\r\n" % i for i in range(99)) + b": v\r\n\r\n"),
    ("nul_in_value", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    ("ctl_in_value", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"),
    ("cr_in_value", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"),
    ("missing_host", b"GET /t/prod/a HTTP/1.1\r\n\r\n"),
    ("two_hosts", b"GET /t/prod/a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"),
    ("bad_host", b"GET /t/prod/a HTTP/1.1\r\nHost: a b\r\n\r\n"),
    ("bare_lf_headers", b"GET /t/prod/a HTTP/1.1\nHost: x\n\n"),
    ("bare_lf_in_header", b"GET /t/prod/a HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"),
    ("bare_cr", b"GET /t/prod/a HTTP/1.1\rHost: x\r\n\r\n"),
    ("space_in_target", b"GET /t/prod/a b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bad_version", b"GET /t/prod/a HTTP/1.x\r\nHost: x\r\n\r\n"),
    ("bad_method", b"G@T /t/prod/a HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("lowercase_method", b"get /t/prod/a HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("ctl_in_target", b"GET /t/prod/a\x7f HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("asterisk_form", b"GET * HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40),
]


# Framing cannot be trusted after these: the connection must close after the 400.
KEEPABLE = {"missing_host", "two_hosts", "bad_host", "asterisk_form"}


def test_malformed_is_400_and_never_forwarded(site):
    n, up = site
    bad = []
    for name, data in CASES:
        up.requests.clear()
        rs, closed = exchange(n.port, data, count=1, timeout=3)
        st = rs[0].status if rs else None
        want = {"bad_version": (400, 505), "empty_name_after_100": (400, 431)}.get(name, (400,))
        if len(rs) != 1 or st not in want:
            bad.append(f"{name}: {rs}")
        elif not closed and name not in KEEPABLE:
            bad.append(f"{name}: {st} but the connection stayed open")
        if up.requests:
            bad.append(f"{name}: reached the upstream: {up.requests}")
    assert not bad, "\n".join(bad)


def test_smuggling_via_chunk_extension_and_trailer(site):
    n, up = site
    # A trailer that looks like a request must not become one.
    data = (b"POST /t/prod/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n" +
            b"GET /t/prod/second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    rs = parse_responses(raw(n.port, data))
    assert [r.status for r in rs] == [200, 200]
    paths = [q["path"] for q in up.requests]
    assert paths == ["/a", "/second"], paths
    # The trailer is not forwarded as a header of the next request.
    assert all(k.lower() != "x-trailer" for k, _ in up.requests[1]["headers"])


def test_valid_requests_still_pass(site):
    n, up = site
    data = (b"GET /t/prod/ok HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Tab:\tv\t\r\n"
            b"Content-Length: 0\r\n\r\n"
            b"GET /t/prod/ok2 HTTP/1.1\r\nHost: X.Example.COM:80\r\nConnection: close\r\n\r\n")
    rs = parse_responses(raw(n.port, data))
    assert [r.status for r in rs] == [200, 200], rs
