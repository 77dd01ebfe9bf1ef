"""TikTok's chunk plan: for any file size and any allowed setting, a plan TikTok's FILE_UPLOAD rules accept."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from loa_publisher.adapters import PermanentError
from loa_publisher.adapters.tiktok import MAX_CHUNK, MB, MIN_CHUNK, plan_chunks
from loa_publisher.settings import PublisherSettings
from tests.support.emulators.tiktok import chunk_rule_violation

# Beyond 1000 chunks of 64 MiB (plus a remainder under one chunk) no plan exists.
LARGEST = 1001 * MAX_CHUNK - 1

sizes = st.one_of(
    st.integers(1, 2 * MAX_CHUNK + MB),  # the small end, where whole files and the 64 MB rule meet
    st.integers(1, 4096 * MB),  # TikTok's 4 GB limit
    st.integers(LARGEST - 2 * MAX_CHUNK, LARGEST + 2 * MAX_CHUNK),  # the 1000-chunk edge
)
settings = st.integers(MIN_CHUNK, MAX_CHUNK)


@given(size=sizes, preferred=settings)
@example(size=70 * MB, preferred=40 * MB)  # the reported case: 65–128 MB with a setting over 32 MiB went whole
@example(size=128 * MB - 1, preferred=64 * MB)
@example(size=64 * MB + 1, preferred=64 * MB)
@example(size=5 * MB - 1, preferred=5 * MB)
@example(size=LARGEST, preferred=MIN_CHUNK)
@example(size=LARGEST + 1, preferred=MAX_CHUNK)
def test_every_plan_obeys_tiktoks_rules(size: int, preferred: int) -> None:
    if size > LARGEST:
        with pytest.raises(PermanentError, match="at most 1000 chunks"):
            plan_chunks(size, preferred)
        return
    plan = plan_chunks(size, preferred)
    assert plan.size == size
    assert chunk_rule_violation(size, plan.chunk_size, plan.count) is None
    ranges = [plan.chunk(i) for i in range(plan.count)]
    assert ranges[0][0] == 0 and ranges[-1][1] == size - 1
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    assert all(last - first + 1 == plan.chunk_size for first, last in ranges[:-1])
    # The setting is followed wherever the rules allow it: a file in several chunks uses it unless it would
    # leave a file over 64 MB in one chunk (then halves) or need more than 1000 chunks (then larger ones).
    if plan.count > 1 and plan.chunk_size != preferred:
        halved = size < 2 * preferred and plan.count == 2
        fewer = plan.chunk_size > preferred and size // preferred > 1000
        assert halved or fewer


def test_the_chunk_setting_is_checked_when_the_publisher_starts() -> None:
    assert PublisherSettings(tiktok_chunk_bytes=64 * MB).tiktok_chunk_bytes == 64 * MB
    for wrong in (5 * MB - 1, 64 * MB + 1):
        with pytest.raises(ValidationError, match="tiktok_chunk_bytes"):
            PublisherSettings(tiktok_chunk_bytes=wrong)
