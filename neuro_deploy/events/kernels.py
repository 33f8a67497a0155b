"""Compiled (numba, cached on disk) decoders of the binary event formats and the
plausibility tally they share.

Every decoder writes straight into :data:`~neuro_deploy.events.types.EVENT_DTYPE` records
(no per-event Python, no temporaries) and runs the plausibility tally of
:mod:`neuro_deploy.events.plausibility` on every :data:`TALLY_EVENTS` events it has
written, while they are still in cache (:func:`tally_block`: one function for the
decoders and for :func:`scan`, which tallies events decoded elsewhere). The formats' bit
layouts are documented in their reader modules (:mod:`neuro_deploy.events.formats`);
decoders that meet damaged input stop and return an error code with the byte offset,
never read or write outside their arrays (every index is checked first: numba does not
check bounds).

Imported lazily by the readers (importing numba takes a while); the first call of each
kernel in a process loads it from numba's on-disk cache.
"""

from __future__ import annotations

import numba
import numpy as np

#: tally state layout (an int64 array of 9, see :class:`~neuro_deploy.events.plausibility.Tally`)
TALLY_FIELDS = ("outside", "backward", "run", "max_run", "last_t", "have_last", "x_max", "y_max", "max_run_t")

# error codes returned by the decoders
(OK, NEED_ROOM, TRUNCATED, X_OVERFLOW, Y_OVERFLOW, BAD_LZ4, BAD_PACKET, UNKNOWN_STREAM, BAD_IDENTIFIER, NEED_DATA) = (
    range(10)
)
ERRORS = {
    TRUNCATED: "truncated",
    X_OVERFLOW: "x beyond the sensor width",
    Y_OVERFLOW: "y beyond the sensor height",
    BAD_LZ4: "corrupt LZ4 data",
    BAD_PACKET: "corrupt packet",
    UNKNOWN_STREAM: "packet of an unknown stream id",
    BAD_IDENTIFIER: "the packet's stream id and its flatbuffer identifier do not match",
}


# ----------------------------------------------------------------------------- tally
INT64_MIN = -(1 << 63)

#: events tallied at a time by the decoders: decoded, then tallied while still in cache
TALLY_EVENTS = 4096
#: events checked at a time against the longest run so far; a longer run is found by
#: redoing just these events one by one
RUN_CHECK_EVENTS = 256


@numba.njit(inline="always")
def put(ev, n, x, y, t, p):
    """Write event ``n`` (unsigned index: no negative-index wraparound code)."""
    e = ev[np.uintp(n)]
    e.x = x
    e.y = y
    e.t = t
    e.p = p


@numba.njit(inline="always")
def tally_runs(ev, n0, n1, st):
    """Time order and runs of ``ev[n0:n1]`` one event at a time: backward steps, the
    current run of equal timestamps, the longest run and its timestamp (the first
    timestamp to reach it)."""
    back = st[1]
    max_run = st[3]
    last_t = st[4] if st[5] else INT64_MIN
    start = n0 - st[2]  # the current run began at event ``start`` (before n0: carried over)
    at = np.int64(-1)
    for k in range(n0, n1):
        t = ev[np.uintp(k)].t
        if t < last_t:
            back += 1
        start = start if t == last_t else k  # a select: runs end unpredictably
        if k - start >= max_run:  # rarely true: a branch
            max_run = k - start + 1
            at = k
        last_t = t
    st[1], st[2], st[3], st[4], st[5] = back, n1 - start, max_run, last_t, 1
    if at >= 0:
        st[8] = ev[np.uintp(at)].t


