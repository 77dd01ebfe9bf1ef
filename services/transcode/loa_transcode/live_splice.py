"""A live's sound encoded chunk by chunk while it is live, and spliced by stream copy at the end (pure).

Why: one gain over the whole archive can only be applied once the live has ended, and its AAC encode then grows
with the live's length (about a CPU-second per minute). Instead each chunk encodes its own stretch of sound as it
comes, with the gain that brings the live's loudness so far to the target (what a live broadcast does): the gain
at a chunk's seam is the one for every chunk before it, and it ramps over the chunk to the one including the chunk
itself, so it never steps. The live's loudness so far comes from the chunks' measures (`LiveChunkMeasure`, written
before any encode): deterministic, so a chunk encoded twice has the same gain.

Splicing AAC without encoding it again: an AAC frame is 1024 samples, and frame j of an encode (its presentation
time p_j) is the MDCT of the samples [p_j, p_j + 2048); decoding it overlaps it with the frame before. So the seams
lie on frames of the cut's timeline (`seam_sample`), and chunk k keeps the frames whose time is in
[seam_k - 1024, seam_k+1 - 1024): its first kept frame covers the seam from its pre-roll (encoded from
PREROLL_FRAMES before the seam, out of the segments before the chunk), its last ends at the next seam, inside its
own sound. Each frame then overlaps a frame of the same signal from the other encode. What the seam still costs is
the encoder starting again: ffmpeg's AAC encoder adapts over seconds, so a chunk's encode starts 4 s before its
seam. Measured on tonal test music (tests/integration/test_live_sound.py), the 85 ms around a seam lose, against a
single encode's signal-to-noise ratio, 0.1 dB on average with 4 s of pre-roll, 3.1 dB with 2 s, 10.6 dB with 16
frames (0.34 s) and 28.8 dB with 2 frames (audible); over the whole, 33.1 dB against the single encode's 33.0.

The join predicts the cut's loudness from the measures and the gains (`spliced_loudness`) and takes the single
gain instead when it is off the target; the check measures the spliced sound itself either way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loa_core.contracts import LiveEncodedSound, LiveSound
from loa_transcode.graph import TARGET_LUFS
from loa_transcode.loudness import gated_loudness

SAMPLE_RATE = 48000
AAC_FRAME = 1024  # samples per AAC-LC frame
# How many AAC frames before its seam a chunk's sound is encoded from (4 s; see the module's docstring).
PREROLL_FRAMES = 188
# ebur128's momentary blocks are logged every 100 ms, each the 400 ms ending there.
BLOCK_STEP_S = 0.1
# The join takes the chunks' sound when the cut's loudness it predicts is within this of the target: half the
# check's tolerance (conform.LOUDNESS_TOLERANCE_LU), for the blocks at the seams and the limiter it does not count.
SPLICE_TOLERANCE_LU = 0.5
# ffmpeg's AAC encoder starts each encode with this many samples of priming (the first frame's time is -1024).
PRIMING = AAC_FRAME


# A chunk's sound starts this many AAC frames before its picture: a segment's sound may end a little before its
# picture (measured: up to 40 ms on a push), and the last frame a chunk keeps must be made of its own sound.
SEAM_LEAD_FRAMES = 4


def seam_sample(start_s: float) -> int:
    """Where the sound of a chunk starting `start_s` into the cut starts: on an AAC frame of the cut, SEAM_LEAD_FRAMES
    to five frames before the chunk's first frame (the cut's start for the first chunk)."""
    if start_s <= 0:
        return 0
    return max(0, round(start_s * SAMPLE_RATE) // AAC_FRAME - SEAM_LEAD_FRAMES) * AAC_FRAME


def cut_start_s(frames_before: Iterable[int], fps: float) -> float:
    """Where a chunk starts in the cut: the frames of the chunks before it, one period each (frame-exact chunks)."""
    return sum(frames_before) / fps


def gain_db(blocks: Iterable[float]) -> float | None:
    """The gain (dB) that brings sound of these blocks to the target loudness; None: silence."""
    integrated = gated_loudness(blocks)
    return None if integrated is None else TARGET_LUFS - integrated


def chunk_gains(before: Sequence[LiveSound], own: LiveSound) -> tuple[float, float]:
    """The gain at a chunk's seam and at the next (pure): the live's loudness before it, and with it, each brought to
    the target. Over silence so far the gain holds (0 dB before any sound)."""
    earlier = [b for s in before for b in s.momentary_lufs]
    at_seam = gain_db(earlier)
    at_next = gain_db([*earlier, *own.momentary_lufs])
    if at_next is None:
        return 0.0, 0.0
    return (at_next if at_seam is None else at_seam), at_next


@dataclass(frozen=True)
class SoundPlan:
    """How one chunk encodes its sound: from which sample of the cut, the seam, the next seam and the gains."""

    encoded_from: int
    seam: int
    next_seam: int
    gain_from_db: float
    gain_to_db: float

    def filter(self, trim_from_s: float, limit: str | None) -> str:
        """The chunk's sound filter: from `trim_from_s` of its source (the cut's `encoded_from`), the gain held over
        the pre-roll and ramped from seam to seam, and then held; `limit`: a limiter (with its delay compensated, so
        every chunk's sound stays where it is)."""
        ramp_from = (self.seam - self.encoded_from) / SAMPLE_RATE
        ramp_s = max(self.next_seam - self.seam, 1) / SAMPLE_RATE
        a, b = self.gain_from_db, self.gain_to_db
        gain = f"pow(10,({a:.3f}+({b - a:.3f})*clip((t-{ramp_from:.6f})/{ramp_s:.6f},0,1))/20)"
        steps = [
            f"atrim=start={trim_from_s:.6f}",
            "asetpts=PTS-STARTPTS",
            f"volume='{gain}':eval=frame",
        ]
        if limit is not None:
            steps.append(limit)
        return ",".join([*steps, f"aresample={SAMPLE_RATE}", "aformat=sample_fmts=fltp:channel_layouts=stereo"])


def sound_plan(index: int, start_s: float, end_s: float, gains: tuple[float, float]) -> SoundPlan:
    """A chunk's sound plan from where it starts and ends in the cut (pure). The first chunk has no pre-roll: its
    encode starts with the cut, and its priming frame is the cut's."""
    seam = seam_sample(start_s)
    encoded_from = 0 if index == 0 else max(0, seam - PREROLL_FRAMES * AAC_FRAME)
    return SoundPlan(encoded_from, seam, seam_sample(end_s), *gains)


def encoded(plan: SoundPlan, files: dict[int, str], aac_frames: int) -> LiveEncodedSound:
    return LiveEncodedSound(
        files=files,
        encoded_from=plan.encoded_from,
        aac_frames=aac_frames,
        seam=plan.seam,
        next_seam=plan.next_seam,
        gain_from_db=plan.gain_from_db,
        gain_to_db=plan.gain_to_db,
    )


# --- the join ------------------------------------------------------------------------------------------------------


def adts_frames(data: bytes) -> list[bytes]:
    """An ADTS stream's frames, each with its header (pure). ValueError: not ADTS from start to end."""
    frames = []
    at = 0
    while at < len(data):
        header = data[at : at + 7]
        if len(header) < 7 or header[0] != 0xFF or header[1] & 0xF6 != 0xF0:
            raise ValueError(f"no ADTS frame at byte {at}")
        length = ((header[3] & 0x03) << 11) | (header[4] << 3) | (header[5] >> 5)
        if length < 7 or at + length > len(data):
            raise ValueError(f"an ADTS frame of {length} bytes at byte {at} of {len(data)}")
        frames.append(data[at : at + length])
        at += length
    return frames


def kept_frames(frames: Sequence[bytes], sound: LiveEncodedSound, *, first: bool, last: bool) -> list[bytes]:
    """The frames of a chunk's encode that the cut takes (pure): those whose time is in [seam - 1024, next seam -
    1024); the first chunk's from its priming frame on, the last chunk's to the end."""
    keep_from = -PRIMING if first else sound.seam - AAC_FRAME
    kept = []
    for j, frame in enumerate(frames):
        time = sound.encoded_from - PRIMING + j * AAC_FRAME
        if time >= keep_from and (last or time < sound.next_seam - AAC_FRAME):
            kept.append(frame)
    return kept


def splice_problem(sounds: Sequence[LiveEncodedSound | None]) -> str | None:
    """Why the chunks' sounds cannot be spliced into the cut's (pure): one missing, or seams that do not follow on
    from the cut's start, or a chunk without pre-roll. None: they can."""
    seam = 0
    for k, sound in enumerate(sounds):
        if sound is None:
            return f"chunk {k} has no sound encoded"
        if sound.seam != seam:
            return f"chunk {k}'s sound starts at sample {sound.seam}, the chunk before ends at {seam}"
        if k and sound.encoded_from > sound.seam - AAC_FRAME:
            return f"chunk {k}'s sound has no pre-roll"
        # Up to the frame at the next seam: the last frame kept, the one before it, was made of the chunk's own sound.
        ends = sound.encoded_from - PRIMING + sound.aac_frames * AAC_FRAME
        if k < len(sounds) - 1 and ends <= sound.next_seam:
            return f"chunk {k}'s sound ends at sample {ends}, before its next seam {sound.next_seam}"
        seam = sound.next_seam
    return None


def spliced_loudness(measured: Sequence[LiveSound], sounds: Sequence[LiveEncodedSound]) -> float | None:
    """The cut's loudness (LUFS) once every chunk's blocks have the gain its sound was encoded with (pure): each
    block shifted by the ramp's gain where it ends, then gated together. None: silence."""
    shifted = []
    for level, sound in zip(measured, sounds, strict=True):
        span_s = max(sound.next_seam - sound.seam, 1) / SAMPLE_RATE
        a, b = sound.gain_from_db, sound.gain_to_db
        for i, block in enumerate(level.momentary_lufs):
            at = min(max((i + 1) * BLOCK_STEP_S / span_s, 0.0), 1.0)
            shifted.append(block + a + (b - a) * at)
    return gated_loudness(shifted)


def near_target(loudness: float | None) -> bool:
    return loudness is not None and math.fabs(loudness - TARGET_LUFS) <= SPLICE_TOLERANCE_LU
