#!/usr/bin/python3
"""Independent numpy reference for BERT sentence embeddings (bge, MiniLM).

Reads a "bert" GGUF itself (the parser and dequantizers of llama_ref.py,
written from the format description and sharing no code with the C engine),
tokenizes with its own WordPiece (Hugging Face BertTokenizer's rules: clean
text, lowercase, strip accents by NFD, split at whitespace, punctuation and
CJK ideographs, greedy longest match per word), runs the encoder in float64
and pools as the GGUF says (bert.pooling_type 1 mean, 2 CLS; default CLS),
then L2-normalises.

Model: post-LayerNorm BERT. x = LN(tok + pos + type0); per layer
x = LN(x + attn(x) Wo + bo); x = LN(x + gelu(x Wup + bup) Wdown + bdown);
bidirectional attention, scale 1/sqrt(head_dim), GELU the exact erf form.
Truncation: [CLS] + the first context_length - 2 text tokens + [SEP].

    /usr/bin/python3 tests/ref/bert_ref.py MODEL.gguf --texts FILE --out OUT.bin
    /usr/bin/python3 tests/ref/bert_ref.py MODEL.gguf --text 'Hello world'

--emulate-q8 rounds the input of every matmul with q8_0 weights to q8_0 (per
32-block scale max|x|/127 in f16, as the engine quantizes activations), which
leaves only float summation order and rare rounding ties between the two.

--texts: texts separated by NUL bytes (UTF-8). --out gets, per text, little
endian: int32 n_tokens, int32 ids[n_tokens], float32 embedding[hidden].
Supported tensor types: those of llama_ref.py (f32, f16, bf16, q4_0, q5_0,
q8_0, q4_K, q5_K, q6_K). Run with /usr/bin/python3 (Debian's numpy).
"""
import argparse
import math
import os
import struct
import sys
import unicodedata

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import read_gguf  # noqa: E402

WORD_START = '\u2581'  # GGUF spelling of a word-initial WordPiece token


def is_whitespace(ch):
    return ch in ' \t\n\r' or unicodedata.category(ch) == 'Zs'


