#!/usr/bin/env python3
"""A blackhole Elasticsearch for benchmarks of the ingester alone (like Vector's
blackhole sink): answers GET / as OpenSearch 2, accepts template PUTs, and
acknowledges every _bulk item without storing it. GET /_blackhole reports how
many documents and span documents it received, and how many distinct span
document ids and distinct (trace ID, span ID) pairs among them: what an
Elasticsearch index would hold. That is enough to count lost and duplicated
spans; the documents themselves are not checked, so use osmem for that."""
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
received = {"docs": 0, "span_docs": 0, "requests": 0, "bytes": 0}
span_doc_ids = set()
span_pairs = set()  # a document id is {trace id}-{span id}-{hash of the document}
# The action line of a span document; `"_index":"` cannot occur unescaped
# inside a document's JSON strings.
SPAN_ACTION = re.compile(rb'"_index":"[^"]*jaeger-span-[^"]*","_id":"([^"]*)"')


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, body):
        data = json.dumps(body, separators=(",", ":")).encode()  # compact, as Elasticsearch writes it
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
                return self.reply(dict(received, distinct_span_docs=len(span_doc_ids), distinct_spans=len(span_pairs)))
        self.reply({"version": {"distribution": "opensearch", "number": "2.19.0"}})

    def do_PUT(self):
        self.body()
        self.reply({"acknowledged": True})

    def do_POST(self):
        data = self.body()
        if self.path.startswith("/_bulk"):
            lines = data.count(b"\n")
            ids = SPAN_ACTION.findall(data)
            with lock:
                received["docs"] += lines // 2
                received["span_docs"] += len(ids)
                span_doc_ids.update(ids)
                span_pairs.update(i[:49] for i in ids)
                received["requests"] += 1
                received["bytes"] += len(data)
            return self.reply({"took": 0, "errors": False, "items": []})
        self.reply({})


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
