"""Live to published while still live: a 24 s RTMP push to the archiver process (real Kafka); its closed chunks are
announced on live.chunks while the publisher is still sending, transcode encodes them as they come, and the
archive's job joins them by stream copy (its sound normalized once) into conformant cuts."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
from pathlib import Path

import pytest

from loa_core.channels import Channel
from loa_core.contracts import LiveChunk, layout
from loa_core.fingerprint import fingerprint_file
from loa_core.media import FFMPEG
from loa_core.storage import LocalStorage
from loa_dev.kafka import KafkaBroker
from loa_transcode.chunks import concat_list
from loa_transcode.live import encode_live_chunk, joined_fingerprint
from loa_transcode.pipeline import JobContext, transcode
from tests.support.archiver import Publisher, archiver_process, livestream_events
from tests.support.kafka import read_topic
from tests.support.transcode import TEST_OPTIONS, ebur128, video_stream


def _chunks(bootstrap: str, prefix: str, at_least: int, timeout_s: float) -> list[LiveChunk]:
    records = read_topic(bootstrap, f"{prefix}live.chunks", lambda r: len(r) >= at_least, timeout_s)
    return sorted((LiveChunk.from_bytes(r.value) for r in records if r.value), key=lambda c: c.index)


def _pictures_md5(*args: str) -> str:
    """The MD5 of the decoded pictures: equal only for the same encoded pictures (an encode more would change
    them). Packets are not compared: the concat demuxer puts each chunk's own SPS/PPS in band at its start."""
    out = subprocess.run(
        [FFMPEG, "-v", "error", *args, "-map", "0:v:0", "-f", "md5", "-"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


# Each chunk is upscaled to two 1080p cuts: minutes on a loaded machine (about 2 on a quiet one).
@pytest.mark.timeout(1200)
def test_a_live_is_encoded_while_it_goes_on_and_its_cuts_are_the_chunks_joined(
    tmp_path: Path, kafka_broker: KafkaBroker, topic_prefix: str
) -> None:
    bootstrap = kafka_broker.bootstrap
    with archiver_process(tmp_path, bootstrap, topic_prefix, live_chunk_s="6") as archiver:
        storage = LocalStorage(archiver.storage_root)
        channel = Channel(name="local", platform="local", profiles=("youtube", "tiktok"))
        ctx = JobContext(
            storage=storage, channels={"local": channel}, options=TEST_OPTIONS, workdir_root=tmp_path / "work"
        )
        key = archiver.new_stream_key(title="Đại hội đại biểu")
        publisher = Publisher(f"{archiver.rtmp_base}/{key['stream_key']}", 24)

        # Two chunks closed and announced while the publisher still sends: encoded there and then.
        early = _chunks(bootstrap, topic_prefix, 2, 30)
        assert publisher.proc.poll() is None, "the chunks should come while the live goes on"
        for chunk in early:
            result = asyncio.run(encode_live_chunk(chunk, ctx))
            assert result.error is None and set(result.files) == {"youtube", "tiktok"}, result
        assert publisher.wait() == 0, publisher.stderr()

        archive = livestream_events(bootstrap, topic_prefix, 2)[0]
        chunks = {c.index: c for c in _chunks(bootstrap, topic_prefix, archive.live_chunks or 1, 30)}
        assert archive.live_chunks == len(chunks) >= 4 and sorted(chunks) == list(range(len(chunks)))
        # The chunks tile the archive: each starts where the one before ended.
        ordered = [chunks[i] for i in range(len(chunks))]
        for before, after in itertools.pairwise(ordered):
            assert abs(before.start_s + before.duration_s - after.start_s) < 1e-3
        assert abs(ordered[-1].start_s + ordered[-1].duration_s - archive.media.duration_s) < 0.5
        # The archive was assembled from its segments read where they are stored: every one is still stored.
        assert all(storage.exists(s.key) for c in ordered for s in c.segments)
        results = [asyncio.run(encode_live_chunk(c, ctx)) for c in ordered]
        # A chunk announced again is found done, not encoded again.
        assert results[0] == asyncio.run(encode_live_chunk(ordered[0], ctx))

        # What the join must give: the chunks' own YouTube video, back to back (copied aside: the job clears them).
        aside = tmp_path / "aside"
        aside.mkdir()
        parts = []
        for c, r in zip(ordered, results, strict=True):
            path = storage.local_path(layout.live_chunk_key(archive.footage_id, c.index, r.files["youtube"]))
            assert path is not None
            parts.append(Path(shutil.copy(path, aside / f"{c.index:05d}.mp4")))
        (aside / "list.txt").write_text(concat_list(parts), "utf-8")
        expected = _pictures_md5("-f", "concat", "-safe", "0", "-i", str(aside / "list.txt"))

        ready = asyncio.run(transcode(archive, ctx=ctx))
        cuts = {r.profile: storage.local_path(r.key) for r in ready.renditions}
        youtube, tiktok = cuts["youtube"], cuts["tiktok"]
        assert youtube is not None and tiktok is not None
        assert _pictures_md5("-i", str(youtube)) == expected
        assert (video_stream(tiktok)["width"], video_stream(tiktok)["height"]) == (1080, 1920)
        for path in (youtube, tiktok):
            assert abs(float(video_stream(path)["duration"]) - archive.media.duration_s) <= 1 / 25 + 1e-3
            integrated, peak = ebur128(path)
            assert abs(integrated - -14.0) <= 1.0 and peak <= -1.0, (integrated, peak)
        # Each cut's fingerprint was made from its chunks' during the live, and is the whole cut's.
        for rendition in ready.renditions:
            from_chunks = joined_fingerprint(results, rendition.profile)
            assert from_chunks is not None and rendition.fingerprint == from_chunks
            cut = cuts[rendition.profile]
            assert cut is not None
            whole = asyncio.run(fingerprint_file(cut))
            assert from_chunks == whole.to_text()
        assert {i.kind for i in ready.images} >= {"thumbnail", "cover", "thumbnail-1"}
        # The job cleared the chunks from staging once the cuts were in place.
        assert storage.list(layout.staging_prefix(archive.footage_id)) == []
