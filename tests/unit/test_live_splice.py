"""A live's sound encoded chunk by chunk and spliced by stream copy (loa_transcode.live_splice, pure): where the seams
are, the gains, which AAC frames of each chunk's encode the cut takes, when the chunks' sound cannot be spliced,
and the cut's loudness the join predicts."""

from __future__ import annotations

import itertools
import math

import pytest

from loa_core.contracts import LiveEncodedSound, LiveSound
from loa_transcode.graph import TARGET_LUFS
from loa_transcode.live_splice import (
    AAC_FRAME,
    PREROLL_FRAMES,
    PRIMING,
    SAMPLE_RATE,
    SEAM_LEAD_FRAMES,
    adts_frames,
    chunk_gains,
    cut_start_s,
    encoded,
    kept_frames,
    seam_sample,
    sound_plan,
    splice_problem,
    spliced_loudness,
)

# Where five chunks start in a cut (seconds, not on AAC frames but the second), and where the cut ends.
STARTS = (0.0, 12.0, 24.033333, 36.5, 48.0)
END_S = 55.27


def _blocks(*runs: tuple[int, float]) -> tuple[float, ...]:
    """Momentary blocks: `count` blocks of `lufs`, for each (count, lufs)."""
    return tuple(lufs for count, lufs in runs for _ in range(count))


def _sound(*runs: tuple[int, float]) -> LiveSound:
    return LiveSound(momentary_lufs=_blocks(*runs), true_peak_dbtp=-6.0)


def _energy_mean(*levels: float) -> float:
    """The loudness of equally many blocks at each level (no gate reached), by hand."""
    return 10 * math.log10(sum(10 ** (level / 10) for level in levels) / len(levels))


# --- the seams --------------------------------------------------------------------------------------------------------


def test_the_first_chunks_sound_starts_with_the_cut() -> None:
    assert seam_sample(0.0) == 0


def test_a_seam_is_on_an_aac_frame_a_little_before_the_chunks_first_sample() -> None:
    # Every start from 4 frames on, over a minute in steps that fall everywhere inside a frame.
    for k in range(1, 6000):
        start_s = SEAM_LEAD_FRAMES * AAC_FRAME / SAMPLE_RATE + k * 0.01037
        seam = seam_sample(start_s)
        assert seam % AAC_FRAME == 0, start_s
        lead = round(start_s * SAMPLE_RATE) - seam
        # At least SEAM_LEAD_FRAMES before (a segment's sound may end a little before its picture), under one more.
        assert SEAM_LEAD_FRAMES * AAC_FRAME <= lead < (SEAM_LEAD_FRAMES + 1) * AAC_FRAME, start_s


def test_a_start_on_a_frame_is_exactly_seam_lead_frames_after_its_seam() -> None:
    start_s = 375 * AAC_FRAME / SAMPLE_RATE  # 8 s: sample 384000, frame 375
    assert seam_sample(start_s) == (375 - SEAM_LEAD_FRAMES) * AAC_FRAME


def test_a_start_summed_from_floats_has_the_same_seam_as_the_exact_start() -> None:
    # Sample 384000 is on a frame: a start a hair under it, as a float sum gives it, must not fall a frame back.
    summed = sum([0.1] * 80)
    assert summed < 8.0 and summed * SAMPLE_RATE < 384000
    assert seam_sample(summed) == seam_sample(8.0) == (375 - SEAM_LEAD_FRAMES) * AAC_FRAME
    assert seam_sample(0.1 * 120) == seam_sample(sum([0.1] * 120)) == seam_sample(12.0)
    # Where the join and a chunk's worker take the start from: the frames before it over the rate.
    assert seam_sample(cut_start_s([120, 120], 30.0)) == seam_sample(8.0)
    assert seam_sample(cut_start_s([80] * 3, 30.0)) == seam_sample(8.0)
    ntsc = 30000 / 1001
    assert seam_sample(cut_start_s([120, 120], ntsc)) == seam_sample(240 * 1001 / 30000)


# --- the gains --------------------------------------------------------------------------------------------------------


