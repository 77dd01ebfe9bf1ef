"""Behaviour every loa_core.storage backend must share, written once.

A test module subclasses `StorageContract` as `Test...` and provides a `storage` fixture returning a new,
empty backend; pytest then runs every test below against that backend. The local backend runs it in
tests/unit, the S3 backend against a real MinIO in tests/integration.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from loa_core.hashing import sha256_file
from loa_core.storage import InvalidKey, ObjectNotFound, RangeNotSatisfiable, Storage

BAD_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("../outside", id="dotdot-leading"),
    pytest.param("raw/../../outside", id="dotdot-inner"),
    pytest.param("raw/..", id="dotdot-trailing"),
    pytest.param("raw\\..\\outside", id="backslash"),
    pytest.param("raw/a\x00b", id="nul"),
    pytest.param("raw//a", id="empty-segment"),
    pytest.param("raw/", id="trailing-slash"),
    pytest.param("raw/./a", id="dot-segment"),
    pytest.param("raw/.loa-tmp-abc", id="reserved-temp-prefix"),
]

# Every Storage method that takes a key, called with the bad key in each key position.
KEY_CALLS: list[Any] = [
    pytest.param(lambda s, k, f: s.put_file(k, f), id="put_file"),
    pytest.param(lambda s, k, f: s.put_stream(k, [b"x"]), id="put_stream"),
    pytest.param(lambda s, k, f: s.create(k, b"x"), id="create"),
    pytest.param(lambda s, k, f: s.download(k, f.parent / "dest"), id="download"),
    pytest.param(lambda s, k, f: s.open_read(k), id="open_read"),
    pytest.param(lambda s, k, f: s.read_range(k, 0, 0), id="read_range"),
    pytest.param(lambda s, k, f: s.exists(k), id="exists"),
    pytest.param(lambda s, k, f: s.size(k), id="size"),
    pytest.param(lambda s, k, f: s.delete(k), id="delete"),
    pytest.param(lambda s, k, f: s.move(k, "ok/dst"), id="move-src"),
    pytest.param(lambda s, k, f: s.move("ok/src", k), id="move-dst"),
    pytest.param(lambda s, k, f: s.local_path(k), id="local_path"),
]

MISSING_CALLS: list[Any] = [
    pytest.param(lambda s, tmp: s.download("raw/missing", tmp / "dest"), id="download"),
    pytest.param(lambda s, tmp: s.open_read("raw/missing"), id="open_read"),
    pytest.param(lambda s, tmp: s.read_range("raw/missing", 0, 10), id="read_range"),
    pytest.param(lambda s, tmp: s.size("raw/missing"), id="size"),
    pytest.param(lambda s, tmp: s.move("raw/missing", "raw/dst"), id="move"),
]


def random_bytes(size: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


class StreamBroke(RuntimeError):
    """Raised by a test's chunk source to simulate an upload that dies mid-stream."""


def failing_stream(data: bytes, chunk_size: int) -> Iterator[bytes]:
    yield from chunked(data, chunk_size)
    raise StreamBroke("source went away")


