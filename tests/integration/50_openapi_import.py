"""OpenAPI import and export through edgectl against a real control plane: corpus files,
dry-run plans, merge and overwrite, export -> import round trips, error messages, and that a
failing import writes nothing."""

import json
import re
from pathlib import Path

import pytest
import requests

CORPUS = Path("/work/shared/openapi-corpus")

PETSTORE3 = """openapi: 3.0.0
info: {title: Swagger Petstore, version: 1.0.0}
servers: [{url: "http://petstore.example.com:8080/v1"}]
components:
  securitySchemes:
    key: {type: apiKey, in: header, name: X-Key}
paths:
  /pets:
    get: {operationId: listPets, summary: List pets, responses: {"200": {description: ok}}}
    post: {operationId: createPet, security: [{key: []}], responses: {"201": {description: ok}}}
  /pets/{petId}:
    get: {operationId: showPet, responses: {"200": {description: ok}}}
"""


def status(edgectl):
    return edgectl("status", "-o", "json").json()


def revision(edgectl):
    s = status(edgectl)
    return int(s.get("revision", 0))


def routes(edgectl, api):
    return edgectl("route", "list", api, "-o", "json").json()


def imp(edgectl, *args, check=True, doc=None):
    if doc is not None:
        return edgectl("api", "import", "-", *args, check=check, input=doc, timeout=60)
    return edgectl("api", "import", *args, check=check, timeout=60)


@pytest.mark.parametrize("name,expect", [
    ("oai-v3.0-petstore.yaml", 3),
    ("oai-v3.0-petstore-expanded.json", 4),
    ("oai-v2.0-petstore.yaml", 3),
    ("oai-v2.0-petstore.json", 3),
    ("readme-swagger2-petstore-full.yaml", 20),
    ("twilio-api-v2010.yaml", None),
    ("stripe-spec3.yaml", None),
    ("github-api.github.com.json", None),
])
def test_corpus_imports(edgectl, name, expect):
    r = imp(edgectl, CORPUS / name, "--name", "c", "-o", "json")
    out = r.json()
    n = len(routes(edgectl, "c"))
    assert n == len([c for c in out.get("changes", []) if c["action"] == "add"])
    if expect is not None:
        assert n == expect, r
    else:
        assert n > 100, r
    assert out["revision"] > 0


def test_no_servers_needs_upstream(edgectl):
    r = imp(edgectl, CORPUS / "oai-v3.0-api-with-examples.yaml", check=1)
    assert "no upstream: the document has no servers; give --upstream" in r.stderr
    edgectl("upstream", "create", "be", "--target", "127.0.0.1:9")
    imp(edgectl, CORPUS / "oai-v3.0-api-with-examples.yaml", "--upstream", "be", "--name", "ex")
    assert len(routes(edgectl, "ex")) == 2


def test_external_refs_clear_error(edgectl):
    r = imp(edgectl, CORPUS / "oai-v2.0-petstore-separate/spec/swagger.json", check=False)
    if r.rc == 1:
        assert "points at another document" in r.stderr, r


