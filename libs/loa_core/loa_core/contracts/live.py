"""A livestream transcoded while it is still live: the archiver announces each closed stretch of it.

- `LiveChunk` (topic `live.chunks`, archiver → transcode): a run of recorded segments that closed, in order, about
  `live_chunk_s` long; any transcode worker encodes its video for every cut of the archive's channels and stores
  the result under `layout.live_chunk_key(...)` (its result last). Keyed by `slot` (contracts/chunks.py's
  `chunk_slot` of the chunk's index), so a live's chunks go round the partitions and every worker of the group
  takes its share: a live whose resolution one worker cannot keep up with is kept up with by several.
- As soon as a worker has joined a chunk's segments it writes the chunk's measure (`LiveChunkMeasure`: its frames and
  its sound's loudness, `layout.live_chunk_key(..., LIVE_MEASURE)`), before encoding anything: the chunks after it
  take from the measures before them where they start in the cut and the live's loudness so far, the gain their
  sound is encoded with.
- At the end the archive's `FootageUploaded` says how many chunks it is made of (`live_chunks`): transcode joins
  the chunks' video by stream copy and splices their encoded sound, and only the chunks still being encoded and the
  checks are left to do, whatever the live's length.
A chunk announced twice (a restarted archiver announces again what it may have announced) writes the same
objects: the second finds the result and stops.
"""

from __future__ import annotations

from pydantic import Field

from loa_core.contracts.base import DEFAULT_WARD, ChannelName, Contract, Event, FootageId, ProfileName, WardId
from loa_core.contracts.chunks import chunk_slot

# live.chunks' partitions (contracts/topics.py: LIVE_CHUNKS): the slots go round them.
LIVE_CHUNK_PARTITIONS = 6
# A chunk's sound is encoded from a few seconds before the chunk (its encoder settled by the seam, where the join
# splices it to the chunk before's): the segments before the chunk are announced with it, at least this long of them.
LIVE_PREROLL_S = 4.5


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
    # The segments right before the chunk's, at least LIVE_PREROLL_S of them (none for the first chunk, or from an
    # archiver of an older release: the chunk's sound is then left to the archive's job).
    preroll: tuple[LiveSegment, ...] = ()
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


class LiveChunkMeasure(Contract):
    """A chunk's measure (`layout.live_chunk_key(..., LIVE_MEASURE)`), written as soon as the chunk's segments are
    joined, before its encode: where the chunks after it start in the cut, and the live's loudness so far."""

    # The chunk's frames at the live's rate: exactly the frames each of its encoded cuts has.
    frames: int = Field(ge=0)
    # Its sound measured; None: no sound, or no measure of it.
    sound: LiveSound | None = None


class LiveEncodedSound(Contract):
    """A chunk's sound, encoded while the live goes on (AAC in ADTS, one file per audio bitrate), for the join to
    splice by stream copy. Sample counts are at 48 kHz on the cut's timeline (0: the archive's first frame)."""

    # kbps -> the file's name under the chunk's objects.
    files: dict[int, str] = Field(min_length=1)
    # The first sample the encode took in (the seam less the pre-roll): its first AAC frame is 1024 before it; and
    # how many AAC frames it made (each file the same).
    encoded_from: int
    aac_frames: int = Field(ge=1)
    # Where the chunk's sound starts and where the next chunk's starts, on AAC frames of 1024 samples (a little before
    # each chunk's first frame: a chunk's sound may end a little before its picture).
    seam: int = Field(ge=0)
    next_seam: int = Field(ge=0)
    # The gain (dB) at the seam and at the next: a ramp between them, the live's loudness so far brought to the
    # target as it went.
    gain_from_db: float
    gain_to_db: float


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
    # The chunk's sound encoded; None: left to the archive's job (no sound, no pre-roll, a measure before it missing
    # when it was encoded, or a release before chunks encoded their sound).
    encoded_sound: LiveEncodedSound | None = None
    # Why the chunk could not be made: the archive then takes the single run.
    error: str | None = None


LIVE_RESULT = "result.json"
LIVE_MEASURE = "measure.json"
LIVE_CANDIDATES = "candidates.gray"
LIVE_SOURCE = "source"  # never a cut's file name (<profile>.mp4)
