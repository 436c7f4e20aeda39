#!/usr/bin/env python3
"""A do-nothing OTLP/HTTP receiver for benchmarks: answers every POST 200 with an empty
protobuf body (a valid empty Export*ServiceResponse) and, on exit (SIGINT/SIGTERM), prints the
number of requests and bytes it took. Usage: scripts/otlp-sink.py [PORT] (default 4318)."""
import http.server
import signal
import sys

port = int(sys.argv[1]) if len(sys.argv) > 1 else 4318
taken = {"requests": 0, "bytes": 0}


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        taken["requests"] += 1
        taken["bytes"] += length
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"otlp-sink: {taken['requests']} requests, {taken['bytes']} bytes", file=sys.stderr)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Sink)
print(f"otlp-sink: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
server.serve_forever()
