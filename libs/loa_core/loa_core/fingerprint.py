"""A perceptual fingerprint of a video, to tell whether a copy found elsewhere is (part of) a cut the ward published.

Platforms strip a C2PA manifest when they re-encode, so the picture itself has to be recognisable. The fingerprint is
a pHash (imagehash: the lowest 8x8 DCT frequencies of a 32x32 grayscale frame, against their median) of frames
sampled at a fixed rate, FPS. What each step is for:

- every frame is squashed to 32x32 gray before hashing, whatever its size or aspect: a re-encode at a lower bitrate
  or a rescale to 720p changes the fine detail that pHash throws away anyway;
- a frame agrees with another within FRAME_BITS of its 64 bits: a logo in a corner or compression noise moves a few;
- a sequence is matched to another by sliding one along the other (every offset) and counting agreeing frames on
  each diagonal: trimming either end or cutting out an excerpt only moves the diagonal, and the agreeing frames at
  the best offset give the span of the post that was reused;
- a landscape cut also keeps the hashes of its centre 9:16 crop (`center`): a vertical copy cropped from the middle
  of the horizontal post is matched against those. A crop off the centre is not (it is another picture);
- frames without a picture (black, a fade, a flat card) hash to NO_PICTURE and never count: every post starting with
  black would otherwise resemble every other one.

Matching many cuts (FingerprintIndex) first looks up exact 16-bit bands of the query's hashes in sorted arrays
(a frame within FRAME_BITS of another shares at least one band with it often enough: it is a re-encode of it) and
votes per (cut, offset); only the cuts with the most votes are aligned exactly.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from loa_core import media

Hashes = npt.NDArray[np.uint64]
Variant = Literal["full", "center"]

# Frames hashed per second. 2 fps: a 20 s excerpt is 40 frames, a 10-minute cut 1,200 (19 kB in an event).
FPS = 2.0
# pHash's own input size (hash_size 8 x highfreq_factor 4): ffmpeg scales to it once, imagehash resizes nothing.
FRAME_PIXELS = 32
# Two frames agree when their hashes differ in at most this many of 64 bits. Unrelated pictures differ in ~32
# (P(<= 12) is ~1e-6 for independent bits); a re-encode, a rescale or a corner logo in 0-10.
FRAME_BITS = 12
# A frame whose gray levels vary less than this (standard deviation, 0-255) has no picture to recognise.
FLAT_STD = 4.0
NO_PICTURE = 0  # pHash of a real picture sets about half its bits, never none
# A match needs this many agreeing frames (4 s at 2 fps) making up at least MIN_SCORE of the frames compared.
MIN_AGREEING = 8
MIN_SCORE = 0.5
VERSION = "pf1"


@dataclass(frozen=True, eq=False)
class Fingerprint:
    """The hashes of a video's frames at `fps`, in order (NO_PICTURE where a frame has none); `center`: those of
    each frame's centre 9:16 crop, for landscape videos only (None when it is the whole frame)."""

    full: Hashes
    center: Hashes | None = None
    fps: float = FPS

    def __post_init__(self) -> None:
        if self.center is not None and len(self.center) != len(self.full):
            raise ValueError("a fingerprint's centre hashes must be as many as its frames")
        if self.fps <= 0:
            raise ValueError("a fingerprint's rate must be positive")

    @property
    def duration_s(self) -> float:
        return len(self.full) / self.fps

    @property
    def pictures(self) -> int:
        """How many frames have a picture (could be recognised at all)."""
        return int(np.count_nonzero(self.full != NO_PICTURE))

    def tracks(self) -> list[tuple[Variant, Hashes]]:
        tracks: list[tuple[Variant, Hashes]] = [("full", self.full)]
        if self.center is not None:
            tracks.append(("center", self.center))
        return tracks

    def to_text(self) -> str:
        """`pf1:<fps>:<full>:<center or ->`, each a base64 of big-endian 64-bit hashes (contracts carry it so)."""
        center = "-" if self.center is None else _b64(self.center)
        return f"{VERSION}:{self.fps:g}:{_b64(self.full)}:{center}"

    @classmethod
    def from_text(cls, text: str) -> Fingerprint:
        parts = text.split(":")
        if len(parts) != 4 or parts[0] != VERSION:
            raise ValueError(f"not a {VERSION} fingerprint")
        try:
            fps = float(parts[1])
            full = _unb64(parts[2])
            center = None if parts[3] == "-" else _unb64(parts[3])
        except ValueError as exc:
            raise ValueError(f"a damaged fingerprint: {exc}") from exc
        return cls(full=full, center=center, fps=fps)


