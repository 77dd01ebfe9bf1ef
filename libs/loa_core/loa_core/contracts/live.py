"""A livestream transcoded while it is still live: the archiver announces each closed stretch of it.

- `LiveChunk` (topic `live.chunks`, archiver → transcode): a run of recorded segments that closed, in order, about
  `live_chunk_s` long; any transcode worker encodes its video for every cut of the archive's channels and stores
  the result under `layout.live_chunk_key(...)` (its result last). Keyed by `slot` (contracts/chunks.py's
  `chunk_slot` of the chunk's index), so a live's chunks go round the partitions and every worker of the group
  takes its share: a live whose resolution one worker cannot keep up with is kept up with by several.
- At the end the archive's `FootageUploaded` says how many chunks it is made of (`live_chunks`): transcode joins
  the chunks' video by stream copy, and only the chunks still being encoded, the sound of the whole archive
  (normalized once) and the checks are left to do, whatever the live's length.
A chunk announced twice (a restarted archiver announces again what it may have announced) writes the same
objects: the second finds the result and stops.
"""

from __future__ import annotations

from pydantic import Field

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Contract, Event, FootageId, ProfileName, WardId
from loa_core.contracts.chunks import chunk_slot

# live.chunks' partitions (contracts/topics.py: LIVE_CHUNKS): the slots go round them.
LIVE_CHUNK_PARTITIONS = 6


class LiveSegment(Contract):
    key: str  # live/<archive_id>/segNNNNN.ts
    duration_s: float = Field(ge=0)


class LiveChunk(Event):
    """A closed stretch of a livestream being recorded, for transcode to encode before the live ends. Key: slot."""

    footage_id: FootageId
    ward: WardId = DEFAULT_WARD
    archive_id: str
    index: int = Field(ge=0)
    # Where the chunk starts in the archive (the sum of the segments before it), seconds.
    start_s: float = Field(ge=0)
    segments: tuple[LiveSegment, ...] = Field(min_length=1)
    # The archive's channels: their profiles are the cuts to encode.
    channels: tuple[ChannelName, ...] = Field(min_length=1)

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)

    @property
    def slot(self) -> str:
        """The record's key: sends the live's chunks round the topic's partitions, one after another. Derived from
        the index, not a field, so a chunk announced again goes where it went before."""
        return chunk_slot(self.index, LIVE_CHUNK_PARTITIONS)


class LiveSound(Contract):
    """A live chunk's sound measured as EBU R128 material that adds up (ITU-R BS.1770): the archive's job gates every
    chunk's blocks together into the whole archive's integrated loudness, and takes the highest chunk's true peak,
    instead of decoding the whole archive's sound again once the live has ended."""

    # The loudness (LUFS) of each 400 ms block of the chunk's sound, one every 100 ms (ffmpeg's ebur128 momentary
    # loudness, to 0.1 LU; under -70, the absolute gate, where less than 400 ms of sound had come).
    momentary_lufs: tuple[float, ...] = ()
    # The chunk's true peak (dBTP); None: digital silence.
    true_peak_dbtp: float | None = None


class LiveChunkResult(Contract):
    """What a worker says about a live chunk it encoded (`layout.live_chunk_key(..., RESULT)`, written last)."""

    # Where the chunk is in the archive, seconds.
    start_s: float = Field(ge=0)
    duration_s: float = Field(ge=0)
    # Each encoded cut's file (cuts of the same frame share one: {"tiktok": "tiktok.mp4", "shorts": "tiktok.mp4"});
    # a cut the source passes through, or one that ends before the chunk, has none.
    files: dict[ProfileName, str] = Field(default_factory=dict)
    # The frames of each file, and how many thumbnail candidates the chunk has (one every few seconds).
    frames: dict[str, int] = Field(default_factory=dict)
    candidates: int = Field(default=0, ge=0)
    # Each file's frames hashed as the fingerprint hashes its samples (loa_core.fingerprint.FramePrints as text):
    # the join takes from them the cut's fingerprint, once it knows where the chunk starts in the cut. Under
    # LIVE_SOURCE (in `frames` too), the chunk's source's own frames, when a cut may pass the source through: the
    # frames that cut carries, no file of the chunk's.
    frame_prints: dict[str, str] = Field(default_factory=dict)
    # The chunk's sound measured; None: no sound, or a release before chunks measured it (the archive's sound, when
    # it has one, is then measured whole at the end).
    sound: LiveSound | None = None
    # Why the chunk could not be made: the archive then takes the single run.
    error: str | None = None


LIVE_RESULT = "result.json"
LIVE_CANDIDATES = "candidates.gray"
LIVE_SOURCE = "source"  # never a cut's file name (<profile>.mp4)