def test_dry_run_merge_overwrite(edgectl):
    rev0 = revision(edgectl)
    r = imp(edgectl, "--dry-run", doc=PETSTORE3)
    assert "dry run" in r.stdout and "add" in r.stdout and "/pets/{petId}" in r.stdout, r
    assert revision(edgectl) == rev0
    edgectl("api", "get", "swagger-petstore", check=1)

    r = imp(edgectl, doc=PETSTORE3)
    got = {(x["method"], x["path"]): x for x in routes(edgectl, "swagger-petstore")}
    assert set(got) == {("GET", "/pets"), ("POST", "/pets"), ("GET", "/pets/{petId}")}
    assert got[("POST", "/pets")]["api_key_required"] is True
    assert got[("POST", "/pets")]["api_key_name"] == "X-Key"
    assert got[("GET", "/pets")]["operation_id"] == "listPets"
    assert got[("GET", "/pets")]["integration"]["upstream"] == "swagger-petstore-default"
    assert got[("GET", "/pets")]["integration"]["path"] == "/v1/pets"
    up = edgectl("upstream", "get", "swagger-petstore-default", "-o", "json").json()
    assert up["targets"][0]["port"] == 8080
    api = edgectl("api", "get", "swagger-petstore", "-o", "json").json()
    assert api["title"] == "Swagger Petstore" and api["version"] == "1.0.0"

    # create again: ALREADY_EXISTS
    r = imp(edgectl, doc=PETSTORE3, check=1)
    assert "ALREADY_EXISTS" in r.stderr

    smaller = PETSTORE3.replace("    post: {operationId: createPet, security: [{key: []}], "
                                "responses: {\"201\": {description: ok}}}\n", "")
    smaller = smaller.replace("operationId: listPets", "operationId: listAllPets")
    plan = imp(edgectl, "--mode", "merge", "--dry-run", "-o", "json", doc=smaller).json()
    acts = sorted(c["action"] for c in plan["changes"])
    assert acts == ["change", "keep"], plan
    imp(edgectl, "--mode", "merge", doc=smaller)
    assert len(routes(edgectl, "swagger-petstore")) == 3

    plan = imp(edgectl, "--mode", "overwrite", "--dry-run", "-o", "json", doc=smaller).json()
    assert [c["action"] for c in plan["changes"]].count("remove") == 1
    imp(edgectl, "--mode", "overwrite", doc=smaller)
    assert len(routes(edgectl, "swagger-petstore")) == 2


def strip(rs):
    keep = ("method", "path", "operation_id", "summary", "api_key_required", "api_key_in",
            "api_key_name", "auth_requirements", "integration")
    return sorted((json.dumps({k: r.get(k) for k in keep}, sort_keys=True) for r in rs))


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip(edgectl, fmt):
    imp(edgectl, "--name", "orig", doc=PETSTORE3)
    imp(edgectl, CORPUS / "twilio-api-v2010.yaml", "--name", "tw")
    for api in ("orig", "tw"):
        doc = edgectl("api", "export", api, "--format", fmt).stdout
        if fmt == "json":
            json.loads(doc)
        imp(edgectl, "--name", api + "-copy", doc=doc)
        assert strip(routes(edgectl, api)) == strip(routes(edgectl, api + "-copy"))


BROKEN = [
    ("openapi: 3.0.0\ninfo: {title: x\npaths: {}\n", r"line \d+, column \d+"),
    ('{"openapi": "3.0.0", "paths": {},}', r"line 1, column \d+"),
    ("info: {title: x}\npaths: {}\n", "missing 'openapi' or 'swagger'"),
    ("openapi: 4.0.0\ninfo: {title: x}\npaths: {}\n", "unsupported version '4.0.0'"),
    ("openapi: 3.0.0\ninfo: {title: x}\nservers: [{url: 'http://h'}]\npaths:\n  /a:\n"
     "    get:\n      parameters: [{$ref: '#/components/parameters/nope'}]\n",
     "unresolvable \\$ref '#/components/parameters/nope'"),
    ("openapi: 3.0.0\ninfo: {title: x}\nservers: [{url: 'http://h'}]\npaths:\n"
     "  /a: {$ref: '#/paths/~1b'}\n  /b: {$ref: '#/paths/~1a'}\n", "circular \\$ref"),
    ("openapi: 3.0.0\ninfo: {title: x}\nservers: [{url: 'http://h'}]\npaths:\n  /a:\n"
     "    get: {$ref: 'other.yaml#/get'}\n", "other.yaml"),
]


@pytest.mark.parametrize("doc,msg", BROKEN)
def test_broken_specs(edgectl, doc, msg):
    rev0 = revision(edgectl)
    r = imp(edgectl, "--name", "broken", doc=doc, check=1)
    assert "INVALID_ARGUMENT" in r.stderr and re.search(msg, r.stderr), r
    assert revision(edgectl) == rev0
    edgectl("api", "get", "broken", check=1)