def _b64(hashes: Hashes) -> str:
    return base64.b64encode(hashes.astype(">u8").tobytes()).decode("ascii")


def _unb64(text: str) -> Hashes:
    raw = base64.b64decode(text, validate=True)
    if len(raw) % 8:
        raise ValueError("hashes are 8 bytes each")
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64)


# --- From a file ---------------------------------------------------------------------------------------------------


def decode_graph(fps: float | None = FPS, source: str = "0:v:0", out: str = "out") -> str:
    """The filtergraph from the video `source` (an input stream) to `out`: for each sampled frame, the whole frame
    and its centre 9:16 crop side by side, each squashed to FRAME_PIXELS square in gray (pure).

    fps None: every frame, as the input has them (`frame_prints`; a branch of another run, `prints_output_args`)."""
    side = FRAME_PIXELS
    rate = "" if fps is None else f"fps={fps:g},"
    return (
        f"[{source}]{rate}format=gray,split=2[{out}a][{out}b];"
        f"[{out}a]scale={side}:{side}:flags=area[{out}f];"
        # The centre 9:16 of a landscape frame; a frame already 9:16 or narrower is kept whole.
        f"[{out}b]crop=w='min(iw,ih*9/16)':h='min(ih,iw*16/9)',scale={side}:{side}:flags=area[{out}c];"
        f"[{out}f][{out}c]hstack=inputs=2[{out}]"
    )


def prints_output_args(label: str, target: str) -> list[str]:
    """The output of `decode_graph(None, ..., label)`: every frame once, as decoded (passthrough: none dropped or
    doubled to a rate), raw bytes to `target` (pipe:1, or a file)."""
    return ["-map", f"[{label}]", "-fps_mode", "passthrough", "-f", "rawvideo", target]


def decode_args(path: Path, fps: float | None = FPS) -> list[str]:
    """ffmpeg's arguments (after the program name) writing `decode_graph`'s frames as raw bytes on stdout (pure).

    fps None: every frame, as the file has them (`frame_prints`)."""
    # "file:" stops ffmpeg from reading a name like "concat:..." as a protocol.
    args = ["-i", f"file:{path}", "-filter_complex", decode_graph(fps)]
    if fps is None:
        return [*args, *prints_output_args("out", "pipe:1")]
    return [*args, "-map", "[out]", "-f", "rawvideo", "pipe:1"]


def frame_hash(frame: npt.NDArray[np.uint8]) -> int:
    """The pHash of one grayscale frame as a 64-bit integer, NO_PICTURE when it has no picture."""
    import imagehash  # the libraries that decode and hash only where files are fingerprinted
    from PIL import Image

    if float(frame.std()) < FLAT_STD:
        return NO_PICTURE
    bits = imagehash.phash(Image.fromarray(frame)).hash.flatten()
    return int.from_bytes(np.packbits(bits).tobytes(), "big") or NO_PICTURE + 1


def frame_hashes(raw: bytes, side: int = FRAME_PIXELS) -> tuple[Hashes, Hashes]:
    """The hashes of the whole frames and of their centre crops, from decode_args' raw output."""
    per_frame = side * 2 * side
    count = len(raw) // per_frame
    frames = np.frombuffer(raw[: count * per_frame], np.uint8).reshape(count, side, 2 * side)
    full = np.array([frame_hash(f[:, :side]) for f in frames], dtype=np.uint64)
    center = np.array([frame_hash(f[:, side:]) for f in frames], dtype=np.uint64)
    return full, center


async def fingerprint_file(path: Path, *, timeout_s: float | None = None) -> Fingerprint:
    """Decode `path` at FPS (small gray frames, through loa_core.media) and hash every frame. Raises MediaError."""
    raw = await media.ffmpeg_stdout(decode_args(path), timeout_s)
    full, center = await asyncio.to_thread(frame_hashes, raw)
    return Fingerprint(full=full, center=None if np.array_equal(full, center) else center)