def test_a_chunks_gains_bring_the_live_before_it_and_with_it_to_the_target() -> None:
    before = [_sound((20, -30.0)), _sound((3, -120.7), (10, -30.0))]
    own = _sound((10, -27.0))
    at_seam, at_next = chunk_gains(before, own)
    assert at_seam == pytest.approx(TARGET_LUFS + 30.0)
    # The blocks before and the chunk's gated together: 30 at -30 and 10 at -27.
    with_it = _energy_mean(*[-30.0] * 30, *[-27.0] * 10)
    assert at_next == pytest.approx(TARGET_LUFS - with_it)
    assert at_seam > at_next  # louder now: the gain comes down over the chunk


def test_a_quiet_chunk_gated_out_of_the_live_keeps_the_gain() -> None:
    # More than 10 LU under the live so far: the relative gate leaves its blocks out.
    assert chunk_gains([_sound((20, -20.0))], _sound((20, -40.0))) == (
        pytest.approx(TARGET_LUFS + 20.0),
        pytest.approx(TARGET_LUFS + 20.0),
    )


def test_the_gain_holds_over_silence() -> None:
    silent = _sound((30, -120.7))
    # Sound after silence: the chunk's own gain from its seam (no ramp from 0 dB).
    assert chunk_gains([silent, silent], _sound((10, -24.0))) == (
        pytest.approx(TARGET_LUFS + 24.0),
        pytest.approx(TARGET_LUFS + 24.0),
    )
    # The first chunk has nothing before it: its own gain throughout.
    assert chunk_gains([], _sound((10, -24.0))) == (pytest.approx(TARGET_LUFS + 24.0),) * 2
    # A silent chunk after sound keeps the gain the live had.
    assert chunk_gains([_sound((10, -18.0))], silent) == (pytest.approx(TARGET_LUFS + 18.0),) * 2
    # Under the absolute gate (-70) is silence too.
    assert chunk_gains([_sound((10, -18.0))], _sound((10, -75.0))) == (pytest.approx(TARGET_LUFS + 18.0),) * 2


def test_no_sound_at_all_is_0_db() -> None:
    silent = _sound((30, -120.7))
    assert chunk_gains([], silent) == (0.0, 0.0)
    assert chunk_gains([silent, LiveSound()], LiveSound()) == (0.0, 0.0)


# --- the plan ---------------------------------------------------------------------------------------------------------


def test_the_first_chunk_is_encoded_from_the_cuts_start_with_no_pre_roll() -> None:
    plan = sound_plan(0, 0.0, 12.0, (3.0, 2.0))
    assert (plan.encoded_from, plan.seam, plan.next_seam) == (0, 0, seam_sample(12.0))
    assert (plan.gain_from_db, plan.gain_to_db) == (3.0, 2.0)


def test_a_later_chunk_is_encoded_from_its_pre_roll_before_its_seam() -> None:
    plan = sound_plan(2, 24.033333, 36.5, (1.0, 1.5))
    assert plan.seam == seam_sample(24.033333) and plan.next_seam == seam_sample(36.5)
    assert plan.encoded_from == plan.seam - PREROLL_FRAMES * AAC_FRAME
    assert plan.encoded_from % AAC_FRAME == 0  # its frames are on the cut's frames


def test_a_chunks_filter_holds_the_gain_over_its_pre_roll_and_ramps_it_from_seam_to_seam() -> None:
    plan = sound_plan(1, 12.0, 24.0, (2.0, -1.0))
    made = plan.filter(0.5, None)
    assert made.startswith("atrim=start=0.500000,asetpts=PTS-STARTPTS,volume='")
    # The time in the filter is from the encode's first sample: the seam is its pre-roll later.
    ramp_from = PREROLL_FRAMES * AAC_FRAME / SAMPLE_RATE
    ramp_s = (plan.next_seam - plan.seam) / SAMPLE_RATE
    assert f"(2.000+(-3.000)*clip((t-{ramp_from:.6f})/{ramp_s:.6f},0,1))" in made and "':eval=frame," in made
    assert made.endswith(f",aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo")
    limited = plan.filter(0.5, "alimiter=limit=0.75:latency=1")
    assert limited == made.replace(",aresample", ",alimiter=limit=0.75:latency=1,aresample")


