"""What a file that no reader recognises looks like - for the error message.

Pure functions over the first bytes of a file. They never choose a reader: a recording
decodes only when its header or signature names the format (or ``--format`` does); this
only tells the user what the bytes resemble, e.g. "headerless Prophesee EVT 2.0 words"
for a RAW file whose ``% evt 2.0`` header was stripped.

Word-statistics used for headerless Prophesee data (measured on the fixtures: real bodies
score 1.0 on both, random bytes about 0.37 / 0.49 for EVT 2.0 and 0.69 / 0.50 for EVT 3.0):

* the fraction of words whose 4-bit type is defined by the format (EVT 2.0: 0, 1, 8, A,
  E, F in the top nibble of 32-bit words; EVT 3.0: 0, 2-8, A, E, F of 16-bit words);
* the fraction of consecutive TIME_HIGH words that do not decrease.
"""

from __future__ import annotations

import numpy as np

EVT2_TYPES = (0x0, 0x1, 0x8, 0xA, 0xE, 0xF)
EVT3_TYPES = (0x0, 0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0x8, 0xA, 0xE, 0xF)


def byte_entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte (8.0 for uniformly random bytes)."""
    if not data:
        return 0.0
    counts = np.bincount(np.frombuffer(data, np.uint8), minlength=256) / len(data)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts)).sum())


def prophesee_word_scores(body: bytes, version: str) -> tuple[float, float, int]:
    """(valid-type fraction, non-decreasing TIME_HIGH fraction, TIME_HIGH words) of
    ``body`` read as EVT ``version`` ("2" or "3") words."""
    if version == "2":
        words = np.frombuffer(body[: len(body) // 4 * 4], "<u4").astype(np.int64)
        kinds, valid, th_mask = words >> 28, EVT2_TYPES, 0x0FFFFFFF
    else:
        words = np.frombuffer(body[: len(body) // 2 * 2], "<u2").astype(np.int64)
        kinds, valid, th_mask = words >> 12, EVT3_TYPES, 0xFFF
    if not len(words):
        return 0.0, 0.0, 0
    th = words[kinds == 0x8] & th_mask
    mono = float((np.diff(th) >= 0).mean()) if len(th) > 1 else 0.0
    return float(np.isin(kinds, valid).mean()), mono, int(len(th))


def atis_plausible(body: bytes) -> bool:
    """Headerless N-MNIST 40-bit records: whole records, y <= 240, time never decreasing."""
    if not body or len(body) % 5:
        return False
    rec = np.frombuffer(body, np.uint8).reshape(-1, 5).astype(np.int64)
    if (rec[:, 1] > 240).any():
        return False
    keep = rec[:, 1] != 240
    t = ((rec[:, 2] & 127) << 16) | (rec[:, 3] << 8) | rec[:, 4]
    t = t + np.cumsum(~keep) * (1 << 13)
    return bool(keep.any() and (np.diff(t[keep]) >= 0).all())


def _printable(data: bytes) -> float:
    if not data:
        return 0.0
    b = np.frombuffer(data, np.uint8)
    return float(((b >= 32) & (b < 127) | (b == 9) | (b == 10) | (b == 13)).mean())


def looks_like(head: bytes, size: int) -> str:
    """A short description of a file from its first bytes ``head`` and its ``size``."""
    if size == 0:
        return "an empty file (0 bytes)"
    if head.startswith(b"%"):
        lines = head.split(b"\n")
        n_hdr = 0
        for line in lines:
            if not line.startswith(b"%"):
                break
            n_hdr += 1
        all_header = n_hdr == len(lines) or (n_hdr == len(lines) - 1 and lines[-1] == b"")
        text = head.decode("latin-1").lower()
        for key, name in (("evt 2.1", "EVT 2.1"), ("evt21", "EVT 2.1"), ("evt 4", "EVT 4.0")):
            if key in text:
                return f"a Prophesee RAW file in {name}, which no reader here decodes"
        if all_header and size <= len(head):
            cut = "" if head.endswith(b"\n") else ", the last line cut off mid-way"
            return (
                f"a Prophesee '%' text header alone ({size} bytes, {n_hdr} lines{cut}) with no "
                "'% evt' or '% format' line: a RAW file truncated inside its header"
            )
        return (
            f"a Prophesee-style '%' text header ({n_hdr} lines) with neither an '% evt' / "
            "'% format' line (RAW) nor DAT's event type and size bytes after it"
        )
    if head.startswith(b"#!AER-DAT"):
        version = head[9:13].split(b"\r")[0].split(b"\n")[0].decode("latin-1", "replace")
        return f"an AEDAT file of version {version!r}, which no reader here decodes"
    if head.startswith(b"#"):
        return "a '#' text header without the '#!AER-DAT<version>' line that jAER and DV write first"
    if _printable(head) > 0.98:
        first = head.split(b"\n", 1)[0][:60].decode("latin-1")
        return f"a text file starting {first!r}"
    if not any(head):
        return f"{size:,} zero bytes" if size <= len(head) else f"zero bytes (the first {len(head):,} of {size:,})"
    for version, name in (("2", "evt2"), ("3", "evt3")):
        valid, mono, n_th = prophesee_word_scores(head, version)
        if valid > 0.99 and mono > 0.95 and n_th >= 2:
            return (
                f"headerless Prophesee EVT {version}.0 words ({100 * valid:.0f} % valid word types, "
                f"TIME_HIGH increasing): a RAW file without its '% evt' header? "
                f"If so pass --format {name} (and --sensor-size WxH)"
            )
    if atis_plausible(head[: len(head) // 5 * 5]):
        return "headerless N-MNIST 40-bit records (name it .bin, or pass --format nmnist-bin)"
    h = byte_entropy(head)
    if h > 7.5:
        return (
            f"random or compressed bytes ({h:.2f} bits of entropy per byte of 8; "
            f"no event format's header or word structure)"
        )
    hexed = head[:8].hex(" ")
    return f"binary data of no known event layout (starts {hexed}; {h:.1f} bits/byte)"
