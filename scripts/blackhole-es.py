#!/usr/bin/env python3
"""A blackhole Elasticsearch for benchmarks of the ingester alone (like Vector's
blackhole sink): answers GET / as OpenSearch 2, accepts template PUTs, and
acknowledges every _bulk item without storing it. GET /_blackhole reports how
many documents and span documents it received. Never use it for correctness."""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
received = {"docs": 0, "span_docs": 0, "requests": 0, "bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        return self.rfile.read(int(self.headers.get("content-length", 0)))

    def do_GET(self):
        if self.path.startswith("/_blackhole"):
            with lock:
                return self.reply(dict(received))
        self.reply({"version": {"distribution": "opensearch", "number": "2.19.0"}})

    def do_PUT(self):
        self.body()
        self.reply({"acknowledged": True})

    def do_POST(self):
        data = self.body()
        if self.path.startswith("/_bulk"):
            lines = data.count(b"\n")
            with lock:
                received["docs"] += lines // 2
                received["span_docs"] += data.count(b'jaeger-span-')
                received["requests"] += 1
                received["bytes"] += len(data)
            return self.reply({"took": 0, "errors": False, "items": []})
        self.reply({})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