class StorageContract:
    """Shared tests; subclasses supply the `storage` fixture."""

    @pytest.fixture
    def storage(self) -> Storage:
        raise NotImplementedError("subclasses provide a fresh, empty backend")

    @pytest.fixture
    def sample(self, tmp_path: Path) -> Path:
        path = tmp_path / "sample.bin"
        path.write_bytes(random_bytes(300_000))
        return path

    def test_put_file_round_trip(self, storage: Storage, sample: Path, tmp_path: Path) -> None:
        storage.put_file("raw/v1/source.mp4", sample)

        assert storage.exists("raw/v1/source.mp4")
        assert storage.size("raw/v1/source.mp4") == sample.stat().st_size
        dest = tmp_path / "out" / "copy.mp4"  # parent folder does not exist yet
        storage.download("raw/v1/source.mp4", dest)
        assert dest.read_bytes() == sample.read_bytes()

    def test_readable_is_the_object_in_place_or_else_downloaded(
        self, storage: Storage, sample: Path, tmp_path: Path
    ) -> None:
        storage.put_file("live/a/seg00001.ts", sample)
        dest = tmp_path / "work" / "seg00001.ts"
        path = storage.readable("live/a/seg00001.ts", dest)
        assert path.read_bytes() == sample.read_bytes()
        # In place where the backend has a path for the object (nothing copied), downloaded to `dest` where not.
        in_place = storage.local_path("live/a/seg00001.ts")
        assert path == (in_place if in_place is not None else dest)
        assert dest.exists() == (in_place is None)
        with pytest.raises(ObjectNotFound):
            storage.readable("live/a/seg00002.ts", tmp_path / "work" / "seg00002.ts")

    def test_put_file_hashed_stores_the_file_and_gives_its_sha256(
        self, storage: Storage, sample: Path, tmp_path: Path
    ) -> None:
        # A small block: the hash is made across many reads, in order.
        assert storage.put_file_hashed("raw/v4/source.mp4", sample, block=7_000) == sha256_file(sample)
        dest = tmp_path / "copy.mp4"
        storage.download("raw/v4/source.mp4", dest)
        assert dest.read_bytes() == sample.read_bytes()

    def test_put_file_replaces_existing_object(self, storage: Storage, tmp_path: Path) -> None:
        first, second = tmp_path / "first", tmp_path / "second"
        first.write_bytes(b"first version, longer")
        second.write_bytes(b"second")
        storage.put_file("out/v1/index.m3u8", first)
        storage.put_file("out/v1/index.m3u8", second)

        with storage.open_read("out/v1/index.m3u8") as stream:
            assert stream.read() == b"second"

    def test_open_read_streams_in_chunks(self, storage: Storage, sample: Path) -> None:
        storage.put_file("raw/v1/source.mp4", sample)

        digest = hashlib.sha256()
        with storage.open_read("raw/v1/source.mp4") as stream:
            while chunk := stream.read(64 * 1024):
                assert len(chunk) <= 64 * 1024
                digest.update(chunk)
        assert digest.hexdigest() == hashlib.sha256(sample.read_bytes()).hexdigest()

    @pytest.mark.parametrize(
        ("start", "end"),
        [(0, 0), (0, 299_999), (1, 65_537), (150_000, 299_999), (299_999, 299_999), (299_000, 10**9)],
        ids=["first-byte", "whole", "across-chunks", "tail", "last-byte", "end-past-size"],
    )
    def test_read_range_gives_exactly_the_bytes_asked(
        self, storage: Storage, sample: Path, start: int, end: int
    ) -> None:
        storage.put_file("out/v1/youtube.mp4", sample)
        data = sample.read_bytes()

        chunks = list(storage.read_range("out/v1/youtube.mp4", start, end, chunk_size=64 * 1024))

        assert all(0 < len(chunk) <= 64 * 1024 for chunk in chunks)
        assert b"".join(chunks) == data[start : end + 1]

    @pytest.mark.parametrize(("start", "end"), [(300_000, 300_010), (10**9, 10**9 + 1), (10, 9), (-1, 5)])
    def test_read_range_outside_the_object_is_not_satisfiable(
        self, storage: Storage, sample: Path, start: int, end: int
    ) -> None:
        storage.put_file("out/v1/youtube.mp4", sample)

        with pytest.raises(RangeNotSatisfiable):
            storage.read_range("out/v1/youtube.mp4", start, end)

    def test_put_stream_writes_all_chunks_and_counts_bytes(self, storage: Storage) -> None:
        data = random_bytes(100_003)
        # Uneven and empty chunks, as an HTTP body delivers them.
        chunks = [data[:1], b"", data[1:70_000], data[70_000:]]

        written = storage.put_stream("raw/v2/source.mp4", iter(chunks))

        assert written == len(data)
        assert storage.size("raw/v2/source.mp4") == len(data)
        with storage.open_read("raw/v2/source.mp4") as stream:
            assert stream.read() == data

    def test_put_stream_of_nothing_stores_empty_object(self, storage: Storage) -> None:
        assert storage.put_stream("raw/empty", iter([])) == 0
        assert storage.exists("raw/empty")
        assert storage.size("raw/empty") == 0

    def test_failed_put_stream_leaves_previous_object_and_nothing_else(self, storage: Storage) -> None:
        storage.put_stream("raw/v3/source.mp4", [b"old content"])

        with pytest.raises(StreamBroke):
            storage.put_stream("raw/v3/source.mp4", failing_stream(random_bytes(50_000), 10_000))

        with storage.open_read("raw/v3/source.mp4") as stream:
            assert stream.read() == b"old content"
        assert storage.list("raw/") == ["raw/v3/source.mp4"]

    def test_create_stores_only_where_nothing_is(self, storage: Storage) -> None:
        assert storage.create("staging/v1/lease", b"first")
        assert not storage.create("staging/v1/lease", b"second")

        with storage.open_read("staging/v1/lease") as stream:
            assert stream.read() == b"first"
        assert storage.list("staging/") == ["staging/v1/lease"]
        storage.delete("staging/v1/lease")
        assert storage.create("staging/v1/lease", b"third")

    def test_of_writers_racing_to_create_a_key_exactly_one_wins(self, storage: Storage) -> None:
        writers = 8
        start = threading.Barrier(writers)

        def create(n: int) -> bool:
            start.wait()
            return storage.create("staging/v2/lease", f"writer {n}".encode())

        with ThreadPoolExecutor(writers) as pool:
            won = list(pool.map(create, range(writers)))

        assert won.count(True) == 1
        with storage.open_read("staging/v2/lease") as stream:
            assert stream.read() == f"writer {won.index(True)}".encode()
        assert storage.list("staging/") == ["staging/v2/lease"]

    def test_delete_removes_and_tolerates_missing(self, storage: Storage) -> None:
        storage.put_stream("tmp/v1/part", [b"abc"])

        storage.delete("tmp/v1/part")
        storage.delete("tmp/v1/part")  # second delete of the same key: no error
        storage.delete("never/existed")

        assert not storage.exists("tmp/v1/part")
        assert storage.list("tmp/") == []

    def test_list_matches_prefix_as_plain_string_sorted(self, storage: Storage) -> None:
        for key in ["raw/b/source.mp4", "raw/a/source.mp4", "raw/ab/source.mp4", "out/a/index.m3u8", "top"]:
            storage.put_stream(key, [key.encode()])

        assert storage.list("raw/") == ["raw/a/source.mp4", "raw/ab/source.mp4", "raw/b/source.mp4"]
        assert storage.list("raw/a") == ["raw/a/source.mp4", "raw/ab/source.mp4"]
        assert storage.list("raw/a/") == ["raw/a/source.mp4"]
        assert storage.list("raw/a/source.mp4") == ["raw/a/source.mp4"]
        assert storage.list("nothing/here/") == []
        assert storage.list() == sorted(
            ["out/a/index.m3u8", "raw/a/source.mp4", "raw/ab/source.mp4", "raw/b/source.mp4", "top"]
        )

    def test_move_publishes_under_new_key(self, storage: Storage) -> None:
        storage.put_stream("out/v1/.tmp/seg-0.ts", [b"segment"])
        storage.put_stream("out/v1/seg-0.ts", [b"stale"])

        storage.move("out/v1/.tmp/seg-0.ts", "out/v1/seg-0.ts")

        assert not storage.exists("out/v1/.tmp/seg-0.ts")
        with storage.open_read("out/v1/seg-0.ts") as stream:
            assert stream.read() == b"segment"
        assert storage.list("out/") == ["out/v1/seg-0.ts"]

    def test_move_onto_itself_keeps_object(self, storage: Storage) -> None:
        storage.put_stream("out/v1/seg-0.ts", [b"segment"])

        storage.move("out/v1/seg-0.ts", "out/v1/seg-0.ts")

        assert storage.size("out/v1/seg-0.ts") == len(b"segment")

    def test_exists_is_false_for_missing_key(self, storage: Storage) -> None:
        assert not storage.exists("raw/missing")

    @pytest.mark.parametrize("call", MISSING_CALLS)
    def test_missing_key_raises_object_not_found(
        self, storage: Storage, tmp_path: Path, call: Callable[[Storage, Path], object]
    ) -> None:
        with pytest.raises(ObjectNotFound) as caught:
            call(storage, tmp_path)
        assert isinstance(caught.value, KeyError)
        assert caught.value.key == "raw/missing"

    @pytest.mark.parametrize("bad_key", BAD_KEYS)
    @pytest.mark.parametrize("call", KEY_CALLS)
    def test_invalid_keys_are_rejected_everywhere(
        self,
        storage: Storage,
        sample: Path,
        bad_key: str,
        call: Callable[[Storage, str, Path], object],
    ) -> None:
        storage.put_stream("ok/src", [b"src"])

        with pytest.raises(InvalidKey) as caught:
            call(storage, bad_key, sample)

        assert isinstance(caught.value, ValueError)
        # The rejected call changed nothing.
        assert storage.list() == ["ok/src"]

    @pytest.mark.parametrize("bad_prefix", ["/abs", "../", "raw/../x", "a\\b", "a\x00", "raw//"])
    def test_invalid_list_prefix_is_rejected(self, storage: Storage, bad_prefix: str) -> None:
        with pytest.raises(InvalidKey):
            storage.list(bad_prefix)
