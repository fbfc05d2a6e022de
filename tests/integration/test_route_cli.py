"""`hermes-router route`: single prompts (text and --json), --jsonl batches,
--config, and clean usage errors. Runs the real binary (HR_BIN)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("HR_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.environ.get("HR_BIN", os.path.join(SRC, "build", "hermes-router"))


def route(*args, stdin=None):
    p = subprocess.run([BIN, "route", *args], input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def fields(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k.strip()] = v.strip()
    return out


CONFIG = """\
tiers:
  small:
    aliases: [hermes-8b]
    backends: [{type: openai, url: "http://127.0.0.1:9/v1", model: s}]
  medium:
    backends: [{type: openai, url: "http://127.0.0.1:9/v1", model: m}]
router:
  strategy: rules
  rules: {large_context_chars: 40, medium_context_chars: 20, simple_keywords: [ping]}
"""


class RouteCli(unittest.TestCase):
    def test_single_prompt(self):
        rc, out, err = route("翻译：今天天气很好")
        self.assertEqual(rc, 0, err)
        f = fields(out)
        self.assertEqual(f["tier"], "small")
        self.assertEqual(f["reason"], "simple-task keyword: 翻译")
        self.assertEqual(f["strategy"], "rules")
        self.assertTrue(f["time"].endswith("us"))
        rc, out, _ = route("x" * 20001)
        self.assertEqual(fields(out)["tier"], "large")
        self.assertEqual(fields(out)["reason"], "context over 20K chars")

    def test_json_has_features(self):
        rc, out, err = route("--json", "--max-tokens", "4096", "Why is the sky blue? translate it")
        self.assertEqual(rc, 0, err)
        d = json.loads(out)
        self.assertEqual(d["tier"], "medium")
        self.assertEqual(d["reason"], "max_tokens over 2048")
        self.assertEqual(d["strategy"], "rules")
        self.assertFalse(d["forced"])
        self.assertIsNone(d["probabilities"])
        self.assertGreaterEqual(d["route_us"], 0)
        feat = d["features"]
        self.assertEqual(feat["max_tokens"], 4096)
        self.assertEqual(feat["n_messages"], 1)
        self.assertEqual(feat["matched"]["reasoning"], ["why"])
        self.assertEqual(feat["matched"]["simple"], ["translate"])
        self.assertEqual(feat["rule"], "max_tokens")

    def test_forced_model(self):
        rc, out, _ = route("--json", "--model", "large", "translate this")
        self.assertEqual(rc, 0)
        d = json.loads(out)
        self.assertEqual((d["tier"], d["reason"], d["strategy"], d["forced"]), ("large", "user override", "override", True))
        rc, out, err = route("--model", "gpt-4", "hi")
        self.assertEqual(rc, 1)
        self.assertIn("gpt-4", err)

    def test_prompt_from_stdin(self):
        rc, out, err = route("-", stdin="list the files".encode())
        self.assertEqual(rc, 0, err)
        self.assertEqual(fields(out)["reason"], "simple-task keyword: list")

    def test_jsonl(self):
        lines = [
            {"id": 1, "prompt": "translate this"},
            {"id": "b", "messages": [{"role": "system", "content": "translate"}, {"role": "user", "content": "分布式系统"}]},
            {"id": 3, "prompt": "hi", "max_tokens": 4096},
        ]
        text = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n"
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
            f.write(text)
            path = f.name
        try:
            rc, out, err = route("--jsonl", path)
        finally:
            os.unlink(path)
        self.assertEqual(rc, 0, err)
        rows = [json.loads(x) for x in out.splitlines()]
        self.assertEqual(rows, [
            {"id": 1, "tier": "small", "reason": "simple-task keyword: translate", "probabilities": None},
            {"id": "b", "tier": "medium", "reason": "complex-code keyword: 分布式", "probabilities": None},
            {"id": 3, "tier": "medium", "reason": "max_tokens over 2048", "probabilities": None},
        ])

    def test_jsonl_bad_lines_are_reported_and_skipped(self):
        text = '{"id":1,"prompt":"hi"}\nnot json\n{"id":2}\n{"id":3,"messages":[]}\n{"id":4,"prompt":"ping"}\n'
        rc, out, err = route("--jsonl", "-", stdin=text.encode())
        self.assertEqual(rc, 1)
        self.assertEqual([json.loads(x)["id"] for x in out.splitlines()], [1, 4])
        self.assertIn("-:2: not a JSON object", err)
        self.assertIn("-:3: needs a string 'prompt' or a 'messages' array", err)
        self.assertIn("-:4:", err)

    def test_config_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(CONFIG)
            path = f.name
        try:
            rc, out, err = route("--config", path, "x" * 41)
            self.assertEqual(rc, 0, err)
            self.assertEqual(fields(out)["tier"], "medium")  # large mapped onto the biggest enabled tier
            self.assertEqual(fields(out)["reason"], "context over 40 chars")
            rc, out, _ = route("--config", path, "ping")
            self.assertEqual(fields(out)["reason"], "simple-task keyword: ping")
            rc, out, _ = route("--config", path, "--model", "hermes-8b", "x" * 41)
            self.assertEqual(fields(out)["tier"], "small")
        finally:
            os.unlink(path)
        rc, _, err = route("--config", "/nonexistent/hr.yaml", "hi")
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent/hr.yaml", err)

    def test_usage_errors(self):
        for args in ([], ["--bogus", "x"], ["a", "b"], ["--jsonl"], ["--max-tokens", "0", "x"], ["--jsonl", "-", "x"]):
            rc, out, err = route(*args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(out, "")
            self.assertEqual(len(err.strip().splitlines()), 1, err)
        rc, out, _ = route("--help")
        self.assertEqual(rc, 0)
        self.assertIn("--jsonl", out)


if __name__ == "__main__":
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} is not built")
    unittest.main()