@numba.njit(cache=True, nogil=True)
def tally_block(ev, n0, n1, st, w, h):
    """The plausibility tally of events ``ev[n0:n1]`` into ``st`` (:data:`TALLY_FIELDS`):
    coordinate extent, events outside ``w`` x ``h`` (``w`` = 0: no sensor), backward time
    steps, the longest run of equal timestamps and where it was.

    The runs take one sequential pass only when they can change the longest run: in a
    block whose time never goes back, a run longer than the longest so far (``m``) ends
    at event k iff ``t[k] == t[k - m]`` (one compare per event, no dependency between
    events), and the run carried in from the previous block is extended by the block's
    leading events of the same timestamp. Otherwise (time going back, a longer run, a
    stretch that is all one run, a recording's first events) :func:`tally_runs` redoes
    the stretch; stretches are :data:`RUN_CHECK_EVENTS` long.
    The result equals the one-event-at-a-time tally whatever the block boundaries."""
    end = n1
    n1 = n0
    while n1 < end:
        n0 = n1
        n1 = min(end, n0 + RUN_CHECK_EVENTS)
        last_t = st[4] if st[5] else INT64_MIN
        m = st[3]
        x_max = np.int64(-1)
        y_max = np.int64(-1)
        neg = np.int64(0)
        back = np.int64(0)
        longer = False
        prev = last_t
        k_check = min(n1, n0 + m)  # from here on t[k - m] is in the block
        for k in range(n0, k_check):
            e = ev[np.uintp(k)]
            t = e.t
            x = np.int64(e.x)
            y = np.int64(e.y)
            x_max = max(x_max, x)
            y_max = max(y_max, y)
            neg |= x | y
            back += t < prev
            prev = t
        for k in range(k_check, n1):
            e = ev[np.uintp(k)]
            t = e.t
            x = np.int64(e.x)
            y = np.int64(e.y)
            x_max = max(x_max, x)
            y_max = max(y_max, y)
            neg |= x | y
            back += t < prev
            longer |= t == ev[np.uintp(k - m)].t
            prev = t
        st[6] = max(st[6], x_max)
        st[7] = max(st[7], y_max)
        if w > 0 and (neg < 0 or x_max >= w or y_max >= h):  # a second look only when needed
            out = 0
            for k in range(n0, n1):
                x = np.int64(ev[np.uintp(k)].x)
                y = np.int64(ev[np.uintp(k)].y)
                out += (x < 0) | (y < 0) | (x >= w) | (y >= h)
            st[0] += out
        if back == 0 and m > 0 and not longer:
            lead = n0
            while lead < n1 and ev[np.uintp(lead)].t == last_t:
                lead += 1
            if lead < n1 and st[2] + (lead - n0) <= m:  # the longest run stands
                j = n1 - 1
                t_end = ev[np.uintp(j)].t
                while j > lead and ev[np.uintp(j - 1)].t == t_end:
                    j -= 1
                st[2], st[4], st[5] = n1 - j, t_end, 1
                continue
        tally_runs(ev, n0, n1, st)


@numba.njit(cache=True, nogil=True)
def scan(ev, w, h, st):
    """Tally events decoded by something else (array containers, AEDAT 2/3)."""
    for n0 in range(0, ev.shape[0], TALLY_EVENTS):
        tally_block(ev, n0, min(ev.shape[0], n0 + TALLY_EVENTS), st, w, h)