# --- From parts (a live's chunks) ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class FramePrints:
    """The hashes of every frame of a part of a video at its constant frame `rate`: the part's share of the whole's
    fingerprint, whichever of the whole's frames it turns out to start at (`sampled`). A live chunk's cut is
    fingerprinted so as it is encoded, before the frames of the chunks before it are known."""

    full: Hashes
    center: Hashes
    rate: Fraction

    def to_text(self) -> str:
        """`ff1:<rate>:<full>:<center>`, each a base64 of big-endian 64-bit hashes."""
        return f"{FRAMES_VERSION}:{self.rate}:{_b64(self.full)}:{_b64(self.center)}"

    @classmethod
    def from_text(cls, text: str) -> FramePrints:
        parts = text.split(":")
        if len(parts) != 4 or parts[0] != FRAMES_VERSION:
            raise ValueError(f"not {FRAMES_VERSION} frame hashes")
        return cls(full=_unb64(parts[2]), center=_unb64(parts[3]), rate=Fraction(parts[1]))

    def sampled(self, first_frame: int, fps: float = FPS, start_s: float = 0.0) -> Fingerprint:
        """The whole's samples that show this part's frames, when the part starts at frame `first_frame` of the
        whole, whose first frame is at `start_s` (as ffprobe prints it, to the microsecond) (pure). ffmpeg's fps
        filter (decode_args) gives sample n the last frame whose time, rounded to the nearest sample (halves up),
        is at most n: frame k, at t_k = start_s + k / rate, is shown by the samples from round(t_k * fps) to just
        before round(t_(k+1) * fps), and by none when those are equal."""
        step = Fraction(fps) / self.rate
        start = Fraction(f"{start_s:.6f}") * Fraction(fps)
        edges = [math.floor(start + (first_frame + j) * step + Fraction(1, 2)) for j in range(len(self.full) + 1)]
        shown = np.array([b - a for a, b in itertools.pairwise(edges)], dtype=np.int64)
        full, center = np.repeat(self.full, shown), np.repeat(self.center, shown)
        return Fingerprint(full=full, center=None if np.array_equal(full, center) else center, fps=fps)


FRAMES_VERSION = "ff1"


async def frame_prints(path: Path, rate: Fraction, *, timeout_s: float | None = None) -> FramePrints:
    """Every frame of `path` (a constant `rate`) hashed as `fingerprint_file` hashes its samples. Raises
    MediaError."""
    return await hashed_frames(await media.ffmpeg_stdout(decode_args(path, fps=None), timeout_s), rate)


async def hashed_frames(raw: bytes, rate: Fraction) -> FramePrints:
    """The FramePrints of every frame `decode_graph(None)` wrote as `raw` (a constant `rate`)."""
    full, center = await asyncio.to_thread(frame_hashes, raw)
    return FramePrints(full=full, center=center, rate=rate)


def concatenate(parts: Sequence[Fingerprint]) -> Fingerprint:
    """The fingerprint of a video made of parts end to end, from theirs (`FramePrints.sampled`) (pure)."""
    if not parts:
        raise ValueError("no parts to join")
    fps = parts[0].fps
    if any(p.fps != fps for p in parts):
        raise ValueError("parts sampled at different rates cannot be joined")
    full = np.concatenate([p.full for p in parts])
    center = np.concatenate([p.full if p.center is None else p.center for p in parts])
    return Fingerprint(full=full, center=None if np.array_equal(full, center) else center, fps=fps)


def joined_prints(parts: Sequence[tuple[str | None, int | None]], *, start_s: float = 0.0) -> str | None:
    """The fingerprint (text) of a video made of parts end to end, from each part's frame hashes (FramePrints text)
    and the frames it holds (pure): each part's samples once the frames before it are counted, which is exactly the
    whole's fingerprint (frame-exact parts at a constant rate), its first frame at `start_s`. None when a part has no
    hashes (from a release before they were made) or not one per frame: the whole is then fingerprinted itself."""
    sampled = []
    first = 0
    for text, frames in parts:
        every = FramePrints.from_text(text) if text is not None else None
        if every is None or frames is None or len(every.full) != frames:
            return None
        sampled.append(every.sampled(first, start_s=start_s))
        first += frames
    return concatenate(sampled).to_text() if sampled else None


# --- Matching (pure) -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alignment:
    """The best placement of a query on a reference: the query's frame i shows the reference's frame i + offset."""

    variant: Variant  # which of the reference's hashes: the whole frames, or their centre crops
    offset: int
    agreeing: int  # frames within FRAME_BITS at this offset
    compared: int  # frames with a picture on both sides at this offset
    ref_first: int  # the first and last agreeing frames, in the reference's frames
    ref_last: int
    fps: float

    @property
    def score(self) -> float:
        return self.agreeing / self.compared if self.compared else 0.0

    @property
    def span_s(self) -> tuple[float, float]:
        """Where in the reference (the post) the match lies, in seconds."""
        return self.ref_first / self.fps, (self.ref_last + 1) / self.fps

    @property
    def query_start_s(self) -> float:
        """Where in the query the matched span starts."""
        return (self.ref_first - self.offset) / self.fps


