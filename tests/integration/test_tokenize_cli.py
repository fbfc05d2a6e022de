"""`hermes-router tokenize`: ids and pieces from a GGUF vocab and from the
Llama 3 tiktoken ranks (Hermes 3 specials), stdin input, usage errors.
Runs the real binary (HR_BIN)."""
import os
import subprocess
import unittest

SRC = os.environ.get("HR_SRC", os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.environ.get("HR_BIN", os.path.join(SRC, "build", "hermes-router"))
SHARED = os.environ.get("HR_SHARED", os.path.join(SRC, "..", "shared"))
LLAMA3 = os.path.join(SHARED, "tokenizers", "llama3", "tokenizer.model")
SPM = os.path.join(SHARED, "tokenizers", "llama-vocab", "ggml-vocab-llama-spm.gguf")


def tok(*args, stdin=None):
    p = subprocess.run([BIN, "tokenize", *args], input=stdin, capture_output=True, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode()


class TokenizeCli(unittest.TestCase):
    def test_tiktoken_ids(self):
        # first vector of llama.cpp's llama-bpe test file
        rc, out, err = tok("--tiktoken", LLAMA3, "--ids", "Hello world")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "9906 1917")

    def test_hermes_specials_need_flag(self):
        text = "<|im_start|>user\nhi<|im_end|>"
        rc, out, err = tok("--tiktoken", LLAMA3, "--hermes3", "--special", "--bos", "--ids", text)
        self.assertEqual(rc, 0, err)
        ids = [int(x) for x in out.split()]
        self.assertEqual(ids[:2], [128000, 128039])
        self.assertEqual(ids[-1], 128040)
        rc, out, err = tok("--tiktoken", LLAMA3, "--hermes3", "--ids", text)
        self.assertEqual(rc, 0, err)
        self.assertTrue(all(int(x) < 128000 for x in out.split()))

    def test_gguf_pieces_and_stdin(self):
        rc, out, err = tok("-m", SPM, "-", stdin="Hello world\n".encode())
        self.assertEqual(rc, 0, err)
        lines = out.strip().splitlines()
        self.assertEqual(lines[-1], "3 tokens, 12 bytes")
        self.assertIn("' Hello'", lines[0])
        self.assertIn("'\\n'", lines[2])

    def test_errors(self):
        rc, _, err = tok("Hello")
        self.assertEqual(rc, 2)
        self.assertIn("-m FILE.gguf or --tiktoken", err)
        rc, _, err = tok("-m", "/nonexistent.gguf", "x")
        self.assertEqual(rc, 1)
        self.assertIn("/nonexistent.gguf", err)
        rc, _, err = tok("--bogus")
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main()
