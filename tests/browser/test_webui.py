"""Browser test of the web UI against the real gateway binary.

Starts a scripted OpenAI-compatible upstream per tier (streams word by word;
answers tool calls, JSON and Markdown on cue), the real gateway in front of
them, then drives Debian's chromium headless with Playwright (playwright-core
from web/node_modules, never a downloaded browser) through
tests/browser/webui.spec.mjs. Screenshots go to test-artifacts/webui/.

Exit 77 (CTest: skipped) when chromium, node or web/node_modules is missing.
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import Gateway, free_port  # noqa: E402

SKIP = 77
CHROMIUM = os.environ.get("HR_CHROMIUM", "/usr/bin/chromium")
NODE = shutil.which("node")
PLAYWRIGHT = os.path.join(ROOT, "web", "node_modules", "playwright-core")

MARKDOWN_REPLY = (
    "Here is **bold text** and `inline code`.\n\n- first item\n- second item\n\n"
    "```\nprint('hi')\n```\n\n<img src=\"data:,\" onerror=\"window.pwned=1\"><script>window.pwned=2</script>"
)


class ScriptedUpstream:
    """One tier's model server. Records each request body."""

    def __init__(self, name):
        self.name = name
        self.requests = []
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self._send(200, "application/json", json.dumps({"object": "list", "data": []}).encode())

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                up.requests.append(body)
                msgs = body.get("messages", [])
                last = msgs[-1] if msgs else {}
                text = last.get("content") if isinstance(last.get("content"), str) else ""
                model = body.get("model", "?")
                if last.get("role") == "tool":
                    deltas = [{"content": w} for w in words("It is **18 °C** with light rain in Paris.")]
                elif body.get("tools") and "weather" in text.lower():
                    args = json.dumps({"city": "Paris", "unit": "celsius"})
                    deltas = [{"tool_calls": [{"index": 0, "id": "call_w1", "type": "function",
                                               "function": {"name": "get_weather", "arguments": ""}}]}]
                    deltas += [{"tool_calls": [{"index": 0, "function": {"arguments": args[i:i + 7]}}]}
                               for i in range(0, len(args), 7)]
                elif body.get("response_format"):
                    deltas = [{"content": w} for w in words('{"city": "Tokyo", "country": "Japan", "population": 13960000}')]
                elif "markdown" in text.lower():
                    deltas = [{"content": w} for w in words(MARKDOWN_REPLY)]
                elif "SLOW" in text:
                    deltas = [{"content": "tick %d " % i} for i in range(200)]
                else:
                    deltas = [{"content": w} for w in words("reply from %s: %s" % (up.name, text[:60]))]
                finish = "tool_calls" if deltas and "tool_calls" in deltas[0] else "stop"
                if not body.get("stream"):
                    content = "".join(d.get("content", "") for d in deltas)
                    return self._send(200, "application/json", json.dumps({
                        "id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                     "finish_reason": finish}],
                        "usage": {"prompt_tokens": 9, "completion_tokens": len(deltas), "total_tokens": 9 + len(deltas)}}).encode())
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                delay = 0.1 if "SLOW" in text else 0.04
                try:
                    for i, d in enumerate(deltas):
                        if i == 0:
                            d = dict(d, role="assistant")
                        self._event({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
                                     "model": model, "choices": [{"index": 0, "delta": d, "finish_reason": None}]})
                        time.sleep(delay)
                    self._event({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1, "model": model,
                                 "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                    if (body.get("stream_options") or {}).get("include_usage"):
                        self._event({"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": 1,
                                     "model": model, "choices": [],
                                     "usage": {"prompt_tokens": 9, "completion_tokens": len(deltas),
                                               "total_tokens": 9 + len(deltas)}})
                    self._event("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _event(self, obj):
                data = ("data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _send(self, status, ctype, data):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/v1" % self.port


def words(text):
    """Splits text into stream deltas that keep every character."""
    out, cur = [], ""
    for ch in text:
        cur += ch
        if ch == " ":
            out.append(cur)
            cur = ""
    if cur:
        out.append(cur)
    return out


def run_embedded(rc, artifacts, medium_url):
    """The same UI against the embedded engine (tiny real model) once the
    gateway accepts `type: embedded`; until then this part reports itself
    skipped. The small tier is the engine, medium stays scripted."""
    model = os.path.join(os.environ.get("HR_SHARED", os.path.join(ROOT, "..", "shared")), "models", "stories260K.gguf")
    if not os.path.exists(model):
        print("skip embedded backend: %s not found" % model)
        return rc
    config = """
server: {{ listen: 127.0.0.1:{{PORT}}, threads: 1 }}
tiers:
  small:  {{ backends: [{{ type: embedded, model: "{model}", threads: 1, parallel: 1, context: 256 }}] }}
  medium: {{ backends: [{{ type: openai, url: {m}, model: hermes-3-70b }}] }}
router: {{ strategy: rules }}
log: {{ sqlite: "{{DB}}" }}
""".format(model=model, m=medium_url)
    try:
        gw = Gateway(config)
    except RuntimeError as e:
        print("skip embedded backend: the gateway does not run it yet (%s)" % str(e).strip().splitlines()[-1][:160])
        return rc
    env = dict(os.environ, HR_URL="http://127.0.0.1:%d" % gw.port, HR_ARTIFACTS=artifacts, HR_CHROMIUM=CHROMIUM,
               HR_PLAYWRIGHT=PLAYWRIGHT, HR_SPEC="embedded")
    try:
        r = subprocess.call([NODE, os.path.join(HERE, "webui.spec.mjs")], env=env, timeout=240)
    except subprocess.TimeoutExpired:
        print("FAIL: the embedded browser run took longer than 240 s")
        r = 1
    gw.stop()
    return rc or r


def main():
    missing = [what for what, ok in (("chromium (" + CHROMIUM + ")", os.access(CHROMIUM, os.X_OK)),
                                     ("node", NODE is not None),
                                     ("web/node_modules/playwright-core (cd web && npm ci)", os.path.isdir(PLAYWRIGHT)))
               if not ok]
    if missing:
        print("SKIP: missing " + ", ".join(missing))
        sys.exit(SKIP)
    ups = {t: ScriptedUpstream(t + "-up") for t in ("small", "medium", "large")}
    config = """
server: {{ listen: 127.0.0.1:{{PORT}}, threads: 2 }}
tiers:
  small:  {{ aliases: [hermes-8b],   backends: [{{ type: openai, url: {s}, model: hermes-3-8b }}] }}
  medium: {{ aliases: [hermes-70b],  backends: [{{ type: openai, url: {m}, model: hermes-3-70b }}] }}
  large:  {{ aliases: [hermes-405b], backends: [{{ type: openai, url: {l}, model: hermes-3-405b }}] }}
router: {{ strategy: rules }}
log: {{ sqlite: "{{DB}}" }}
""".format(s=ups["small"].url, m=ups["medium"].url, l=ups["large"].url)
    gw = Gateway(config)
    artifacts = os.path.join(ROOT, "test-artifacts", "webui")
    os.makedirs(artifacts, exist_ok=True)
    for f in os.listdir(artifacts):
        if f.startswith("FAILED-"):
            os.remove(os.path.join(artifacts, f))  # from an earlier run
    env = dict(os.environ, HR_URL="http://127.0.0.1:%d" % gw.port, HR_ARTIFACTS=artifacts, HR_CHROMIUM=CHROMIUM,
               HR_PLAYWRIGHT=PLAYWRIGHT)
    try:
        rc = subprocess.call([NODE, os.path.join(HERE, "webui.spec.mjs")], env=env, timeout=240)
    except subprocess.TimeoutExpired:
        print("FAIL: the browser run took longer than 240 s")
        rc = 1
    rc = run_embedded(rc, artifacts, ups["medium"].url) if rc == 0 else rc
    # What the upstreams received: the UI's settings reached them.
    checks = []
    small_bodies = ups["small"].requests
    large_bodies = ups["large"].requests
    all_bodies = small_bodies + ups["medium"].requests + large_bodies
    checks.append(("a forced request reached the large tier", len(large_bodies) >= 1))
    checks.append(("requests streamed with usage", any(b.get("stream") and (b.get("stream_options") or {}).get("include_usage") for b in all_bodies)))
    checks.append(("temperature/top_p/max_tokens sent", any("temperature" in b and "top_p" in b and "max_tokens" in b for b in all_bodies)))
    checks.append(("tools sent in function-calling mode", any(b.get("tools") and b["tools"][0]["function"]["name"] == "get_weather" for b in all_bodies)))
    checks.append(("tool result sent back", any(any(m.get("role") == "tool" for m in b.get("messages", [])) for b in all_bodies)))
    checks.append(("json_schema sent in JSON mode", any((b.get("response_format") or {}).get("type") == "json_schema" for b in all_bodies)))
    for name, ok in checks:
        print(("ok   " if ok else "FAIL ") + "upstream: " + name)
    out = gw.output()
    code = gw.stop()
    if code not in (0, None, -15):
        print("FAIL gateway exited with %s:\n%s" % (code, out))
        rc = 1
    if "ERROR: AddressSanitizer" in out or "runtime error:" in out:
        print("FAIL sanitizer report in the gateway's output:\n" + out)
        rc = 1
    if not all(ok for _, ok in checks):
        rc = 1
    print("browser test: " + ("passed" if rc == 0 else "FAILED") + "; screenshots in " + artifacts)
    sys.exit(rc)


if __name__ == "__main__":
    main()