# --- the frames of an ADTS stream -------------------------------------------------------------------------------------


def _adts(payload: bytes, *, crc: bool = False) -> bytes:
    """One ADTS frame as ffmpeg writes AAC-LC at 48 kHz, stereo (ISO 14496-3 1.A.2.2), around `payload`."""
    length = (9 if crc else 7) + len(payload)
    assert length < 1 << 13
    header = bytes(
        [
            0xFF,
            0xF0 | (0 if crc else 1),  # syncword, MPEG-4, layer 0, protection absent unless a CRC follows
            (1 << 6) | (3 << 2) | (2 >> 2),  # AAC LC, 48000 Hz (index 3), channel configuration 2
            ((2 & 3) << 6) | (length >> 11),
            (length >> 3) & 0xFF,
            ((length & 7) << 5) | 0x1F,  # buffer fullness 0x7FF: variable bitrate
            0xFC,  # one raw data block
        ]
    )
    return header + (b"\x12\x34" if crc else b"") + payload


def test_an_adts_stream_is_split_into_its_frames_headers_included() -> None:
    frames = [_adts(b"\x21" * 6), _adts(bytes(range(200))), _adts(b"\x00" * 2100), _adts(b"", crc=True), _adts(b"x")]
    # Lengths over 2047 bytes use the high bits of the length field.
    assert len(frames[2]) == 2107
    assert adts_frames(b"".join(frames)) == frames
    assert adts_frames(b"") == []


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"ID3\x04" + _adts(b"a"), "no ADTS frame at byte 0"),
        (_adts(b"abc") + b"\x00" * 20, "no ADTS frame at byte 10"),
        (_adts(b"abc") + b"\xff\xf1\x4c", "no ADTS frame at byte 10"),  # a header cut short
        (_adts(b"abc") + _adts(b"x" * 100)[:50], "an ADTS frame of 107 bytes at byte 10 of 60"),  # a frame cut short
        (bytes([0xFF, 0xF1, 0x4C, 0x80, 0x00, 0x1F, 0xFC]) + b"x" * 10, "an ADTS frame of 0 bytes"),
        (bytes([0xFF, 0xF1, 0x4C, 0x80, 0x00, 0xBF, 0xFC]) + b"x" * 10, "an ADTS frame of 5 bytes"),  # < its header
        (bytes([0xFF, 0xFB, 0x90, 0x64, 0x00, 0x00, 0x00]) + b"x" * 400, "no ADTS frame at byte 0"),  # an MP3 frame
    ],
)
def test_what_is_not_adts_from_start_to_end_is_refused(data: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        adts_frames(data)


# --- the frames each chunk keeps --------------------------------------------------------------------------------------


def _encode(index: int, start_s: float, end_s: float, sound_end: int | None = None) -> LiveEncodedSound:
    """A chunk's sound as its worker encodes it: from `encoded_from` to where its own sound ends (`end_s`, or
    `sound_end`), and the frames ffmpeg's AAC encoder makes of it (a priming frame, then one per 1024 samples begun,
    the last flushing the encoder's delay)."""
    plan = sound_plan(index, start_s, end_s, (0.0, 0.0))
    ends = round(end_s * SAMPLE_RATE) if sound_end is None else sound_end
    frames = math.ceil((ends - plan.encoded_from) / AAC_FRAME) + 1
    return encoded(plan, {128: "sound-128.aac"}, frames)


def _timed(sound: LiveEncodedSound) -> list[bytes]:
    """The encode's frames, each carrying its time on the cut's timeline (the first: its priming)."""
    return [str(sound.encoded_from - PRIMING + j * AAC_FRAME).encode() for j in range(sound.aac_frames)]


def _times(frames: list[bytes]) -> list[int]:
    return [int(frame) for frame in frames]


def _chunks(starts: tuple[float, ...] = STARTS, end_s: float = END_S) -> list[LiveEncodedSound]:
    return [_encode(k, a, b) for k, (a, b) in enumerate(itertools.pairwise((*starts, end_s)))]


def test_the_first_chunk_keeps_its_frames_from_its_priming_frame_to_the_one_before_the_next_seam() -> None:
    first = _chunks()[0]
    kept = _times(kept_frames(_timed(first), first, first=True, last=False))
    assert kept == list(range(-PRIMING, first.next_seam - AAC_FRAME, AAC_FRAME))


def test_a_middle_chunk_keeps_exactly_the_frames_from_a_frame_before_its_seam_to_one_before_the_next() -> None:
    sound = _chunks()[2]
    every = _times(_timed(sound))
    kept = _times(kept_frames(_timed(sound), sound, first=False, last=False))
    assert kept == [t for t in every if sound.seam - AAC_FRAME <= t < sound.next_seam - AAC_FRAME]
    assert kept[0] == sound.seam - AAC_FRAME and kept[-1] == sound.next_seam - 2 * AAC_FRAME
    # Its pre-roll and what it encoded past the next seam are left out.
    assert every[0] < kept[0] and every[-1] > kept[-1]


def test_the_last_chunk_keeps_its_frames_to_the_end() -> None:
    sound = _chunks()[-1]
    kept = _times(kept_frames(_timed(sound), sound, first=False, last=True))
    assert kept[0] == sound.seam - AAC_FRAME and kept[-1] == _times(_timed(sound))[-1]


@pytest.mark.parametrize(
    "starts",
    [STARTS, (0.0, 0.4, 0.8, 1.2), (0.0, 10.0, 10.5, 30.0), tuple(sum([0.1] * 40) * k for k in range(8))],
)
def test_consecutive_chunks_frames_tile_the_cut_with_no_gap_or_overlap(starts: tuple[float, ...]) -> None:
    end_s = starts[-1] + 3.3
    sounds = _chunks(starts, end_s)
    assert splice_problem(sounds) is None
    spliced: list[int] = []
    for k, sound in enumerate(sounds):
        spliced += _times(kept_frames(_timed(sound), sound, first=k == 0, last=k == len(sounds) - 1))
    # Every frame of the cut once, in order, from the priming frame: what one encode of the whole cut has.
    whole = _encode(0, 0.0, end_s)
    assert spliced == _times(_timed(whole))


# --- when the chunks' sound cannot be spliced -------------------------------------------------------------------------


def test_chunks_encoded_as_planned_can_be_spliced() -> None:
    assert splice_problem(_chunks()) is None
    assert splice_problem(_chunks()[:1]) is None


def test_a_chunk_without_its_sound_cannot_be_spliced() -> None:
    sounds: list[LiveEncodedSound | None] = [*_chunks()]
    sounds[3] = None
    assert splice_problem(sounds) == "chunk 3 has no sound encoded"


def test_seams_that_do_not_follow_on_cannot_be_spliced() -> None:
    sounds = _chunks()
    moved = sounds[2].model_copy(update={"seam": sounds[2].seam + AAC_FRAME})
    assert splice_problem([*sounds[:2], moved, *sounds[3:]]) == (
        f"chunk 2's sound starts at sample {moved.seam}, the chunk before ends at {sounds[1].next_seam}"
    )
    # The first chunk's sound starts with the cut.
    late = sounds[0].model_copy(update={"seam": AAC_FRAME})
    assert (
        splice_problem([late, *sounds[1:]])
        == f"chunk 0's sound starts at sample {AAC_FRAME}, the chunk before ends at 0"
    )
    # A chunk left out: the next one's seam is not where the one before ends.
    assert splice_problem([sounds[0], *sounds[2:]]) is not None


def test_a_chunk_without_pre_roll_cannot_be_spliced() -> None:
    sounds = _chunks()
    none = sounds[1].model_copy(update={"encoded_from": sounds[1].seam})
    assert splice_problem([sounds[0], none, *sounds[2:]]) == "chunk 1's sound has no pre-roll"
    # A frame of pre-roll is the least: the frame kept at the seam then has one before it in its encode.
    one = sounds[1].model_copy(update={"encoded_from": sounds[1].seam - AAC_FRAME})
    assert splice_problem([sounds[0], one, *sounds[2:]]) is None


def test_a_chunk_whose_encode_ends_before_its_next_seam_cannot_be_spliced() -> None:
    sounds = _chunks()
    sound = sounds[1]
    # Its frames up to the one at the next seam: the last one kept, before it, was made of its own sound.
    reaches = (sound.next_seam + PRIMING - sound.encoded_from) // AAC_FRAME + 1
    enough = sound.model_copy(update={"aac_frames": reaches})
    assert splice_problem([sounds[0], enough, *sounds[2:]]) is None
    short = sound.model_copy(update={"aac_frames": reaches - 1})
    assert splice_problem([sounds[0], short, *sounds[2:]]) == (
        f"chunk 1's sound ends at sample {sound.next_seam}, before its next seam {sound.next_seam}"
    )
    # The sound of a chunk whose segments end before its picture by more than the seam's lead.
    ended = _encode(1, STARTS[1], STARTS[2], sound_end=sound.next_seam - 100)
    assert splice_problem([sounds[0], ended, *sounds[2:]]) is not None
    # The last chunk has no next seam to reach.
    last = sounds[-1].model_copy(update={"aac_frames": 1})
    assert splice_problem([*sounds[:-1], last]) is None


# --- the cut's loudness predicted -------------------------------------------------------------------------------------


def _with_gains(sound: LiveEncodedSound, a: float, b: float) -> LiveEncodedSound:
    return sound.model_copy(update={"gain_from_db": a, "gain_to_db": b})


def test_constant_gains_shift_the_cuts_loudness_by_the_gain() -> None:
    measured = [_sound((3, -120.7), (50, -25.0)), _sound((40, -31.0), (20, -120.7)), _sound((60, -22.0))]
    sounds = _chunks()[:3]
    alone = _energy_mean(*[-25.0] * 50, *[-31.0] * 40, *[-22.0] * 60)
    assert spliced_loudness(measured, [_with_gains(s, 0.0, 0.0) for s in sounds]) == pytest.approx(alone)
    for gain in (-6.5, 3.0, 9.0):
        same = [_with_gains(s, gain, gain) for s in sounds]
        assert spliced_loudness(measured, same) == pytest.approx(alone + gain)


def test_a_ramp_lands_between_the_gains_at_its_ends() -> None:
    measured = [_sound((120, -24.0))]
    sound = _chunks()[1]  # 12 s from seam to seam: its 12 s of blocks ramp all the way
    ramped = spliced_loudness(measured, [_with_gains(sound, 0.0, 6.0)])
    assert ramped is not None and -24.0 + 0.5 < ramped < -24.0 + 6.0 - 0.5
    # The mean of the blocks' energies, not of their gains: above the middle of the ramp.
    assert ramped > -24.0 + 3.0 + 0.2
    down = spliced_loudness(measured, [_with_gains(sound, 6.0, 0.0)])
    assert down == pytest.approx(ramped, abs=0.05)
    # Each block takes the gain where it ends: sound in the second half only has the ramp's upper half.
    late = [_sound((60, -120.7), (60, -24.0))]
    early = [_sound((60, -24.0), (60, -120.7))]
    upper = spliced_loudness(late, [_with_gains(sound, 0.0, 6.0)])
    lower = spliced_loudness(early, [_with_gains(sound, 0.0, 6.0)])
    assert upper is not None and lower is not None
    assert -24.0 + 3.0 < upper < -24.0 + 6.0 and -24.0 < lower < -24.0 + 3.0
    # Across chunks: each chunk's blocks take its own ramp.
    two = [_sound((120, -24.0)), _sound((120, -24.0))]
    steps = spliced_loudness(two, [_with_gains(sound, 0.0, 0.0), _with_gains(sound, 6.0, 6.0)])
    assert steps == pytest.approx(-24.0 + _energy_mean(0.0, 6.0))


def test_silence_spliced_has_no_loudness() -> None:
    assert spliced_loudness([_sound((30, -120.7))], [_with_gains(_chunks()[0], 6.0, 6.0)]) is None
