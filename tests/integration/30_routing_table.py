"""The routing table through two data planes: precedence (literal > partial > param > greedy),
404, 405 with Allow, trailing slash, percent-decoding, path parameters in the upstream path,
the query string, domain mappings (by host, longest base path) and the /{api}/{stage}/ default."""

import pytest

from dp_helpers import deploy, get, one_response, ready_nodes, up_factory  # noqa: F401

ROUTES = [
    ("GET", "/pets/mine", "/literal"),
    ("GET", "/pets/v{n}.json", "/partial/{n}"),
    ("GET", "/pets/{id}", "/param/{id}"),
    ("GET", "/pets/{rest+}", "/greedy/{rest}"),
    ("POST", "/items", "/items-post"),
    ("PUT", "/items", "/items-put"),
    ("GET", "/slash/", "/with-slash"),
    ("GET", "/noslash", "/without-slash"),
    ("GET", "/files/{name}", "/f/{name}"),
    ("GET", "/users/{uid}/orders/{oid}", "/u/{uid}/o/{oid}"),
    ("GET", "/plain", None),
]


@pytest.fixture
def site(edgectl, admin, pb, up_factory, dataplanes):
    up = up_factory("up")
    edgectl("upstream", "create", "up", "--target", up.target)
    edgectl("api", "create", "r")
    for m, p, u in ROUTES:
        args = ["route", "create", "r", "--method", m, "--path", p, "--upstream", "up"]
        if u:
            args += ["--upstream-path", u]
        edgectl(*args)
    rev = deploy(edgectl, admin, pb, "r")
    nodes = ready_nodes(dataplanes(2), rev)
    return nodes, up, rev


def upath(node, path, **kw):
    r = get(f"{node.url}{path}", **kw)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()["path"]


def test_precedence(site):
    nodes, up, _ = site
    for n in nodes:
        assert upath(n, "/r/prod/pets/mine") == "/literal"
        assert upath(n, "/r/prod/pets/v2.json") == "/partial/2"
        assert upath(n, "/r/prod/pets/42") == "/param/42"
        assert upath(n, "/r/prod/pets/a/b/c") == "/greedy/a/b/c"
        assert upath(n, "/r/prod/users/7/orders/9") == "/u/7/o/9"
        assert upath(n, "/r/prod/plain") == "/plain"


def test_404_and_405_with_allow(site):
    nodes, up, _ = site
    for n in nodes:
        r = get(f"{n.url}/r/prod/nothing/here")
        assert r.status_code == 404 and "message" in r.json()
        r = get(f"{n.url}/r/prod/items")
        assert r.status_code == 405
        allow = [a.strip() for a in r.headers["Allow"].split(",")]
        assert "POST" in allow and "PUT" in allow and "GET" not in allow
        # Unknown API, unknown stage.
        assert get(f"{n.url}/nope/prod/pets/mine").status_code == 404
        assert get(f"{n.url}/r/nostage/pets/mine").status_code == 404
    assert all("/items" not in q["path"] for q in up.requests)


def test_trailing_slash_is_significant(site):
    nodes, up, _ = site
    n = nodes[0]
    assert upath(n, "/r/prod/slash/") == "/with-slash"
    assert get(f"{n.url}/r/prod/slash").status_code == 404
    assert upath(n, "/r/prod/noslash") == "/without-slash"
    assert get(f"{n.url}/r/prod/noslash/").status_code == 404


def test_percent_decoding_and_reencoding(site):
    nodes, up, _ = site
    n = nodes[0]
    # %6D is 'm': the decoded path matches the literal.
    assert upath(n, "/r/prod/pets/%6Dine") == "/literal"
    # A parameter is decoded for matching and encoded again for the upstream: an encoded
    # slash stays inside the one segment and never becomes a path separator.
    assert upath(n, "/r/prod/files/a%2Fb") == "/f/a%2Fb"
    assert upath(n, "/r/prod/files/hello%20world") == "/f/hello%20world"
    # Dot segments, encoded or not, are refused (see test_dot_segments_never_escape...);
    # "..." is an ordinary name.
    assert get(f"{n.url}/r/prod/files/%2E%2E").status_code == 400
    assert upath(n, "/r/prod/files/...") == "/f/..."
    # Bad escapes: 400.
    r = one_response(n.port, b"GET /r/prod/files/%zz HTTP/1.1\r\nHost: x\r\n"
                             b"Connection: close\r\n\r\n")
    assert r.status == 400, r


