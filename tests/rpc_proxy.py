"""A loopback HTTP proxy between bitcoIM and its node, for the withdrawal
tests: it forwards every JSON-RPC call unchanged, except the
`sendtoaddress` calls a test scripts in advance.

Scripted behaviours (one per coming `sendtoaddress`, in order; once the
script is empty, calls are forwarded again):

- ("forward",): forward and relay the answer (the default);
- ("drop-reply",): forward the call, so the node really sends, then close
  the connection without answering: a lost reply;
- ("error", code, message): do not forward; answer with that JSON-RPC
  error, as bitcoind words it (HTTP 500, JSON body). A scripted double:
  the regtest node cannot produce each error code on demand (-13 needs an
  encrypted wallet, -32603 an internal failure, and so on), so the proxy
  replays bitcoind's reply shape instead;
- ("http", status, body): do not forward; answer that raw HTTP status and
  body (an HTTP 500 whose body is not JSON, as a broken reverse proxy or a
  crashing node would give);
- ("stall", seconds): do not forward; say nothing for that long (longer
  than the daemon's RPC timeout), then close the connection.

It binds 127.0.0.1 on a free port and runs in daemon threads; `close()`
stops it.
"""

import http.client
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class RpcProxy:
    def __init__(self, target_port, target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self._lock = threading.Lock()
        self._script = []
        # Every call seen, as (method, what was done): "forwarded",
        # "reply-dropped", "error -6", "http 500", "stalled".
        self.calls = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # One request per connection: simple, and what ureq copes with.
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):
                pass  # quiet: the tests print the daemon's log instead

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    request = json.loads(body)
                    method = request.get("method")
                    request_id = request.get("id")
                except (ValueError, AttributeError):
                    method, request_id = None, None
                action = ("forward",)
                if method == "sendtoaddress":
                    action = proxy._next_send_action()
                kind = action[0]
                if kind == "forward":
                    status, reply = proxy._forward(self.path, body, self.headers)
                    proxy._record(method, "forwarded")
                    self._answer(status, reply)
                elif kind == "drop-reply":
                    proxy._forward(self.path, body, self.headers)
                    proxy._record(method, "reply-dropped")
                    # No status line, no body: the connection just closes.
                    self.close_connection = True
                elif kind == "error":
                    _, code, message = action
                    proxy._record(method, f"error {code}")
                    reply = json.dumps({"result": None,
                                        "error": {"code": code, "message": message},
                                        "id": request_id}).encode()
                    self._answer(500, reply)
                elif kind == "http":
                    _, status, text = action
                    proxy._record(method, f"http {status}")
                    self._answer(status, text.encode(), content_type="text/html")
                elif kind == "stall":
                    proxy._record(method, "stalled")
                    time.sleep(action[1])
                    self.close_connection = True
                else:
                    raise ValueError(f"unknown proxy action {action!r}")

            def _answer(self, status, body, content_type="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def script_send(self, *actions):
        """Queues behaviours for the next `sendtoaddress` calls."""
        with self._lock:
            self._script.extend(actions)

    def _next_send_action(self):
        with self._lock:
            return self._script.pop(0) if self._script else ("forward",)

    def _record(self, method, what):
        with self._lock:
            self.calls.append((method, what))

    def sends(self):
        """What happened to each `sendtoaddress` call so far."""
        with self._lock:
            return [what for method, what in self.calls if method == "sendtoaddress"]

    def _forward(self, path, body, headers):
        conn = http.client.HTTPConnection(*self.target, timeout=60)
        try:
            forwarded = {"Content-Type": headers.get("Content-Type", "application/json")}
            if headers.get("Authorization"):
                forwarded["Authorization"] = headers["Authorization"]
            conn.request("POST", path, body, forwarded)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
