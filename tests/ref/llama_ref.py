#!/usr/bin/python3
"""Independent numpy reference for the llama forward pass.

Reads a GGUF file itself (its own parser and its own dequantizers, written
from the format description, sharing no code with the C engine), runs the
model in float64 over a token list and writes the logits of every position
as little-endian float32 [n_tokens][n_vocab] to --out.

    /usr/bin/python3 tests/ref/llama_ref.py MODEL.gguf --tokens 1,2,3 --out logits.bin
    /usr/bin/python3 tests/ref/llama_ref.py MODEL.gguf --tokens 1,2,3 --greedy 20

Supported tensor types: f32, f16, bf16, q4_0, q5_0, q8_0, q4_K, q5_K, q6_K.
Run with /usr/bin/python3 (Debian's numpy lives there).
"""
import argparse
import struct
import sys

import numpy as np

VT_SIZES = {0: 'B', 1: 'b', 2: 'H', 3: 'h', 4: 'I', 5: 'i', 6: 'f', 7: '?', 10: 'Q', 11: 'q', 12: 'd'}
# type id -> (block elements, block bytes)
TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 6: (32, 22), 8: (32, 34), 12: (256, 144), 13: (256, 176),
         14: (256, 210), 30: (1, 2)}


class Reader:
    def __init__(self, data):
        self.d = data
        self.p = 0

    def take(self, fmt):
        v = struct.unpack_from('<' + fmt, self.d, self.p)
        self.p += struct.calcsize('<' + fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take('Q')
        s = self.d[self.p:self.p + n]
        self.p += n
        return s.decode('utf-8', errors='replace')

    def value(self, t):
        if t == 8:
            return self.string()
        if t == 9:
            et, n = self.take('I'), self.take('Q')
            return [self.value(et) for _ in range(n)]
        return self.take(VT_SIZES[t])


def read_gguf(path):
    data = open(path, 'rb').read()
    r = Reader(data)
    magic, version = r.take('I'), r.take('I')
    assert magic == 0x46554747 and version in (2, 3), 'not a GGUF v2/v3 file'
    nt, nkv = r.take('Q'), r.take('Q')
    kv = {}
    for _ in range(nkv):
        k = r.string()
        kv[k] = r.value(r.take('I'))
    infos = []
    for _ in range(nt):
        name = r.string()
        nd = r.take('I')
        ne = [r.take('Q') for _ in range(nd)]
        infos.append((name, ne, r.take('I'), r.take('Q')))
    align = kv.get('general.alignment', 32)
    start = (r.p + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        n = int(np.prod(ne))
        be, bb = TYPES[t]
        raw = np.frombuffer(data, dtype=np.uint8, count=n // be * bb, offset=start + off)
        tensors[name] = (dequant(raw, t, n).reshape(list(reversed(ne))), t)
    return kv, tensors


def f16(b):
    return b.copy().view(np.float16).astype(np.float64)


def k_scales(sc):
    """q4_K/q5_K 6-bit scales and mins: sc is [nb, 12] uint8 -> two [nb, 8]."""
    s = np.zeros((sc.shape[0], 8), np.int64)
    m = np.zeros((sc.shape[0], 8), np.int64)
    for j in range(8):
        if j < 4:
            s[:, j] = sc[:, j] & 63
            m[:, j] = sc[:, j + 4] & 63
        else:
            s[:, j] = (sc[:, j + 4] & 0xF) | ((sc[:, j - 4] >> 6) << 4)
            m[:, j] = (sc[:, j + 4] >> 4) | ((sc[:, j] >> 6) << 4)
    return s, m


def dequant(raw, t, n):
    if t == 0:
        return raw.view(np.float32).astype(np.float64)
    if t == 1:
        return raw.view(np.float16).astype(np.float64)
    if t == 30:
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    be, bb = TYPES[t]
    b = raw.reshape(-1, bb)
    if t == 8:
        return (f16(b[:, :2]) * b[:, 2:].view(np.int8).astype(np.float64)).reshape(-1)
    if t == 2:
        qs = b[:, 2:].astype(np.int64)
        q = np.concatenate([qs & 0xF, qs >> 4], axis=1) - 8
        return (f16(b[:, :2]) * q).reshape(-1)
    if t == 6:
        qh = b[:, 2:6].copy().view(np.uint32).astype(np.int64)  # [nb,1]
        qs = b[:, 6:].astype(np.int64)
        j = np.arange(16)
        h0 = ((qh >> j) << 4) & 0x10
        h1 = (qh >> (j + 12)) & 0x10
        q = np.concatenate([(qs & 0xF) | h0, (qs >> 4) | h1], axis=1) - 16
        return (f16(b[:, :2]) * q).reshape(-1)
    if t in (12, 13):
        d, dmin = f16(b[:, 0:2]), f16(b[:, 2:4])
        s, m = k_scales(b[:, 4:16].astype(np.int64))
        if t == 12:
            qs = b[:, 16:144].astype(np.int64).reshape(-1, 4, 32)
            hi = np.zeros_like(qs)
            hi2 = np.zeros_like(qs)
        else:
            qh = b[:, 16:48].astype(np.int64)
            qs = b[:, 48:176].astype(np.int64).reshape(-1, 4, 32)
            hi = np.stack([((qh >> (2 * c)) & 1) << 4 for c in range(4)], axis=1)
            hi2 = np.stack([((qh >> (2 * c + 1)) & 1) << 4 for c in range(4)], axis=1)
        lo = (qs & 0xF) + hi    # [nb, 4, 32] sub-blocks 0,2,4,6
        up = (qs >> 4) + hi2    # sub-blocks 1,3,5,7
        out = np.zeros((b.shape[0], 8, 32))
        for c in range(4):
            out[:, 2 * c] = d * s[:, 2 * c:2 * c + 1] * lo[:, c] - dmin * m[:, 2 * c:2 * c + 1]
            out[:, 2 * c + 1] = d * s[:, 2 * c + 1:2 * c + 2] * up[:, c] - dmin * m[:, 2 * c + 1:2 * c + 2]
        return out.reshape(-1)
    if t == 14:
        ql = b[:, 0:128].astype(np.int64)
        qh = b[:, 128:192].astype(np.int64)
        sc = b[:, 192:208].view(np.int8).astype(np.int64)
        d = f16(b[:, 208:210])
        out = np.zeros((b.shape[0], 256))
        for half in range(2):
            L = ql[:, 64 * half:64 * half + 64]
            H = qh[:, 32 * half:32 * half + 32]
            S = sc[:, 8 * half:8 * half + 8]
            l = np.arange(32)
            is_ = l // 16
            q1 = ((L[:, :32] & 0xF) | ((H >> 0) & 3) << 4) - 32
            q2 = ((L[:, 32:] & 0xF) | ((H >> 2) & 3) << 4) - 32
            q3 = ((L[:, :32] >> 4) | ((H >> 4) & 3) << 4) - 32
            q4 = ((L[:, 32:] >> 4) | ((H >> 6) & 3) << 4) - 32
            base = 128 * half
            out[:, base + 0:base + 32] = d * S[:, is_ + 0] * q1
            out[:, base + 32:base + 64] = d * S[:, is_ + 2] * q2
            out[:, base + 64:base + 96] = d * S[:, is_ + 4] * q3
            out[:, base + 96:base + 128] = d * S[:, is_ + 6] * q4
        return out.reshape(-1)
    raise SystemExit('llama_ref: unsupported tensor type %d' % t)


class Model:
    def __init__(self, path):
        kv, self.t = read_gguf(path)
        arch = kv['general.architecture']
        if arch != 'llama':
            raise SystemExit('llama_ref: architecture %s is not llama' % arch)
        g = lambda k, d=None: kv.get('llama.' + k, d)
        self.E = g('embedding_length')
        self.L = g('block_count')
        self.H = g('attention.head_count')
        self.HKV = g('attention.head_count_kv', self.H)
        self.hd = self.E // self.H
        self.eps = g('attention.layer_norm_rms_epsilon', 1e-5)
        self.base = g('rope.freq_base', 10000.0)
        self.rdim = g('rope.dimension_count', self.hd)
        self.emb = self.W('token_embd.weight')
        self.out = self.W('output.weight') if 'output.weight' in self.t else self.emb
        inv = self.base ** (-np.arange(0, self.rdim, 2) / self.rdim)
        if 'rope_freqs.weight' in self.t:
            inv = inv / self.W('rope_freqs.weight')
        self.inv_freq = inv

    def W(self, name):
        return self.t[name][0]

    def rms(self, x, w):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * w

    def rope(self, x, pos):  # x [T, heads, hd], adjacent pairs rotate
        th = pos[:, None] * self.inv_freq[None, :]  # [T, rdim/2]
        c, s = np.cos(th)[:, None, :], np.sin(th)[:, None, :]
        a, b = x[..., 0:self.rdim:2].copy(), x[..., 1:self.rdim:2].copy()
        x = x.copy()
        x[..., 0:self.rdim:2] = a * c - b * s
        x[..., 1:self.rdim:2] = a * s + b * c
        return x

    def forward(self, tokens):
        T = len(tokens)
        pos = np.arange(T, dtype=np.float64)
        x = self.emb[tokens]
        grp = self.H // self.HKV
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for l in range(self.L):
            p = 'blk.%d.' % l
            h = self.rms(x, self.W(p + 'attn_norm.weight'))
            q = (h @ self.W(p + 'attn_q.weight').T).reshape(T, self.H, self.hd)
            k = (h @ self.W(p + 'attn_k.weight').T).reshape(T, self.HKV, self.hd)
            v = (h @ self.W(p + 'attn_v.weight').T).reshape(T, self.HKV, self.hd)
            q, k = self.rope(q, pos), self.rope(k, pos)
            k = np.repeat(k, grp, axis=1)
            v = np.repeat(v, grp, axis=1)
            att = np.einsum('thd,shd->hts', q, k) / np.sqrt(self.hd) + mask
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            o = np.einsum('hts,shd->thd', att, v).reshape(T, self.E)
            x = x + o @ self.W(p + 'attn_output.weight').T
            h = self.rms(x, self.W(p + 'ffn_norm.weight'))
            gt = h @ self.W(p + 'ffn_gate.weight').T
            up = h @ self.W(p + 'ffn_up.weight').T
            x = x + (gt / (1 + np.exp(-gt)) * up) @ self.W(p + 'ffn_down.weight').T
        return self.rms(x, self.W('output_norm.weight')) @ self.out.T


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model')
    ap.add_argument('--tokens', required=True, help='comma-separated token ids')
    ap.add_argument('--out', help='write logits [T][vocab] float32 here')
    ap.add_argument('--greedy', type=int, default=0, help='print N greedy continuation tokens')
    a = ap.parse_args()
    m = Model(a.model)
    toks = [int(t) for t in a.tokens.split(',') if t]
    logits = m.forward(toks)
    if a.out:
        logits.astype('<f4').tofile(a.out)
    if a.greedy:
        seq = list(toks)
        for _ in range(a.greedy):
            seq.append(int(np.argmax(m.forward(seq)[-1])))
        print(','.join(str(t) for t in seq[len(toks):]))
    return 0


if __name__ == '__main__':
    sys.exit(main())