def is_control(ch):
    if ch in '\t\n\r':
        return False
    return unicodedata.category(ch).startswith('C')


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith('P')


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    def __init__(self, kv):
        assert kv.get('tokenizer.ggml.model') == 'bert', 'not a WordPiece vocabulary'
        self.vocab = {t: i for i, t in enumerate(kv['tokenizer.ggml.tokens'])}
        self.unk = kv['tokenizer.ggml.unknown_token_id']
        self.cls = kv['tokenizer.ggml.cls_token_id']
        self.sep = kv['tokenizer.ggml.seperator_token_id']

    def words(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or is_control(ch):
                continue
            if is_whitespace(ch):
                out.append(' ')
            elif is_cjk(cp):
                out.append(' %s ' % ch)
            else:
                out.append(ch)
        words = []
        for w in ''.join(out).split():
            w = ''.join(c for c in unicodedata.normalize('NFD', w.lower()) if unicodedata.category(c) != 'Mn')
            cur = ''
            for ch in w:
                if is_punctuation(ch):
                    if cur:
                        words.append(cur)
                    words.append(ch)
                    cur = ''
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def encode(self, text):
        ids = []
        for w in self.words(text):
            pieces, start = [], 0
            while start < len(w):
                end, found = len(w), None
                while end > start:
                    sub = (WORD_START if start == 0 else '') + w[start:end]
                    if sub in self.vocab:
                        found = self.vocab[sub]
                        break
                    end -= 1
                if found is None:
                    pieces = [self.unk]
                    break
                pieces.append(found)
                start = end
            ids.extend(pieces)
        return ids


_erf = np.vectorize(math.erf)


def q8_0_roundtrip(x):
    """Activations as a q8_0 dot product sees them (--emulate-q8): per block
    of 32, d = max|x| / 127 stored as f16, q = round(x / d) in [-127, 127]."""
    T, k = x.shape
    b = x.reshape(T, k // 32, 32)
    d = np.abs(b).max(-1, keepdims=True) / 127.0
    q = np.rint(np.divide(b, d, out=np.zeros_like(b), where=d > 0))
    return (q * d.astype(np.float16).astype(np.float64)).reshape(T, k)


class Bert:
    def __init__(self, path, emulate_q8=False):
        self.emulate_q8 = emulate_q8
        kv, self.t = read_gguf(path)
        arch = kv['general.architecture']
        if arch != 'bert':
            raise SystemExit('bert_ref: architecture %s is not bert' % arch)
        g = lambda k, d=None: kv.get('bert.' + k, d)
        self.E = g('embedding_length')
        self.L = g('block_count')
        self.H = g('attention.head_count')
        self.hd = self.E // self.H
        self.ctx = g('context_length')
        self.eps = g('attention.layer_norm_epsilon', 1e-12)
        self.pooling = g('pooling_type', 2)
        self.tok = WordPiece(kv)

    def W(self, name):
        return self.t[name][0]

    def ln(self, x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + self.eps) * self.W(p + '.weight') + self.W(p + '.bias')

    def lin(self, x, p):
        w, wt = self.t[p + '.weight']
        if self.emulate_q8 and wt == 8:
            x = q8_0_roundtrip(x)
        return x @ w.T + self.W(p + '.bias')

    def ids(self, text):
        return [self.tok.cls] + self.tok.encode(text)[:self.ctx - 2] + [self.tok.sep]

    def embed(self, ids):
        T = len(ids)
        x = self.W('token_embd.weight')[ids] + self.W('position_embd.weight')[:T]
        if 'token_types.weight' in self.t:
            x = x + self.W('token_types.weight')[0]
        x = self.ln(x, 'token_embd_norm')
        for l in range(self.L):
            p = 'blk.%d.' % l
            q = self.lin(x, p + 'attn_q').reshape(T, self.H, self.hd)
            k = self.lin(x, p + 'attn_k').reshape(T, self.H, self.hd)
            v = self.lin(x, p + 'attn_v').reshape(T, self.H, self.hd)
            att = np.einsum('thd,shd->hts', q, k) / math.sqrt(self.hd)
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum('hts,shd->thd', att, v).reshape(T, self.E)
            x = self.ln(x + self.lin(o, p + 'attn_output'), p + 'attn_output_norm')
            h = self.lin(x, p + 'ffn_up')
            h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
            x = self.ln(x + self.lin(h, p + 'ffn_down'), p + 'layer_output_norm')
        v = x.mean(0) if self.pooling == 1 else x[0]
        return v / max(np.linalg.norm(v), 1e-12)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('--texts', help='file of NUL-separated UTF-8 texts')
    ap.add_argument('--text', action='append', default=[], help='a text (repeatable)')
    ap.add_argument('--out', help='write [n, ids, embedding] records here')
    ap.add_argument('--emulate-q8', action='store_true',
                    help='round the activations of q8_0 matmuls to q8_0, as the engine does')
    a = ap.parse_args()
    m = Bert(a.model, a.emulate_q8)
    texts = list(a.text)
    if a.texts:
        texts += open(a.texts, 'rb').read().decode('utf-8').split('\0')
    recs = []
    for s in texts:
        ids = m.ids(s)
        recs.append((ids, m.embed(ids)))
    if a.out:
        with open(a.out, 'wb') as f:
            for ids, v in recs:
                f.write(struct.pack('<i', len(ids)))
                f.write(np.asarray(ids, '<i4').tobytes())
                f.write(v.astype('<f4').tobytes())
    else:
        for (ids, v), s in zip(recs, texts):
            print('%r: %d tokens %s' % (s[:40], len(ids), ids[:12]))
            print('  ' + ' '.join('%.6f' % x for x in v[:8]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
