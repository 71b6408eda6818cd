"""A byte-wise range asymmetric numeral system (rANS) coder for the learned codec's latents.

Written here from Duda's rANS construction (J. Duda, "Asymmetric numeral systems", 2013; the
byte-wise renormalisation as in F. Giesen's public-domain description): CompressAI's C++ coder
would need CompressAI, whose wheel pins numpy < 2 and pulls torch-geometric (docs/models.md).
The coder is plain Python integers: the codec's latents are small (a few thousand symbols per
image), so speed is not the point; exactness is. Every symbol costs -log2(freq / 2**PRECISION)
bits plus at most 4 bytes of final state per stream.

Symbols are coded against integer frequency tables (`quantise_pmf`); a table's last symbol is an
escape: a value outside the table's range is coded as escape + its offset in Exp-Golomb bits
(each bit coded at exactly probability 1/2), so any integer round-trips and none is clipped.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from ..errors import VisionbenchError

PRECISION = 16  # frequencies sum to 2**16
TOTAL = 1 << PRECISION
LOW = 1 << 23  # the state stays in [LOW, LOW << 8) between symbols
HALF = TOTAL >> 1  # one bypass bit: frequency 2**15 of 2**16, exactly 1 bit


def quantise_pmf(pmf: np.ndarray) -> np.ndarray:
    """Integer frequencies >= 1 summing to exactly 2**PRECISION from probabilities `pmf`
    (any non-negative weights; they are normalised). Every symbol keeps at least frequency 1,
    so a symbol the model calls impossible still decodes; the rounding slack goes to the most
    probable symbol. Deterministic: encoder and decoder rebuild the same table."""
    p = np.asarray(pmf, dtype=np.float64)
    n = p.size
    if n < 1 or n > TOTAL // 2:
        raise VisionbenchError(f"rANS table: {n} symbols, need 1..{TOTAL // 2}")
    if not np.all(np.isfinite(p)) or (p < 0).any() or p.sum() <= 0:
        raise VisionbenchError("rANS table: probabilities must be finite, >= 0 and not all 0")
    p = p / p.sum()
    freq = np.floor(p * (TOTAL - n)).astype(np.int64) + 1
    freq[int(np.argmax(p))] += TOTAL - int(freq.sum())
    return freq


@dataclass(frozen=True)
class Table:
    """One channel's code: symbols `offset .. offset + len(freq) - 2` then the escape."""

    offset: int
    freq: tuple[int, ...]
    start: tuple[int, ...]  # cumulative frequency before each symbol

    @classmethod
    def from_pmf(cls, offset: int, pmf: np.ndarray) -> Table:
        """`pmf` covers the in-range symbols followed by the escape's probability."""
        freq = quantise_pmf(pmf)
        start = np.concatenate([[0], np.cumsum(freq)[:-1]])
        return cls(int(offset), tuple(int(f) for f in freq), tuple(int(s) for s in start))

    @property
    def escape(self) -> int:
        return len(self.freq) - 1


def _exp_golomb_bits(u: int) -> list[int]:
    """Order-0 Exp-Golomb code of u >= 0: n zeros, then the n + 1 bits of u + 1."""
    v = u + 1
    n = v.bit_length() - 1
    return [0] * n + [(v >> i) & 1 for i in range(n, -1, -1)]


def symbols_of(values, tables: list[Table], channel_of) -> list[tuple[int, int]]:
    """(start, freq) of every coded symbol, in decoding order: each value's symbol, and after an
    escape the Exp-Golomb bits of how far outside the table the value lies (sign in the low bit)."""
    out = []
    for i, v in enumerate(values):
        t = tables[channel_of(i)]
        s = int(v) - t.offset
        if 0 <= s < t.escape:
            out.append((t.start[s], t.freq[s]))
            continue
        out.append((t.start[t.escape], t.freq[t.escape]))
        u = 2 * (s - t.escape) if s >= t.escape else 2 * (-1 - s) + 1
        out += [(b * HALF, HALF) for b in _exp_golomb_bits(u)]
    return out


def encode(values, tables: list[Table], channel_of) -> bytes:
    """The rANS bytes of `values` (ints), value i coded with `tables[channel_of(i)]`."""
    syms = symbols_of(values, tables, channel_of)
    x, out = LOW, bytearray()
    for start, freq in reversed(syms):  # rANS is last-in first-out
        x_max = ((LOW >> PRECISION) << 8) * freq
        while x >= x_max:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // freq) << PRECISION) + (x % freq) + start
    out += x.to_bytes(4, "little")
    out.reverse()
    return bytes(out)


class _Decoder:
    def __init__(self, data: bytes):
        if len(data) < 4:
            raise VisionbenchError(f"rANS stream of {len(data)} bytes: too short (need 4)")
        self.data, self.pos = data, 4
        self.x = int.from_bytes(data[:4], "big")

    def pop(self, starts: tuple[int, ...], freqs: tuple[int, ...]) -> int:
        slot = self.x & (TOTAL - 1)
        s = bisect.bisect_right(starts, slot) - 1
        self.x = freqs[s] * (self.x >> PRECISION) + slot - starts[s]
        while self.x < LOW:
            if self.pos >= len(self.data):
                raise VisionbenchError("rANS stream ended early (truncated or corrupt)")
            self.x = (self.x << 8) | self.data[self.pos]
            self.pos += 1
        return s

    def bit(self) -> int:
        return self.pop((0, HALF), (HALF, HALF))


def decode(data: bytes, n: int, tables: list[Table], channel_of) -> list[int]:
    """The `n` values `encode` wrote with the same tables."""
    d, out = _Decoder(data), []
    for i in range(n):
        t = tables[channel_of(i)]
        s = d.pop(t.start, t.freq)
        if s < t.escape:
            out.append(t.offset + s)
            continue
        zeros = 0
        while d.bit() == 0:
            zeros += 1
            if zeros > 64:
                raise VisionbenchError("rANS stream: escape code longer than 64 bits (corrupt)")
        v = 1
        for _ in range(zeros):
            v = (v << 1) | d.bit()
        u = v - 1
        out.append(t.offset + t.escape + u // 2 if u % 2 == 0 else t.offset - 1 - u // 2)
    return out
