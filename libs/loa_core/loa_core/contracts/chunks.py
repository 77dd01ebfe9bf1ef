"""Chunked encoding inside the transcode group: a long footage's owner asks the group for its chunks, any worker
encodes one, and says it is done in storage.

- `TranscodeChunk` (topic `transcode.chunks`, produced and consumed by transcode): one chunk to encode, everything
  a worker needs in it (the footage's whole-programme decisions sliced onto the chunk's timeline). Keyed by `slot`,
  which `chunk_slot` picks so that a job's chunks go round the partitions, spread (the workers share them).
- The result is in storage, not on a topic: the chunk's file per cut at `layout.chunk_key(...)`, then its
  `ChunkResult` (written last). The owner, which holds the footage's job, waits for those objects; a topic would
  reach whichever worker owns its partition, not the owner. Keys are deterministic (job id, index): a chunk done
  twice writes the same objects, and a redone job finds the chunks its killed attempt already finished.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from pydantic import Field, StringConstraints

from loa_core.contracts.base import DEFAULT_WARD, Contract, Event, FootageId, Id, ProfileName, WardId


class ChunkCrop(Contract):
    """The subject-crop path (transcode graph.CropPath) on the chunk's timeline: (t, left x) keyframes and the
    spans shown fitted on a blurred background instead."""

    width: int = Field(ge=2)
    height: int = Field(ge=2)
    keyframes: tuple[tuple[float, float], ...] = Field(min_length=1)
    fallback: tuple[tuple[float, float], ...] = ()


class ChunkCut(Contract):
    """One cut's video in the chunk: its frame, rate control and exactly how many frames."""

    profile: ProfileName
    width: int = Field(ge=2)
    height: int = Field(ge=2)
    # None: quality-driven (the job's CRF); a number: the cut's size-driven average bitrate, kb/s.
    video_kbps: int | None = Field(default=None, ge=1)
    frames: int = Field(ge=1)
    crop: ChunkCrop | None = None


class TranscodeChunk(Event):
    """One chunk of a long footage's video for any transcode worker to encode. Key: slot."""

    footage_id: FootageId
    ward: WardId = DEFAULT_WARD
    # The footage.uploaded event whose job asks (a chunk that comes after that job announced its cuts is skipped).
    upload_event_id: Id
    # The owner's plan: the chunks of one plan share it, and it names their storage keys.
    job_id: Id
    index: int = Field(ge=0)
    count: int = Field(ge=1)
    slot: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,6}$")]
    source_key: str
    # The stretch of the source (seconds after its start, as ffmpeg's -ss and -to read them); None: to its end.
    start_s: float = Field(ge=0)
    end_s: float | None = None
    # The cuts' constant frame rate (an ffmpeg rational, "30" or "30000/1001") and the encoder settings of the
    # job: every chunk of a cut is encoded alike, or its chunks would not join by stream copy. None: each cut's own
    # measured settings (transcode's profiles.py), the same for every chunk.
    fps: str
    preset: str | None = None
    crf: int | None = Field(default=None, ge=0, le=51)
    cuts: tuple[ChunkCut, ...] = Field(min_length=1)
    logo_key: str | None = None
    # The cues on this chunk's timeline, as SRT, burnt in; None: no subtitles.
    subtitles: str | None = None


class ChunkResult(Contract):
    """What a worker says about a chunk it encoded (`layout.chunk_key(..., RESULT_NAME)`, written last): the frames
    of each cut's file, or why the chunk could not be made (the owner then encodes the footage in a single run)."""

    frames: dict[ProfileName, int] = Field(default_factory=dict)
    error: str | None = None
    # Each cut's file's frames hashed (loa_core.fingerprint.FramePrints text), so the owner takes the joined cut's
    # fingerprint from them; empty from a release before they were made (the owner then fingerprints the cut whole).
    frame_prints: dict[ProfileName, str] = Field(default_factory=dict)


RESULT_NAME = "result.json"


def spread(partitions: int) -> tuple[int, ...]:
    """The partitions in the order a job's chunks take them: each next one as far as possible from those taken
    (0, 6, 3, 9, ... for 12), so the first chunks of a job reach every worker whether the group's assignor gives a
    worker a contiguous range of partitions or every n-th one."""
    order = [0]
    while len(order) < partitions:

        def apart(p: int, q: int) -> int:
            return min(abs(p - q), partitions - abs(p - q))

        def score(p: int) -> tuple[int, int, int]:
            # Far from every partition taken, then far from the last one taken; the lowest on a tie.
            return (min(apart(p, q) for q in order), apart(p, order[-1]), -p)

        order.append(max((p for p in range(partitions) if p not in order), key=score))
    return tuple(order)


@cache
def chunk_slot(index: int, partitions: int) -> str:
    """The smallest number whose text the producers' default partitioner (murmur2, as Kafka's Java client) sends to
    the `index`-th partition of `spread(partitions)`, round and round."""
    from aiokafka.partitioner import DefaultPartitioner

    wanted = spread(partitions)[index % partitions]
    every = list(range(partitions))
    n = 0
    while DefaultPartitioner()(str(n).encode(), every, every) != wanted:
        n += 1
    return str(n)
