"""Shared helpers for integration tests: a scripted OpenAI-compatible upstream
on loopback, the real gateway binary started with a generated config, and
small HTTP helpers. Python standard library only."""
import atexit
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIN = os.environ.get("HR_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "hermes-router"))



def temp_dir(prefix):
    """A fresh folder, removed when the test process exits."""
    d = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, d, True)
    return d

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Upstream:
    """A scripted upstream. Every request is recorded. The answer is
    'reply from <name>: <last user text>'; a user text containing
    'SLOW' streams one chunk every 0.2 s for 50 chunks; 'FAIL500' answers 500;
    'BADJSON' answers invalid JSON."""

    def __init__(self, name):
        self.name = name
        self.requests = []
        self.disconnects = 0
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path.endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": up.name, "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "nope"}})

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                up.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
                msgs = body.get("messages", [])
                text = ""
                for m in msgs:
                    if m.get("role") == "user" and isinstance(m.get("content"), str):
                        text = m["content"]
                answer = "reply from %s: %s" % (up.name, text[:50])
                model = body.get("model", "none")
                if "FAIL500" in text:
                    return self._json(500, {"error": {"message": "upstream exploded", "type": "server_error"}})
                if "BADJSON" in text:
                    data = b"{not json"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if body.get("stream"):
                    return self._stream(model, answer, "SLOW" in text, body)
                self._json(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}})

            def _json(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, model, answer, slow, body):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def send(obj):
                    data = ("data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))).encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

                words = answer.split(" ")
                if slow:
                    words = ["w%d " % i for i in range(50)]
                try:
                    for i, w in enumerate(words):
                        delta = {"content": w if slow else (w if i == 0 else " " + w)}
                        if i == 0:
                            delta["role"] = "assistant"
                        send({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": model,
                              "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                        if slow:
                            time.sleep(0.2)
                    send({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": model,
                          "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        send({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": model,
                              "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": len(words),
                                                       "total_tokens": 5 + len(words)}})
                    send("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    up.disconnects += 1

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = "http://127.0.0.1:%d/v1" % self.port

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Gateway:
    def __init__(self, config_text, extra_args=()):
        self.dir = temp_dir("hr-it-")
        self.port = free_port()
        self.db = os.path.join(self.dir, "log.db")
        cfg = config_text.replace("{PORT}", str(self.port)).replace("{DB}", self.db)
        self.config = os.path.join(self.dir, "config.yaml")
        with open(self.config, "w") as f:
            f.write(cfg)
        self.log = open(os.path.join(self.dir, "stderr.txt"), "w+")
        self.proc = subprocess.Popen([BIN, "serve", "--config", self.config] + list(extra_args),
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("gateway exited: " + self.output())
            try:
                s, _, _ = self.request("GET", "/health")
                if s == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not start: " + self.output())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def request(self, method, path, body=None, headers=None, raw=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        conn.close()
        return resp.status, hdrs, text

    def chat(self, body, headers=None):
        s, h, t = self.request("POST", "/v1/chat/completions", body, headers)
        try:
            j = json.loads(t)
        except ValueError:
            j = None
        return s, h, j, t

    def stream(self, body, headers=None):
        """Returns (status, headers, list of parsed events, raw text)."""
        s, h, t = self.request("POST", "/v1/chat/completions", body, headers)
        events = []
        for block in t.split("\n\n"):
            if block.startswith("data: "):
                payload = block[6:]
                events.append(payload if payload == "[DONE]" else json.loads(payload))
        return s, h, events, t

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.returncode


class Runner:
    """Tiny test runner with a closing line CI understands."""

    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, fn, *args):
        name = fn.__name__
        try:
            fn(*args)
            self.passed += 1
            print("ok   %s" % name, flush=True)
        except Exception as e:  # noqa
            self.failed += 1
            import traceback
            print("FAIL %s: %s" % (name, e), flush=True)
            traceback.print_exc()

    def finish(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        sys.exit(1 if self.failed else 0)