# ----------------------------------------------------------------------------- Prophesee
@numba.njit(cache=True, nogil=True)
def evt3_decode(words, i0, state, ev, trig, compat, st, w, h):
    """EVT 3.0 words from ``i0`` -> events; returns (events, index of the next word): it
    stops early, before a word whose events or trigger might not fit in ``ev`` / ``trig``
    (the caller makes room and resumes). state: [y, base_x, pol, t_low, t_high, loops,
    have_high, last_high, n_trig, low_ovfs]. Tallied every :data:`TALLY_EVENTS` events."""
    y, base_x, pol, t_low, t_high, loops, have_high, last_high = (
        state[0],
        state[1],
        state[2],
        state[3],
        state[4],
        state[5],
        state[6],
        state[7],
    )
    low_ovfs = state[9]
    n = 0
    nt = state[8]
    cap = ev.shape[0] - 12
    if compat:
        have_high = 1
    t = (loops << 24) + (t_high << 12) + t_low
    i = i0
    nw = words.shape[0]
    tallied = 0
    full = False
    while i < nw and not full:
        stop = min(nw, i + TALLY_EVENTS // 4)  # typically 1-2 words per event
        while i < stop:
            wd = np.int64(words[np.uintp(i)])
            kind = wd >> 12
            if kind == 0x2:
                if have_high:
                    if n > cap:
                        full = True
                        break
                    put(ev, n, wd & 0x7FF, y, t, (wd >> 11) & 1)
                    n += 1
            elif kind == 0x0:
                y = wd & 0x7FF
            elif kind == 0x6:
                lo = wd & 0xFFF
                if compat and lo < t_low:
                    low_ovfs += 1
                t_low = lo
                if compat:
                    t_high = last_high + low_ovfs
                t = (loops << 24) + (t_high << 12) + t_low
            elif kind == 0x4 or kind == 0x5:
                bits = 12 if kind == 0x4 else 8
                if have_high:
                    if n > cap:
                        full = True
                        break
                    m = wd & ((1 << bits) - 1)
                    b = 0
                    while m:
                        if m & 1:
                            put(ev, n, base_x + b, y, t, pol)
                            n += 1
                        m >>= 1
                        b += 1
                base_x += bits
            elif kind == 0x3:
                base_x = wd & 0x7FF
                pol = (wd >> 11) & 1
            elif kind == 0x8:
                hi = wd & 0xFFF
                if compat:
                    if hi < last_high:
                        loops += 1
                    last_high = hi
                    t_high = hi + low_ovfs
                else:
                    if have_high and hi < last_high and last_high - hi > 0x800:
                        loops += 1
                    t_high = hi
                    last_high = hi
                    have_high = 1
                t = (loops << 24) + (t_high << 12) + t_low
            elif kind == 0xA:
                if have_high:
                    if nt >= trig.shape[0]:
                        full = True
                        break
                    trig[nt, 0] = t
                    trig[nt, 1] = wd & 1
                    trig[nt, 2] = (wd >> 8) & 0xF
                    nt += 1
            i += 1
        tally_block(ev, tallied, n, st, w, h)
        tallied = n
    state[0], state[1], state[2], state[3] = y, base_x, pol, t_low
    state[4], state[5], state[6], state[7], state[8] = t_high, loops, have_high, last_high, nt
    state[9] = low_ovfs
    return n, i


@numba.njit(cache=True, nogil=True)
def evt2_decode(words, state, ev, trig, st, w, h):
    """EVT 2.0 words -> events (at most one per word); returns the count.
    state: [t_high (-1 = none yet), triggers seen, wraps]; triggers beyond ``trig``'s
    room are counted, not written (the caller retries with room for them). Tallied
    every :data:`TALLY_EVENTS` words."""
    t_high = state[0]
    loops = state[2]
    n = 0
    nt = 0
    i = 0
    nw = words.shape[0]
    if t_high < 0:  # events before the first TIME_HIGH have no time
        while i < nw and (words[i] >> 28) != 0x8:
            i += 1
    base = (loops << 34) | (t_high << 6)
    tallied = 0
    while i < nw:
        stop = min(nw, i + TALLY_EVENTS)
        while i < stop:
            wd = np.int64(words[np.uintp(i)])
            kind = wd >> 28
            if kind <= 0x1:
                put(ev, n, (wd >> 11) & 0x7FF, wd & 0x7FF, base | ((wd >> 22) & 0x3F), kind)
                n += 1
            elif kind == 0x8:
                hi = wd & 0x0FFFFFFF
                if hi < t_high and t_high - hi > 0x8000000:
                    loops += 1
                t_high = hi
                base = (loops << 34) | (t_high << 6)
            elif kind == 0xA:
                if nt < trig.shape[0]:
                    trig[nt, 0] = base | ((wd >> 22) & 0x3F)
                    trig[nt, 1] = wd & 1
                    trig[nt, 2] = (wd >> 8) & 0x1F
                nt += 1
            i += 1
        tally_block(ev, tallied, n, st, w, h)
        tallied = n
    state[0] = t_high
    state[1] = nt
    state[2] = loops
    return n


@numba.njit(cache=True, nogil=True)
def dat_decode(words, state, ev, st, w, h):
    """DAT (N, 2) uint32 (t, data) -> N events. state: [last raw t (-1 = none), wraps of 2^32 us]."""
    last = state[0]
    wraps = state[1]
    nw = words.shape[0]
    for i0 in range(0, nw, TALLY_EVENTS):
        for i in range(i0, min(nw, i0 + TALLY_EVENTS)):
            t = np.int64(words[np.uintp(i), 0])
            d = np.int64(words[np.uintp(i), 1])
            if last >= 0 and t - last < -(1 << 31):
                wraps += 1
            last = t
            put(ev, i, d & 0x3FFF, (d >> 14) & 0x3FFF, t + (wraps << 32), (d >> 28) & 0xF)
        tally_block(ev, i0, min(nw, i0 + TALLY_EVENTS), st, w, h)
    state[0] = last
    state[1] = wraps


# ----------------------------------------------------------------------------- N-MNIST / ATIS .bin
@numba.njit(cache=True, nogil=True)
def atis_decode(b, over, ev, st, w, h):
    """Records (N, 5) uint8 -> events; y = 240 records add 2^13 us to all later events.
    Returns (events, overflows so far)."""
    n = 0
    nr = b.shape[0]
    for r0 in range(0, nr, TALLY_EVENTS):
        n0 = n
        for r in range(r0, min(nr, r0 + TALLY_EVENTS)):
            y = np.int64(b[r, 1])
            if y == 240:
                over += 1
                continue
            b2 = np.int64(b[r, 2])
            t = (((b2 & 127) << 16) | (np.int64(b[r, 3]) << 8) | np.int64(b[r, 4])) + (over << 13)
            put(ev, n, np.int64(b[r, 0]), y, t, b2 >> 7)
            n += 1
        tally_block(ev, n0, n, st, w, h)
    return n, over


@numba.njit(cache=True, nogil=True)
def atis_extent(b):
    """(max x, max y) over the records that are not overflow markers; (-1, -1) if none."""
    xm = -1
    ym = -1
    for r in range(b.shape[0]):
        y = np.int64(b[r, 1])
        if y != 240:
            xm = max(xm, np.int64(b[r, 0]))
            ym = max(ym, y)
    return xm, ym


# ----------------------------------------------------------------------------- Event Stream
@numba.njit(cache=True, nogil=True)
def es_decode(b, pos, end, t, width, height, atis, ev, st, w, h):
    """Event Stream 2.x DVS (``atis`` False) or ATIS bytes ``b[pos:end]`` -> events.

    DVS: ``0xFF`` adds 127 us, ``0xFE`` is a reset (skipped), any other byte starts an
    event: ``t += byte >> 1``, polarity ``byte & 1``, then x and y as little-endian uint16.
    ATIS: ``(byte & 0xFC) == 0xFC`` adds ``63 * (byte & 3)`` us, else ``t += byte >> 2``,
    bit 0 = exposure measurement (skipped, as faery does), bit 1 = polarity. y is flipped
    (``height - 1 - y``: Event Stream counts rows from the bottom; faery flips them too).
    Stops before an event cut by ``end``. Returns (events, position, t, error, error position).
    """
    n = 0
    err = OK
    epos = -1
    tallied = 0
    while pos < end:
        c = np.int64(b[pos])
        if atis:
            if (c & 0xFC) == 0xFC:
                t += 63 * (c & 3)
                pos += 1
                continue
        else:
            if c == 0xFF:
                t += 127
                pos += 1
                continue
            if c == 0xFE:
                pos += 1
                continue
        if pos + 5 > end:
            break
        x = np.int64(b[pos + 1]) | (np.int64(b[pos + 2]) << 8)
        if x >= width:
            err, epos = X_OVERFLOW, pos + 2
            break
        y = np.int64(b[pos + 3]) | (np.int64(b[pos + 4]) << 8)
        if y >= height:
            err, epos = Y_OVERFLOW, pos + 4
            break
        if atis:
            t += c >> 2
            if (c & 1) == 0:
                put(ev, n, x, height - 1 - y, t, (c >> 1) & 1)
                n += 1
        else:
            t += c >> 1
            put(ev, n, x, height - 1 - y, t, c & 1)
            n += 1
        pos += 5
        if n - tallied >= TALLY_EVENTS:
            tally_block(ev, tallied, n, st, w, h)
            tallied = n
    tally_block(ev, tallied, n, st, w, h)
    return n, pos, t, err, epos


# ----------------------------------------------------------------------------- LZ4 frames
@numba.njit(cache=True, nogil=True)
def lz4_block(src, s, s_end, dst, d, d_end, d_min):
    """Decompress one LZ4 block ``src[s:s_end]`` to ``dst[d:]`` (matches may reach back to
    ``d_min``: linked blocks of a frame). Returns the new ``d``, or -1 on damaged data."""
    while s < s_end:
        token = np.int64(src[s])
        s += 1
        lit = token >> 4
        if lit == 15:
            while True:
                if s >= s_end:
                    return -1
                c = np.int64(src[s])
                s += 1
                lit += c
                if c != 255:
                    break
        if s + lit > s_end or d + lit > d_end:
            return -1
        for i in range(lit):
            dst[d + i] = src[s + i]
        s += lit
        d += lit
        if s == s_end:
            break
        if s + 2 > s_end:
            return -1
        off = np.int64(src[s]) | (np.int64(src[s + 1]) << 8)
        s += 2
        if off == 0 or d - off < d_min:
            return -1
        ml = token & 15
        if ml == 15:
            while True:
                if s >= s_end:
                    return -1
                c = np.int64(src[s])
                s += 1
                ml += c
                if c != 255:
                    break
        ml += 4
        if d + ml > d_end:
            return -1
        m = d - off
        for i in range(ml):
            dst[d + i] = dst[m + i]
        d += ml
    return d


@numba.njit(cache=True, nogil=True)
def u32(b, i):
    return np.int64(b[i]) | (np.int64(b[i + 1]) << 8) | (np.int64(b[i + 2]) << 16) | (np.int64(b[i + 3]) << 24)


@numba.njit(cache=True, nogil=True)
def lz4_frames(src, s, s_end, scratch):
    """Decompress the LZ4 frames in ``src[s:s_end]`` (frame format: magic 0x184D2204,
    FLG/BD descriptor, blocks with a 4-byte size, high bit = stored uncompressed, 0 = end
    mark, optional block / content checksums, skippable frames). Returns (output, length)
    - ``scratch``, or a larger buffer when it is too small - with length -1 on damaged data."""
    # first pass: the output bound, from the block headers
    bound = 0
    p = s
    while p < s_end:
        if p + 4 > s_end:
            return scratch, -1
        magic = u32(src, p)
        if (magic & 0xFFFFFFF0) == 0x184D2A50:  # skippable frame
            if p + 8 > s_end:
                return scratch, -1
            p += 8 + u32(src, p + 4)
            continue
        if magic != 0x184D2204 or p + 7 > s_end:
            return scratch, -1
        flg = np.int64(src[p + 4])
        bd = np.int64(src[p + 5])
        if (flg >> 6) != 1 or (flg & 1) or ((bd >> 4) & 7) < 4:
            return scratch, -1
        block_max = np.int64(1) << (8 + 2 * ((bd >> 4) & 7))
        p += 7 + (8 if flg & 8 else 0)
        while True:
            if p + 4 > s_end:
                return scratch, -1
            bs = u32(src, p)
            p += 4
            if bs == 0:
                break
            size = bs & 0x7FFFFFFF
            if size > block_max or p + size > s_end:
                return scratch, -1
            bound += size if bs & 0x80000000 else block_max
            p += size + (4 if flg & 16 else 0)
        p += 4 if flg & 4 else 0
    if p != s_end:
        return scratch, -1
    if bound > scratch.shape[0]:
        scratch = np.empty(max(bound, 2 * scratch.shape[0]), np.uint8)
    # second pass: decompress
    d = 0
    p = s
    while p < s_end:
        magic = u32(src, p)
        if (magic & 0xFFFFFFF0) == 0x184D2A50:
            p += 8 + u32(src, p + 4)
            continue
        flg = np.int64(src[p + 4])
        p += 7 + (8 if flg & 8 else 0)
        frame_start = d
        while True:
            bs = u32(src, p)
            p += 4
            if bs == 0:
                break
            size = bs & 0x7FFFFFFF
            if bs & 0x80000000:
                for i in range(size):
                    scratch[d + i] = src[p + i]
                d += size
            else:
                d = lz4_block(src, p, p + size, scratch, d, scratch.shape[0], frame_start)
                if d < 0:
                    return scratch, -1
            p += size + (4 if flg & 16 else 0)
        p += 4 if flg & 4 else 0
    return scratch, d


# ----------------------------------------------------------------------------- AEDAT 4.0
@numba.njit(cache=True, nogil=True)
def aedat4_events(buf, base, length):
    """Locate the event vector of a size-prefixed ``EventPacket`` flatbuffer in
    ``buf[base:base+length]``: (byte offset of the first 16-byte Event, count), count -1
    when the table is damaged, -2 when the identifier is not ``EVTS``."""
    end = base + length
    if length < 12:
        return 0, -1
    if buf[base + 8] != 69 or buf[base + 9] != 86 or buf[base + 10] != 84 or buf[base + 11] != 83:
        return 0, -2
    root = base + 4 + u32(buf, base + 4)
    if root + 4 > end:
        return 0, -1
    soff = u32(buf, root)
    if soff >= 1 << 31:
        soff -= 1 << 32
    vt = root - soff
    if vt < base + 4 or vt + 4 > end:
        return 0, -1
    vt_size = np.int64(buf[vt]) | (np.int64(buf[vt + 1]) << 8)
    if vt_size < 6 or vt + 6 > end:
        return 0, 0  # no elements field: empty packet
    field = np.int64(buf[vt + 4]) | (np.int64(buf[vt + 5]) << 8)
    if field == 0:
        return 0, 0
    fpos = root + field
    if fpos + 4 > end:
        return 0, -1
    vec = fpos + u32(buf, fpos)
    if vec + 4 > end:
        return 0, -1
    count = u32(buf, vec)
    if vec + 4 + 16 * count > end:
        return 0, -1
    return vec + 4, count


@numba.njit(cache=True, nogil=True)
def aedat4_emit(data, base, length, ev, n, st, w, h):
    """The events of one decompressed ``EventPacket`` into ``ev[n:]``, tallied: their
    count, -1/-2 as :func:`aedat4_events`, -3 when they do not fit."""
    el, count = aedat4_events(data, base, length)
    if count < 0:
        return count
    if n + count > ev.shape[0]:
        return -3
    if count:
        e8 = data[el : el + 16 * count]
        e64 = e8.view(np.int64)
        e16 = e8.view(np.int16)
        for i in range(count):
            put(
                ev,
                n + i,
                np.int64(e16[8 * i + 4]),
                np.int64(e16[8 * i + 5]),
                e64[2 * i],
                np.int64(e8[16 * i + 12] != 0),
            )
        tally_block(ev, n, n + count, st, w, h)
    return count


@numba.njit(cache=True, nogil=True)
def aedat4_decode(buf, base, pos, size, stop, lz4, ids, kinds, ev_id, ev, counts, scratch, st, w, h):
    """Packets of an AEDAT 4.0 file from byte ``pos``: (int32 stream id, int32 size, data),
    data LZ4-framed when ``lz4``, else plain; up to ``stop`` (the header's data-table
    position, -1 = none: then the end of the file, ``size`` bytes). ``buf`` holds the
    file's bytes from ``base`` on. Events of stream ``ev_id`` go to ``ev`` (t int64, x
    int16, y int16, on bool per 16-byte Event); packets of other streams are counted in
    ``counts`` by their kind code (``kinds``, index of their id in ``ids``), not
    decompressed. Returns (events, position, status, error position or bytes needed,
    scratch): status NEED_ROOM when the next packet's events do not fit in ``ev``,
    NEED_DATA when the next packet is not all in ``buf`` (then the 4th value is its size);
    ``pos`` is at that packet."""
    n = 0
    status = OK
    epos = -1
    end = base + buf.shape[0]
    while True:
        if stop > -1 and pos == stop:
            break
        if pos + 4 > size:
            if stop != -1:
                status, epos = TRUNCATED, pos
            break
        if pos + 8 > size:
            status, epos = TRUNCATED, pos
            break
        if pos + 8 > end:
            status, epos = NEED_DATA, 8
            break
        sid = u32(buf, pos - base)
        plen = u32(buf, pos - base + 4)
        if pos + 8 + plen > size:
            status, epos = TRUNCATED, pos
            break
        if pos + 8 + plen > end:
            status, epos = NEED_DATA, 8 + plen
            break
        k = -1
        for j in range(ids.shape[0]):
            if ids[j] == sid:
                k = j
        if k < 0:
            status, epos = UNKNOWN_STREAM, pos
            break
        if sid != ev_id:
            counts[kinds[k]] += 1
            pos += 8 + plen
            continue
        if lz4:
            scratch, length = lz4_frames(buf, pos - base + 8, pos - base + 8 + plen, scratch)
            if length < 0:
                status, epos = BAD_LZ4, pos
                break
            count = aedat4_emit(scratch, 0, length, ev, n, st, w, h)
        else:
            count = aedat4_emit(buf, pos - base + 8, plen, ev, n, st, w, h)
        if count == -3:
            status = NEED_ROOM
            break
        if count == -2:
            status, epos = BAD_IDENTIFIER, pos
            break
        if count < 0:
            status, epos = BAD_PACKET, pos
            break
        n += count
        pos += 8 + plen
    return n, pos, status, epos, scratch


# ----------------------------------------------------------------------------- encoders (writers)
@numba.njit(cache=True, nogil=True)
def evt2_encode(x, y, t, p, out):
    """Sorted events -> EVT 2.0 words in ``out`` (room for 2 per event): a TIME_HIGH word
    whenever ``t >> 6`` changes, then one CD word per event. Returns the word count."""
    k = 0
    last = -1
    for i in range(t.shape[0]):
        hi = t[i] >> 6
        if hi != last:
            out[k] = (0x8 << 28) | (hi & 0x0FFFFFFF)
            k += 1
            last = hi
        out[k] = ((p[i] & 1) << 28) | ((t[i] & 0x3F) << 22) | ((x[i] & 0x7FF) << 11) | (y[i] & 0x7FF)
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def evt3_encode(x, y, t, p, out):
    """Sorted events -> EVT 3.0 words in ``out`` (room for 4 per event): TIME_HIGH /
    TIME_LOW when they change, ADDR_Y when y changes, one ADDR_X per event. Returns the count."""
    k = 0
    last_hi = -1
    last_lo = -1
    last_y = -1
    for i in range(t.shape[0]):
        hi = (t[i] >> 12) & 0xFFF
        lo = t[i] & 0xFFF
        if (t[i] >> 12) != last_hi:
            out[k] = (0x8 << 12) | hi
            k += 1
            last_hi = t[i] >> 12
            last_lo = -1
        if lo != last_lo:
            out[k] = (0x6 << 12) | lo
            k += 1
            last_lo = lo
        if y[i] != last_y:
            out[k] = y[i] & 0x7FF
            k += 1
            last_y = y[i]
        out[k] = (0x2 << 12) | ((p[i] & 1) << 11) | (x[i] & 0x7FF)
        k += 1
    return k


@numba.njit(cache=True, nogil=True)
def es_encode(x, y, t, p, height, out):
    """Sorted events -> Event Stream 2.0 DVS bytes in ``out`` (room for 5 + dt // 127 per
    event): ``0xFF`` per 127 us of delay, then ``dt << 1 | p``, x, ``height - 1 - y``
    (little-endian uint16). Returns the byte count."""
    k = 0
    last = t[0] if t.shape[0] else 0
    for i in range(t.shape[0]):
        dt = t[i] - last
        last = t[i]
        while dt >= 127:
            out[k] = 0xFF
            k += 1
            dt -= 127
        yy = height - 1 - y[i]
        out[k] = (dt << 1) | (p[i] & 1)
        out[k + 1] = x[i] & 0xFF
        out[k + 2] = (x[i] >> 8) & 0xFF
        out[k + 3] = yy & 0xFF
        out[k + 4] = (yy >> 8) & 0xFF
        k += 5
    return k


@numba.njit(cache=True, nogil=True)
def lz4_compress(src, dst):
    """LZ4 block compression (greedy, 4096-entry hash of 4-byte sequences, as LZ4's fast
    mode) of ``src`` into ``dst`` (room: ``len(src) + len(src) // 255 + 16``); returns the
    compressed length. The last 5 bytes are literals and no match starts in the last 12,
    as the block format requires."""
    n = src.shape[0]
    table = np.full(4096, -1, np.int64)
    anchor = 0
    i = 0
    d = 0
    while i < n - 12:
        seq = u32(src, i)
        hsh = ((seq * 2654435761) & 0xFFFFFFFF) >> 20
        ref = table[hsh]
        table[hsh] = i
        if ref < 0 or i - ref > 65535 or u32(src, ref) != seq:
            i += 1
            continue
        ml = 4
        while i + ml < n - 5 and src[ref + ml] == src[i + ml]:
            ml += 1
        lit = i - anchor
        token = d
        d += 1
        if lit >= 15:
            r = lit - 15
            while r >= 255:
                dst[d] = 255
                d += 1
                r -= 255
            dst[d] = r
            d += 1
        for j in range(lit):
            dst[d + j] = src[anchor + j]
        d += lit
        dst[d] = (i - ref) & 0xFF
        dst[d + 1] = (i - ref) >> 8
        d += 2
        m = ml - 4
        if m >= 15:
            r = m - 15
            while r >= 255:
                dst[d] = 255
                d += 1
                r -= 255
            dst[d] = r
            d += 1
        dst[token] = (min(lit, 15) << 4) | min(m, 15)
        i += ml
        anchor = i
    lit = n - anchor
    token = d
    d += 1
    if lit >= 15:
        r = lit - 15
        while r >= 255:
            dst[d] = 255
            d += 1
            r -= 255
        dst[d] = r
        d += 1
    for j in range(lit):
        dst[d + j] = src[anchor + j]
    d += lit
    dst[token] = min(lit, 15) << 4
    return d


# ----------------------------------------------------------------------------- binning
@numba.njit(cache=True, nogil=True)
def bin_events(ev, width, height, dt_us, num_steps, t0, binary, out):
    """Events into ``out`` (2, H, W, T) uint8 (see :func:`neuro_deploy.events.tensor.bin_events`):
    bin ``(t - t0) // dt_us``, polarity channel ``p > 0``; events outside the sensor or the
    steps are dropped; ``binary``: 1 per occupied bin, else counts saturating at 255."""
    for i in range(ev.shape[0]):
        e = ev[i]
        k = (np.int64(e.t) - t0) // dt_us
        x = np.int64(e.x)
        y = np.int64(e.y)
        if k < 0 or k >= num_steps or x < 0 or x >= width or y < 0 or y >= height:
            continue
        c = 1 if e.p > 0 else 0
        if binary:
            out[c, y, x, k] = 1
        elif out[c, y, x, k] < 255:
            out[c, y, x, k] += 1
    return out
