"""hermes-router pull against a local HTTP server on loopback (Range
support written here): full download, resume of a .part file, SHA-256
verification (--sha256 and the X-Linked-Etag header), mismatch, non-GGUF
answers, offline message, and the catalogue listing."""
import hashlib
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Runner, free_port, temp_dir  # noqa: E402

R = Runner()
DATA = b"GGUF" + bytes((i * 7 + 3) % 251 for i in range(300000))
SHA = hashlib.sha256(DATA).hexdigest()
seen = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        seen.append((self.path, self.headers.get("Range")))
        body = DATA if not self.path.startswith("/notgguf") else b"<html>nope</html>"
        if self.path.startswith("/missing"):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and not self.path.startswith("/norange"):
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % len(body))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))
        else:
            self.send_response(200)
        if self.path.startswith("/etag"):
            self.send_header("X-Linked-Etag", '"%s"' % (SHA if "good" in self.path else "0" * 64))
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])


port = free_port()
class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # clients that abort a transfer on purpose (no Range support, bad sums)


srv = Server(("127.0.0.1", port), Handler)
threading.Thread(target=srv.serve_forever, daemon=True).start()
base = "http://127.0.0.1:%d" % port


def pull(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([BIN, "pull"] + list(args), capture_output=True, text=True, env=e, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_full_download_with_sha():
    d = temp_dir("hr-pull-")
    rc, out, err = pull(base + "/m/model.gguf", "--dir", d, "--sha256", SHA)
    assert rc == 0, err
    assert out.strip() == os.path.join(d, "model.gguf"), out
    assert open(os.path.join(d, "model.gguf"), "rb").read() == DATA
    assert "verified SHA-256 " + SHA in err, err
    assert not os.path.exists(os.path.join(d, "model.gguf.part"))
    # a second pull finds it
    rc, out, err = pull(base + "/m/model.gguf", "--dir", d, "--sha256", SHA)
    assert rc == 0 and "already there" in err, err


def test_resume_from_part():
    d = temp_dir("hr-pull-")
    with open(os.path.join(d, "r.gguf.part"), "wb") as f:
        f.write(DATA[:123457])
    del seen[:]
    rc, out, err = pull(base + "/r/r.gguf", "--dir", d, env={"HERMES_ROUTER_MODELS": "/nonexistent"})
    assert rc == 0, err
    assert ("/r/r.gguf", "bytes=123457-") in seen, seen
    assert "resuming" in err, err
    assert open(os.path.join(d, "r.gguf"), "rb").read() == DATA
    assert "not verified" in err and SHA in err, err


def test_resume_without_range_support_starts_over():
    d = temp_dir("hr-pull-")
    with open(os.path.join(d, "n.gguf.part"), "wb") as f:
        f.write(DATA[:1000])
    rc, out, err = pull(base + "/norange/n.gguf", "--dir", d)
    assert rc == 0, err
    assert open(os.path.join(d, "n.gguf"), "rb").read() == DATA


def test_complete_part_file():
    d = temp_dir("hr-pull-")
    with open(os.path.join(d, "c.gguf.part"), "wb") as f:
        f.write(DATA)
    rc, out, err = pull(base + "/c/c.gguf", "--dir", d, "--sha256", SHA)
    assert rc == 0, err
    assert open(os.path.join(d, "c.gguf"), "rb").read() == DATA


def test_linked_etag_verification():
    d = temp_dir("hr-pull-")
    rc, out, err = pull(base + "/etag-good/e.gguf", "--dir", d)
    assert rc == 0 and "X-Linked-Etag" in err, err
    rc, out, err = pull(base + "/etag-bad/f.gguf", "--dir", d)
    assert rc == 1 and "SHA-256 mismatch" in err, err
    assert not os.path.exists(os.path.join(d, "f.gguf")) and not os.path.exists(os.path.join(d, "f.gguf.part"))


def test_sha_mismatch_and_bad_files():
    d = temp_dir("hr-pull-")
    rc, out, err = pull(base + "/m/x.gguf", "--dir", d, "--sha256", "1" * 64)
    assert rc == 1 and "SHA-256 mismatch" in err and SHA in err, err
    assert not os.path.exists(os.path.join(d, "x.gguf"))
    rc, out, err = pull(base + "/notgguf/y.gguf", "--dir", d)
    assert rc == 1 and "GGUF" in err, err
    rc, out, err = pull(base + "/missing/z.gguf", "--dir", d)
    assert rc == 1 and "HTTP 404" in err, err
    rc, out, err = pull(base + "/m/x.gguf", "--dir", d, "--sha256", "xyz")
    assert rc == 1 and "64 hex" in err, err


def test_offline_message():
    d = temp_dir("hr-pull-")
    dead = "http://127.0.0.1:%d/models/o.gguf" % free_port()
    rc, out, err = pull(dead, "--dir", d)
    assert rc == 1, err
    assert dead in err and os.path.join(d, "o.gguf") in err and "offline" in err, err
    assert not os.path.exists(os.path.join(d, "o.gguf.part"))


def test_catalogue():
    d = temp_dir("hr-pull-")
    rc, out, err = pull("--list", env={"HERMES_ROUTER_MODELS": d})
    assert rc == 0 and d in out, out
    for name in ("SmolLM2-135M-Instruct", "SmolLM2-360M-Instruct", "SmolLM2-1.7B-Instruct", "Hermes-3-Llama-3.1-8B"):
        assert sum(1 for l in out.splitlines() if l.split()[:1] == [name]) == 2, (name, out)
    rc, out, err = pull("NoSuchModel")
    assert rc == 1 and "unknown model" in err, err
    rc, out, err = pull()
    assert rc == 2


for fn in (test_full_download_with_sha, test_resume_from_part, test_resume_without_range_support_starts_over,
           test_complete_part_file, test_linked_etag_verification, test_sha_mismatch_and_bad_files,
           test_offline_message, test_catalogue):
    R.run(fn)
srv.shutdown()
R.finish()
