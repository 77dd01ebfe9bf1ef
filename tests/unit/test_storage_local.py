"""LocalStorage: the shared storage contract plus what only a filesystem backend has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from loa_core.storage import (
    InvalidKey,
    LocalStorage,
    Storage,
    StorageSettings,
    make_storage,
)
from tests.support.storage_contract import StorageContract, StreamBroke, failing_stream, random_bytes


class TestLocalStorageContract(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Storage:
        return LocalStorage(tmp_path / "store")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def local(root: Path) -> LocalStorage:
    return LocalStorage(root)


def test_creates_missing_root(root: Path) -> None:
    LocalStorage(root / "deeper")
    assert (root / "deeper").is_dir()


def test_local_path_points_at_object_file(local: LocalStorage, root: Path) -> None:
    local.put_stream("raw/v1/source.mp4", [b"media"])

    path = local.local_path("raw/v1/source.mp4")

    assert path == root.resolve() / "raw" / "v1" / "source.mp4"
    assert path is not None
    assert path.read_bytes() == b"media"


@pytest.mark.parametrize("key", ["../escaped", "raw/../../escaped", "/tmp/escaped"])
def test_traversal_keys_never_touch_files_outside_root(local: LocalStorage, tmp_path: Path, key: str) -> None:
    with pytest.raises(InvalidKey):
        local.put_stream(key, [b"x"])
    assert not (tmp_path / "escaped").exists()
    assert not Path("/tmp/escaped").exists()


def test_symlink_inside_root_cannot_lead_outside(local: LocalStorage, root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"not yours")
    (root / "link").symlink_to(outside, target_is_directory=True)

    with pytest.raises(InvalidKey):
        local.open_read("link/secret")
    with pytest.raises(InvalidKey):
        local.put_stream("link/planted", [b"x"])
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]


def test_failed_put_stream_leaves_no_temp_file(local: LocalStorage, root: Path) -> None:
    with pytest.raises(StreamBroke):
        local.put_stream("raw/v1/source.mp4", failing_stream(random_bytes(10_000), 1_000))

    assert list((root / "raw" / "v1").iterdir()) == []


def test_object_is_invisible_until_put_stream_completes(local: LocalStorage, root: Path) -> None:
    seen_during_write: list[tuple[bool, list[str]]] = []

    def chunks() -> Iterator[bytes]:
        yield b"first half "
        # Mid-write: the in-flight temp file exists on disk but is not an object yet.
        seen_during_write.append((local.exists("out/v1/seg.ts"), local.list()))
        yield b"second half"

    local.put_stream("out/v1/seg.ts", chunks())

    assert seen_during_write == [(False, [])]
    assert len(list((root / "out" / "v1").iterdir())) == 1
    assert local.list() == ["out/v1/seg.ts"]


def test_published_files_are_world_readable(local: LocalStorage) -> None:
    local.put_stream("out/v1/seg.ts", [b"x"])
    path = local.local_path("out/v1/seg.ts")
    assert path is not None
    assert path.stat().st_mode & 0o777 == 0o644


def test_folder_is_not_an_object(local: LocalStorage) -> None:
    local.put_stream("raw/v1/source.mp4", [b"x"])

    assert not local.exists("raw/v1")
    local.delete("raw/v1")  # a folder is no object: nothing to delete, and not an error
    assert local.exists("raw/v1/source.mp4")


def test_make_storage_defaults_to_local(root: Path) -> None:
    storage = make_storage(StorageSettings(root=root))

    assert isinstance(storage, LocalStorage)
    assert storage.root == root.resolve()


def test_settings_reject_s3_without_bucket() -> None:
    with pytest.raises(ValueError, match="s3_bucket"):
        StorageSettings(backend="s3", s3_bucket="")


def test_settings_hide_secret_key() -> None:
    settings = StorageSettings(backend="s3", s3_secret_key=SecretStr("hunter2-secret"))
    assert "hunter2-secret" not in repr(settings)
    assert settings.s3_secret_key is not None
    assert settings.s3_secret_key.get_secret_value() == "hunter2-secret"