def test_failing_import_is_transactional(edgectl):
    rev0 = revision(edgectl)
    doc = PETSTORE3.replace("/pets/{petId}:\n    get: {operationId: showPet,",
                            "/pets/{petId}:\n    get: {x-edge-integration: {upstream: nope}, "
                            "operationId: showPet,")
    r = imp(edgectl, "--name", "tx", doc=doc, check=1)
    assert "nope" in r.stderr, r
    assert revision(edgectl) == rev0
    edgectl("api", "get", "tx", check=1)
    edgectl("upstream", "get", "tx-default", check=1)


def test_generated_large_spec(edgectl, measure):
    import time
    paths = {f"/r{i}/items/{{id}}": {"get": {"responses": {"200": {"description": "ok"}}}}
             for i in range(5000)}
    doc = json.dumps({"openapi": "3.0.3", "info": {"title": "big", "version": "1"},
                      "servers": [{"url": "http://127.0.0.1:9"}], "paths": paths})
    t = time.monotonic()
    imp(edgectl, doc=doc)
    dt = time.monotonic() - t
    measure(f"openapi import of 5000 operations via edgectl: {dt:.2f}s")
    assert len(routes(edgectl, "big")) == 5000
    assert dt < 10


def test_export_stage_and_formats(edgectl):
    imp(edgectl, "--name", "st", doc=PETSTORE3)
    edgectl("deploy", "st", "--stage", "prod")
    # A route added after the deployment is in the API's export but not the stage's.
    edgectl("route", "create", "st", "--method", "GET", "--path", "/later",
            "--upstream", "st-default")
    doc = json.loads(edgectl("api", "export", "st", "--stage", "prod", "-o", "json").stdout)
    assert doc["openapi"].startswith("3.0")
    assert doc["servers"][0]["url"].endswith("/st/prod")
    assert "/later" not in doc["paths"]
    assert doc["paths"]["/pets/{petId}"]["get"]["parameters"][0]["name"] == "petId"
    assert doc["paths"]["/pets"]["post"]["security"] == [{"api_key": []}]
    assert doc["components"]["securitySchemes"]["api_key"] == {
        "type": "apiKey", "in": "header", "name": "X-Key"}
    ig = doc["paths"]["/pets"]["get"]["x-edge-integration"]
    assert ig == {"upstream": "st-default", "path": "/v1/pets"}
    import yaml
    full = yaml.safe_load(edgectl("api", "export", "st").stdout)
    assert full["openapi"] == "3.0.3" and "/later" in full["paths"]
    assert full["servers"] == [{"url": "http://petstore.example.com:8080"}]
    assert full["info"] == {"title": "Swagger Petstore", "version": "1.0.0"}
    r = edgectl("api", "export", "st", "--stage", "nope", check=1)
    assert "NOT_FOUND" in r.stderr
    r = edgectl("api", "export", "st", "--format", "xml", check=2)
    # -o yaml is the export's own format, and a usage error anywhere else.
    assert yaml.safe_load(edgectl("api", "export", "st", "-o", "yaml").stdout) == full
    r = edgectl("-o", "yaml", "api", "list", check=2)
    assert "only `api export`" in r.stderr


def test_aws_export_with_upstream(edgectl):
    edgectl("upstream", "create", "be", "--target", "127.0.0.1:9")
    r = imp(edgectl, CORPUS / "aws-apigw-export-petstore.oas30.json", check=1)
    assert "server is not usable" in r.stderr and "give --upstream" in r.stderr
    r = imp(edgectl, CORPUS / "aws-apigw-export-petstore.oas30.json", "--upstream", "be",
            "--name", "aws")
    assert 'type "mock" is not supported' in r.stderr
    got = {(x["method"], x["path"]) for x in routes(edgectl, "aws")}
    assert ("OPTIONS", "/pets/{petId}") in got and len(got) == 6