def test_query_string_kept(site):
    nodes, up, _ = site
    n = nodes[1]
    assert upath(n, "/r/prod/pets/42?a=1&b=%20x") == "/param/42?a=1&b=%20x"
    assert upath(n, "/r/prod/plain?x=y") == "/plain?x=y"
    assert upath(n, "/r/prod/pets/mine?") in ("/literal?", "/literal")


def test_domain_mappings(edgectl, admin, pb, up_factory, dataplanes):
    a, b, c = up_factory("a"), up_factory("b"), up_factory("c")
    for name, u in (("a", a), ("b", b), ("c", c)):
        edgectl("upstream", "create", name, "--target", u.target)
        edgectl("api", "create", f"api{name}")
        edgectl("route", "create", f"api{name}", "--method", "ANY", "--path", "/{p+}",
                "--upstream", name)
        edgectl("deploy", f"api{name}", "--stage", "prod")
    edgectl("api", "create", "apid")
    edgectl("route", "create", "apid", "--method", "ANY", "--path", "/{p+}", "--upstream", "c")
    edgectl("deploy", "apid", "--stage", "prod")
    edgectl("domain", "map", "shop.example.com", "apia", "prod")
    edgectl("domain", "map", "shop.example.com/v2", "apib", "prod")
    edgectl("domain", "map", "shop.example.com/v2/beta", "apic", "prod")
    edgectl("domain", "map", "*.wild.example.com", "apib", "prod")
    rev = admin.GetStatus(pb.admin.GetStatusRequest()).revision
    nodes = ready_nodes(dataplanes(2), rev)
    for n in nodes:
        def via(path, host):
            r = get(f"{n.url}{path}", headers={"Host": host})
            assert r.status_code == 200, (path, host, r.status_code, r.text)
            return r.json()["upstream"], r.json()["path"]

        assert via("/x/y", "shop.example.com") == ("a", "/x/y")
        assert via("/x/y", "SHOP.example.com:8080") == ("a", "/x/y")
        assert via("/v2/x", "shop.example.com") == ("b", "/x")
        assert via("/v2/beta/x", "shop.example.com") == ("c", "/x")
        assert via("/v2betax", "shop.example.com")[0] == "a"  # base paths match whole segments
        assert via("/q", "api.wild.example.com") == ("b", "/q")
        # A stage without a mapping of its own is served at /{api}/{stage}/ on every host;
        # a mapped one only where it is mapped.
        assert via("/apid/prod/z", "127.0.0.1") == ("c", "/z")
        assert via("/apid/prod/z", "shop.example.com")[0] == "a"  # the mapping of / wins
        assert get(f"{n.url}/apic/prod/z", headers={"Host": "127.0.0.1"}).status_code == 404
        assert get(f"{n.url}/x", headers={"Host": "other.example.com"}).status_code == 404


def test_dot_segments_never_escape_the_matched_route(edgectl, admin, pb, up_factory, dataplanes):
    """The matcher takes "." and ".." as ordinary segments, so a path holding them must not be
    passed on as it is: "/public/../private" matched /public/{p+} but an upstream resolves it
    to /private, a route the API never exposed."""
    up = up_factory("up")
    edgectl("upstream", "create", "up", "--target", up.target)
    edgectl("api", "create", "dot")
    edgectl("route", "create", "dot", "--method", "GET", "--path", "/public/{p+}",
            "--upstream", "up")
    rev = deploy(edgectl, admin, pb, "dot")
    (n,) = ready_nodes(dataplanes(1), rev)
    import posixpath
    for raw_path in (b"/public/../private", b"/public/./../private", b"/public/%2e%2e/private",
                     b"/public/%2E./private", b"/public/.%2e/private", b"/public/a/../../private",
                     b"/public/..", b"/public/x/.."):
        up.requests.clear()
        r = one_response(n.port, b"GET /dot/prod" + raw_path + b" HTTP/1.1\r\nHost: x\r\n"
                                 b"Connection: close\r\n\r\n")
        if r.status == 200:
            seen = up.requests[-1]["path"].split("?")[0]
            import urllib.parse
            resolved = posixpath.normpath(urllib.parse.unquote(seen))
            assert resolved.startswith("/public/") or resolved == "/public", (raw_path, seen)
        else:
            assert r.status in (400, 404), (raw_path, r)
            assert not up.requests, (raw_path, up.requests)
    assert get(f"{n.url}/dot/prod/public/a/b").json()["path"] == "/public/a/b"
    assert get(f"{n.url}/dot/prod/public/..a/b.").json()["path"] == "/public/..a/b."