def agreement(query: Hashes, ref: Hashes, max_bits: int = FRAME_BITS) -> tuple[npt.NDArray[np.int64], ...]:
    """For every offset (index k is offset k - (len(query) - 1)): how many frames agree, and how many were compared
    (a picture on both sides). Blocks of the query keep the distance matrix under ~2 M cells."""
    n, m = len(query), len(ref)
    size = max(n + m - 1, 0)
    agree = np.zeros(size, np.int64)
    compared = np.zeros(size, np.int64)
    if n == 0 or m == 0:
        return agree, compared
    ref_has = ref != NO_PICTURE
    columns = np.arange(m)
    block = max(1, 2_000_000 // m)
    for start in range(0, n, block):
        part = query[start : start + block]
        distance = np.bitwise_count(part[:, None] ^ ref[None, :])
        valid = (part != NO_PICTURE)[:, None] & ref_has[None, :]
        diagonal = columns[None, :] - np.arange(start, start + len(part))[:, None] + (n - 1)
        agree += np.bincount(diagonal[valid & (distance <= max_bits)], minlength=size)
        compared += np.bincount(diagonal[valid], minlength=size)
    return agree, compared


def best_alignment(query: Hashes, ref: Hashes, variant: Variant = "full", fps: float = FPS) -> Alignment | None:
    """The offset with the most agreeing frames, if it makes a match (MIN_AGREEING, MIN_SCORE); else None."""
    agree, compared = agreement(query, ref)
    passing = (agree >= MIN_AGREEING) & (agree >= MIN_SCORE * np.maximum(compared, 1))
    if not passing.any():
        return None
    candidates = np.flatnonzero(passing)
    k = int(candidates[np.argmax(agree[candidates])])
    offset = k - (len(query) - 1)
    first_q, last_q = max(0, -offset), min(len(query), len(ref) - offset)
    q = query[first_q:last_q]
    r = ref[first_q + offset : last_q + offset]
    hits = np.flatnonzero((q != NO_PICTURE) & (r != NO_PICTURE) & (np.bitwise_count(q ^ r) <= FRAME_BITS))
    return Alignment(
        variant=variant,
        offset=offset,
        agreeing=int(agree[k]),
        compared=int(compared[k]),
        ref_first=int(hits[0]) + first_q + offset,
        ref_last=int(hits[-1]) + first_q + offset,
        fps=fps,
    )


def match(query: Fingerprint, ref: Fingerprint) -> Alignment | None:
    """The query's whole frames against the reference's whole frames and centre crops: the better placement."""
    if query.fps != ref.fps:
        raise ValueError(f"fingerprints at {query.fps:g} and {ref.fps:g} fps cannot be compared")
    found = [a for variant, hashes in ref.tracks() if (a := best_alignment(query.full, hashes, variant, ref.fps))]
    return max(found, key=lambda a: (a.agreeing, a.score), default=None)


def clock(seconds: float) -> str:
    """A time in a video as people write it: 00:35, 01:10, 1:02:03."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


# --- Many references ------------------------------------------------------------------------------------------------

BANDS = 4  # a hash is looked up by each of its four 16-bit quarters
BAND_MASK = np.uint64(0xFFFF)
MIN_VOTES = 2  # band hits on one (cut, offset) before the cut is aligned exactly
CANDIDATES = 32  # at most this many cuts are aligned exactly per query
OFFSET_BUCKET = 2  # votes within this many frames of offset count together (a phase shift moves a frame by one)


@dataclass(frozen=True)
class Match:
    key: str
    alignment: Alignment


@dataclass
class _Bands:
    """Every picture frame of the indexed tracks: its hash, track and position, sorted by each 16-bit band."""

    tracks: list[tuple[str, Variant, Hashes]]
    track: npt.NDArray[np.int32]
    position: npt.NDArray[np.int32]
    sorted_bands: list[npt.NDArray[np.uint16]] = field(default_factory=list)
    orders: list[npt.NDArray[np.int32]] = field(default_factory=list)

    @classmethod
    def build(cls, tracks: list[tuple[str, Variant, Hashes]]) -> _Bands:
        hashes, track, position = [], [], []
        for t, (_, _, h) in enumerate(tracks):
            where = np.flatnonzero(h != NO_PICTURE)
            hashes.append(h[where])
            track.append(np.full(len(where), t, np.int32))
            position.append(where.astype(np.int32))
        all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
        bands = cls(
            tracks,
            np.concatenate(track) if track else np.zeros(0, np.int32),
            np.concatenate(position) if position else np.zeros(0, np.int32),
        )
        for b in range(BANDS):
            values = ((all_hashes >> np.uint64(16 * b)) & BAND_MASK).astype(np.uint16)
            order = np.argsort(values, kind="stable")
            bands.sorted_bands.append(values[order])
            bands.orders.append(order.astype(np.int32))  # half the memory of argsort's int64 (10,000 cuts: ~45 MB)
        return bands

    def candidates(self, query: Hashes) -> list[int]:
        """The tracks with the most band hits on one offset (at least MIN_VOTES), best first."""
        positions = np.flatnonzero(query != NO_PICTURE)
        if not len(positions) or not len(self.track):
            return []
        # A band value shared by very many frames (near-flat pictures) says little and costs much: skipped.
        crowded = max(256, 20 * len(self.track) // 65536)
        keys = []
        for b in range(BANDS):
            values = ((query[positions] >> np.uint64(16 * b)) & BAND_MASK).astype(np.uint16)
            lo = np.searchsorted(self.sorted_bands[b], values, "left")
            hi = np.searchsorted(self.sorted_bands[b], values, "right")
            counts = np.where(hi - lo > crowded, 0, hi - lo)
            total = int(counts.sum())
            if not total:
                continue
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(total)
            frames = self.orders[b][starts]
            offset = self.position[frames].astype(np.int64) - np.repeat(positions, counts)
            keys.append(self.track[frames].astype(np.int64) << 32 | ((offset + (1 << 30)) // OFFSET_BUCKET))
        if not keys:
            return []
        voted, votes = np.unique(np.concatenate(keys), return_counts=True)
        strong = votes >= MIN_VOTES
        ranked = (voted[strong] >> 32)[np.argsort(-votes[strong], kind="stable")]
        return [int(t) for t in dict.fromkeys(ranked.tolist())][:CANDIDATES]


class FingerprintIndex:
    """Fingerprints by key (a published cut), searched for the cuts a query shows.

    Cuts added since the band arrays were built are aligned exactly without the prefilter until they are more than
    a twentieth of the whole (then everything is rebuilt), so adding one cut between two searches stays cheap.
    """

    def __init__(self) -> None:
        self._prints: dict[str, Fingerprint] = {}
        self._bands = _Bands.build([])
        self._recent: list[str] = []

    def __len__(self) -> int:
        return len(self._prints)

    def __contains__(self, key: str) -> bool:
        return key in self._prints

    def add(self, key: str, fingerprint: Fingerprint) -> None:
        if key in self._prints:
            self._prints[key] = fingerprint
            self._rebuild()
            return
        self._prints[key] = fingerprint
        self._recent.append(key)
        if len(self._recent) > max(64, len(self._prints) // 20):
            self._rebuild()

    def extend(self, items: Iterable[tuple[str, Fingerprint]]) -> None:
        for key, fingerprint in items:
            self._prints[key] = fingerprint
        self._rebuild()

    def _rebuild(self) -> None:
        tracks = [(key, variant, h) for key, fp in self._prints.items() for variant, h in fp.tracks()]
        self._bands = _Bands.build(tracks)
        self._recent = []

    def search(self, query: Fingerprint, limit: int = 3) -> list[Match]:
        """The cuts the query matches, best first (most agreeing frames), one alignment per cut."""
        tracks = [self._bands.tracks[t] for t in self._bands.candidates(query.full)]
        tracks += [(key, variant, h) for key in self._recent for variant, h in self._prints[key].tracks()]
        best: dict[str, Alignment] = {}
        for key, variant, hashes in tracks:
            fps = self._prints[key].fps
            if fps != query.fps:
                continue
            found = best_alignment(query.full, hashes, variant, fps)
            if found and (key not in best or (found.agreeing, found.score) > (best[key].agreeing, best[key].score)):
                best[key] = found
        ranked = sorted(best.items(), key=lambda kv: (kv[1].agreeing, kv[1].score), reverse=True)
        return [Match(key, alignment) for key, alignment in ranked[:limit]]