AWS_STAGE_VARS = """{
  "openapi": "3.0.1",
  "info": {"title": "PetStore", "version": "2024-05-02T09:12:45Z"},
  "servers": [{"url": "http://ORIGIN/api"}],
  "paths": {
    "/pets/{petId}": {
      "get": {
        "parameters": [{"name": "petId", "in": "path", "required": true,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "200 response"}},
        "x-amazon-apigateway-integration": {
          "httpMethod": "GET", "type": "http_proxy",
          "uri": "http://${stageVariables.backend}/petstore/pets/{id}",
          "requestParameters": {"integration.request.path.id": "method.request.path.petId"},
          "passthroughBehavior": "when_no_match"}
      }
    },
    "/upload": {
      "post": {
        "responses": {"200": {"description": "ok"}},
        "servers": [{"url": "http://{host}:{port}/files", "variables":
                     {"host": {"default": "127.0.0.1"}, "port": {"default": "UPLOAD_PORT"}}},
                    {"url": "http://backup.invalid"}]
      }
    },
    "/plain": {"get": {"responses": {"200": {"description": "ok"}}}}
  }
}
"""


def test_stage_variable_uris_and_operation_servers(edgectl, echo_factory, dataplanes, cp):
    """An API exported from AWS with http://${stageVariables.backend}/... integrations, plus
    an operation with a server of its own, imported, deployed and served."""
    origin, green, upload = echo_factory("origin"), echo_factory("green"), echo_factory("upload")
    doc = AWS_STAGE_VARS.replace("ORIGIN", origin.target).replace(
        "UPLOAD_PORT", upload.target.split(":")[1])
    r = imp(edgectl, "--name", "aws", "-o", "json", doc=doc)
    warnings = r.json().get("warnings", [])
    assert any("#/paths/~1upload/post/servers: 2 servers; the first is used" in w
               for w in warnings), warnings
    got = {(x["method"], x["path"]): x["integration"] for x in routes(edgectl, "aws")}
    assert got[("GET", "/pets/{petId}")]["upstream"] == "${stageVariables.backend}"
    assert got[("GET", "/pets/{petId}")]["path"] == "/petstore/pets/{petId}"
    up_name = f"aws-127.0.0.1-{upload.target.split(':')[1]}"
    assert (got[("POST", "/upload")]["upstream"], got[("POST", "/upload")]["path"]) == \
        (up_name, "/files/upload")
    assert (got[("GET", "/plain")]["upstream"], got[("GET", "/plain")]["path"]) == \
        ("aws-default", "/api/plain")
    ups = {u["name"] for u in edgectl("-o", "json", "upstream", "list").json()}
    assert {up_name, "aws-default"} <= ups

    # Importing the same document again changes nothing (same upstream names).
    r = imp(edgectl, "--name", "aws", "--mode", "overwrite", "--dry-run", "-o", "json", doc=doc)
    assert {c["action"] for c in r.json()["changes"]} == {"keep"}, r.json()

    edgectl("deploy", "aws", "--stage", "prod")
    edgectl("stage", "update", "aws", "prod", "--var", f"backend={green.target}")
    (n,) = dataplanes(1)
    n.wait_ready()
    n.wait_revision(int(status(edgectl).get("revision", 0)))
    r = requests.get(f"{n.url}/aws/prod/pets/5", timeout=5)
    assert r.status_code == 200 and r.json()["upstream"] == "green"
    assert r.json()["path"] == "/petstore/pets/5"
    r = requests.post(f"{n.url}/aws/prod/upload", data=b"x", timeout=5)
    assert r.json()["upstream"] == "upload" and r.json()["path"] == "/files/upload"
    assert requests.get(f"{n.url}/aws/prod/plain", timeout=5).json()["upstream"] == "origin"

    # Export keeps the variable; importing the export gives the same routes.
    out = edgectl("api", "export", "aws", "--format", "json").stdout
    assert "${stageVariables.backend}" in out
    imp(edgectl, "--name", "aws-copy", doc=out)
    assert strip(routes(edgectl, "aws")) == strip(routes(edgectl, "aws-copy"))
