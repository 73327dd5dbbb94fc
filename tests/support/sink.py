"""A downstream system for pipeline tests: a real HTTP server on loopback that records
effects by idempotency key, can answer 429 with Retry-After, and can be asked whether an
effect exists (what ``recover`` does after a crash). It also records, per call, when
it started and ended (for the ordering and overlap checks)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class EffectSink:
    def __init__(self):
        self.effects: dict[str, dict] = {}
        self.posts: list[dict] = []
        self.calls: list[dict] = []
        self.rate_limit_next = 0  # answer this many POSTs with 429
        self.retry_after = "2"
        self.fail_always = False
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, body=None, headers=None):
                data = json.dumps(body or {}).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                key = self.path.rsplit("/", 1)[-1]
                with sink.lock:
                    effect = sink.effects.get(key)
                self._reply(200 if effect else 404, effect or {"error": "no such effect"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with sink.lock:
                    if self.path.startswith("/calls"):
                        sink.calls.append(body)
                        return self._reply(200, {"ok": True})
                    sink.posts.append({**body, "at": time.time()})
                    if sink.fail_always:
                        return self._reply(400, {"error": "this downstream refuses everything"})
                    if sink.rate_limit_next > 0:
                        sink.rate_limit_next -= 1
                        return self._reply(429, {"error": "slow down"}, {"Retry-After": sink.retry_after})
                    effect = sink.effects.setdefault(body["key"], {**body, "id": len(sink.effects) + 1})
                self._reply(201, effect)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
