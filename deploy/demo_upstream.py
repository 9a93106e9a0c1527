#!/usr/bin/python3
"""The demo upstream of deploy/local.sh: answers every request with a small JSON document that
echoes what it received (method, path, headers), so a curl through Edge shows what the proxy
sent. /hello answers {"message": "hello from the demo upstream", ...}.

    demo_upstream.py [--host 127.0.0.1] [--port 8000]
"""

import argparse
import http.server
import json
import socketserver


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "EdgeDemoUpstream/1"

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        doc = {"method": self.command, "path": self.path,
               "headers": dict(self.headers.items()),
               "body": body.decode("utf-8", "replace")}
        if self.path.split("?", 1)[0].endswith("/hello"):
            doc = {"message": "hello from the demo upstream", **doc}
        out = (json.dumps(doc, indent=2) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    a = ap.parse_args()
    srv = Server((a.host, a.port), Handler)
    print(f"demo upstream listening on {a.host}:{srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
