"""EBU R128 material that adds up (loa_transcode.loudness): ebur128's frame log read as 400 ms blocks, its summary's
true peak, and the integrated loudness gated once over the blocks of every stretch of a programme."""

from __future__ import annotations

import math

import pytest

from loa_transcode.loudness import gated_loudness, momentary_blocks, summary_true_peak

# What the pinned FFmpeg 9 prints for 0.7 s of pink noise with ebur128=framelog=info:peak=true (cut short), after
# a source whose metadata says "M:" too.
LOG = """Input #0, lavfi, from 'anoisesrc=color=pink':
  Metadata:
    comment         : M: -12.0 is not a block
[Parsed_ebur128_0 @ 0x7fb54c001c00] t: 0.199979   TARGET:-23 LUFS    M:-120.7 S:-120.7     I: -70.0 LUFS       LRA:   0.0 LU  FTPK: -13.9 dBFS  TPK: -13.9 dBFS
[Parsed_ebur128_0 @ 0x7fb54c001c00] t: 0.299979   TARGET:-23 LUFS    M:-120.7 S:-120.7     I: -70.0 LUFS       LRA:   0.0 LU  FTPK: -14.1 dBFS  TPK: -13.9 dBFS
[Parsed_ebur128_0 @ 0x7fb54c001c00] t: 0.399979   TARGET:-23 LUFS    M: -25.1 S:-120.7     I: -25.1 LUFS       LRA:   0.0 LU  FTPK: -15.0 dBFS  TPK: -13.9 dBFS
[Parsed_ebur128_0 @ 0x7fb54c001c00] t: 0.499979   TARGET:-23 LUFS    M: -25.3 S:-120.7     I: -25.2 LUFS       LRA:   0.0 LU  FTPK: -13.1 dBFS  TPK: -13.1 dBFS
[Parsed_ebur128_0 @ 0x7fb54c001c00] t: 0.599979   TARGET:-23 LUFS    M:  -4.9 S:-120.7     I: -19.0 LUFS       LRA:   0.0 LU  FTPK: -12.9 dBFS  TPK: -12.9 dBFS
[Parsed_ebur128_0 @ 0x7fb54c001c00] Summary:

  Integrated loudness:
    I:         -19.0 LUFS
    Threshold: -29.0 LUFS

  Loudness range:
    LRA:         0.0 LU
    Threshold:   0.0 LUFS
    LRA low:     0.0 LUFS
    LRA high:    0.0 LUFS

  True peak:
    Peak:      -12.9 dBFS
"""  # noqa: E501


def test_each_block_of_the_frame_log_is_read_in_order_and_nothing_else() -> None:
    assert momentary_blocks(LOG) == [-120.7, -120.7, -25.1, -25.3, -4.9]
    assert momentary_blocks("frame=  600\n") == []


def test_the_summarys_true_peak_is_read_and_silence_has_none() -> None:
    assert summary_true_peak(LOG) == -12.9
    assert summary_true_peak(LOG.replace("-12.9 dBFS\n", "-inf dBFS\n")) is None
    with pytest.raises(ValueError, match="no true peak"):
        summary_true_peak("frame=  600\n")


def test_a_steady_programme_is_as_loud_as_its_blocks() -> None:
    assert gated_loudness([-20.0] * 50) == pytest.approx(-20.0)
    # The blocks before 400 ms of sound (-120.7) and silence are under the absolute gate: left out, not averaged in.
    assert gated_loudness([-120.7, -120.7, -120.7, *[-20.0] * 50, -80.0]) == pytest.approx(-20.0)


def test_blocks_are_averaged_as_energies_not_as_lufs() -> None:
    # (10^-2 + 10^-2.5) / 2 = 0.006581: -21.82 LUFS, not the figures' mean -22.5.
    assert gated_loudness([-20.0, -25.0]) == pytest.approx(10 * math.log10((0.01 + 10**-2.5) / 2))
    assert gated_loudness([-20.0, -25.0]) == pytest.approx(-21.817, abs=1e-3)


def test_blocks_more_than_10_lu_under_the_mean_are_gated_out() -> None:
    # All above -70: their mean is -22.9 LUFS, so the relative gate is -32.9 and the -35 blocks are left out.
    assert gated_loudness([-20.0] * 10 + [-35.0] * 10) == pytest.approx(-20.0)
    # At -30 they are in: the mean of both.
    assert gated_loudness([-20.0] * 10 + [-30.0] * 10) == pytest.approx(10 * math.log10((0.01 + 0.001) / 2))


def test_the_order_and_the_stretches_do_not_matter_and_silence_has_no_loudness() -> None:
    blocks = [-18.0, -23.5, -40.0, -31.0, -65.0, -19.2] * 7
    assert gated_loudness(blocks[:17] + blocks[30:]) is not None
    assert gated_loudness(reversed(blocks)) == pytest.approx(gated_loudness(blocks))  # type: ignore[arg-type]
    assert gated_loudness([]) is None
    assert gated_loudness([-120.7, -70.0, -85.0]) is None  # at the absolute gate is silence
