"""loa_core.fingerprint's decisions on hash sequences: alignment, span, pictureless frames, the index's prefilter."""

from __future__ import annotations

import numpy as np
import pytest

from loa_core import fingerprint as fp
from loa_core.fingerprint import NO_PICTURE, Fingerprint, FingerprintIndex


def random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(1, 2**63, size=n, dtype=np.int64).astype(np.uint64) | np.uint64(1)


def flip_bits(rng: np.random.Generator, hashes: np.ndarray, bits: int) -> np.ndarray:
    """Each hash with `bits` of its bits flipped (a re-encode's noise)."""
    out = hashes.copy()
    for i in range(len(out)):
        for b in rng.choice(64, size=bits, replace=False):
            out[i] ^= np.uint64(1) << np.uint64(int(b))
    return out


def test_an_excerpt_is_placed_at_its_offset_with_its_span() -> None:
    rng = np.random.default_rng(1)
    post = random_hashes(rng, 140)  # 70 s at 2 fps
    excerpt = flip_bits(rng, post[70:110], 6)  # 00:35-00:55, re-encoded
    found = fp.best_alignment(excerpt, post)
    assert found is not None
    assert (found.offset, found.agreeing, found.compared) == (70, 40, 40)
    assert found.span_s == (35.0, 55.0)
    assert (fp.clock(found.span_s[0]), fp.clock(found.span_s[1])) == ("00:35", "00:55")
    assert found.query_start_s == 0.0


def test_a_copy_longer_than_the_post_finds_the_post_inside_it() -> None:
    rng = np.random.default_rng(2)
    post = random_hashes(rng, 30)
    copy = np.concatenate([random_hashes(rng, 20), flip_bits(rng, post, 4), random_hashes(rng, 10)])
    found = fp.best_alignment(copy, post)
    assert found is not None
    assert (found.offset, found.span_s, found.query_start_s) == (-20, (0.0, 15.0), 10.0)


def test_frames_too_far_apart_in_bits_do_not_agree() -> None:
    rng = np.random.default_rng(3)
    post = random_hashes(rng, 40)
    assert fp.best_alignment(flip_bits(rng, post, fp.FRAME_BITS), post) is not None
    assert fp.best_alignment(flip_bits(rng, post, fp.FRAME_BITS + 1), post) is None


def test_unrelated_sequences_never_match() -> None:
    rng = np.random.default_rng(4)
    post = random_hashes(rng, 200)
    for _ in range(50):
        assert fp.best_alignment(random_hashes(rng, 60), post) is None


def test_too_short_or_too_sparse_an_agreement_is_no_match() -> None:
    rng = np.random.default_rng(5)
    post = random_hashes(rng, 60)
    # MIN_AGREEING - 1 frames of the post: too short to say.
    assert fp.best_alignment(post[: fp.MIN_AGREEING - 1], post) is None
    assert fp.best_alignment(post[: fp.MIN_AGREEING], post) is not None
    # Under half of the compared frames agreeing: a few lookalike frames in another video.
    mixed = random_hashes(rng, 40)
    mixed[:19] = post[:19]
    assert fp.best_alignment(mixed, post) is None
    mixed[:21] = post[:21]
    assert fp.best_alignment(mixed, post) is not None


def test_frames_without_a_picture_neither_match_nor_count() -> None:
    rng = np.random.default_rng(6)
    black = np.full(30, NO_PICTURE, np.uint64)
    assert fp.best_alignment(black, black) is None  # two videos of black are not one video
    post = np.concatenate([black, random_hashes(rng, 20)])
    copy = np.concatenate([black, post[30:]])
    found = fp.best_alignment(copy, post)
    assert found is not None
    # Only frames with a picture were compared, so the span starts where the picture does.
    assert (found.compared, found.span_s) == (20, (15.0, 25.0))


def test_a_frame_without_a_picture_hashes_to_no_picture() -> None:
    flat = np.full((32, 32), 17, np.uint8)
    assert fp.frame_hash(flat) == NO_PICTURE
    rng = np.random.default_rng(7)
    assert fp.frame_hash(rng.integers(0, 256, (32, 32), dtype=np.uint8)) != NO_PICTURE


def test_a_vertical_crop_matches_the_centre_hashes_of_a_landscape_post() -> None:
    rng = np.random.default_rng(8)
    post = Fingerprint(full=random_hashes(rng, 40), center=random_hashes(rng, 40))
    crop = Fingerprint(full=flip_bits(rng, post.center[10:30], 3))  # type: ignore[index]
    found = fp.match(crop, post)
    assert found is not None
    assert (found.variant, found.offset) == ("center", 10)


def test_fingerprints_cross_as_text_and_refuse_damage() -> None:
    rng = np.random.default_rng(9)
    original = Fingerprint(full=random_hashes(rng, 10), center=random_hashes(rng, 10))
    again = Fingerprint.from_text(original.to_text())
    assert np.array_equal(again.full, original.full)
    assert again.center is not None and np.array_equal(again.center, original.center)  # type: ignore[arg-type]
    portrait = Fingerprint.from_text(Fingerprint(full=original.full).to_text())
    assert portrait.center is None and portrait.duration_s == 5.0
    for damaged in ("", "pf0:2:AAAA:-", "pf1:2:not base64!:-", "pf1:2:AAAA:-"):
        with pytest.raises(ValueError):
            Fingerprint.from_text(damaged)


def test_the_index_finds_the_right_cut_among_many_and_only_it() -> None:
    rng = np.random.default_rng(10)
    index = FingerprintIndex()
    posts = {f"cut-{i}": Fingerprint(full=random_hashes(rng, 120)) for i in range(2000)}
    index.extend(posts.items())
    target = posts["cut-1234"].full
    found = index.search(Fingerprint(full=flip_bits(rng, target[50:90], 8)))
    assert [m.key for m in found] == ["cut-1234"]
    assert found[0].alignment.offset == 50
    assert index.search(Fingerprint(full=random_hashes(rng, 60))) == []


def test_the_prefilter_votes_the_right_cut_first() -> None:
    rng = np.random.default_rng(11)
    index = FingerprintIndex()
    index.extend((f"cut-{i}", Fingerprint(full=random_hashes(rng, 100))) for i in range(500))
    bands = index._bands
    target = bands.tracks[321][2]
    assert bands.candidates(flip_bits(rng, target[10:50], 5))[0] == 321


def test_cuts_added_after_the_build_are_found_before_the_next_build() -> None:
    rng = np.random.default_rng(12)
    index = FingerprintIndex()
    index.extend((f"cut-{i}", Fingerprint(full=random_hashes(rng, 50))) for i in range(100))
    late = Fingerprint(full=random_hashes(rng, 50))
    index.add("late", late)
    assert index._recent == ["late"]
    assert [m.key for m in index.search(Fingerprint(full=late.full[5:40]))] == ["late"]
    # Replacing a cut's fingerprint forgets the old one.
    index.add("late", Fingerprint(full=random_hashes(rng, 50)))
    assert index.search(Fingerprint(full=late.full[5:40])) == []
    assert len(index) == 101 and "late" in index


def test_the_decode_arguments_read_a_file_never_a_protocol() -> None:
    from pathlib import Path

    args = fp.decode_args(Path("concat:evil.mp4"))
    assert args[:2] == ["-i", "file:concat:evil.mp4"]
    assert args[-2:] == ["rawvideo", "pipe:1"]
