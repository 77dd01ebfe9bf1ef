"""The `local` target: copies each cut into a folder and keeps an index.html listing every post."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from loa_core.storage import ObjectNotFound, Storage
from loa_core.streaming import PermanentError, RetryableError
from loa_publisher.adapters import PostResult, PublishRequest, UploadSession

_templates = Environment(loader=PackageLoader("loa_publisher", "templates"), autoescape=select_autoescape())


class LocalAdapter:
    platform = "local"

    def __init__(self, storage: Storage, publish_dir: Path) -> None:
        self._storage = storage
        self._root = publish_dir.resolve()
        self._lock = asyncio.Lock()  # one index rewrite at a time

    async def publish(self, request: PublishRequest, session: UploadSession) -> PostResult:
        # A copy into a folder needs no resumable session: a retry just copies again (atomically).
        # Ids and profile names are validated by the contracts (hex, [a-z0-9_-]), so they are safe path parts.
        folder = self._root / request.footage_id
        name = f"{request.rendition.profile}.mp4"
        try:
            await asyncio.to_thread(self._copy, request.rendition.key, folder, name)
        except ObjectNotFound as exc:
            raise PermanentError(f"{request.rendition.key} is not in storage") from exc
        except OSError as exc:  # storage unreachable (StorageUnavailable) or the publish folder's disk
            raise RetryableError(f"could not copy {request.rendition.key}: {exc}") from exc
        async with self._lock:
            await asyncio.to_thread(self._write_manifest, folder, request, name)
            await asyncio.to_thread(self._write_index)
        target = folder / name
        return PostResult(post_id=f"{request.footage_id}/{name}", url=target.as_uri())

    def _copy(self, key: str, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        self._storage.download(key, partial)
        partial.replace(folder / name)  # a reader never sees half a file

    def _write_manifest(self, folder: Path, request: PublishRequest, name: str) -> None:
        manifest_path = folder / "post.json"
        manifest = json.loads(manifest_path.read_text("utf-8")) if manifest_path.exists() else {"cuts": {}}
        manifest.update(
            footage_id=request.footage_id,
            # What it posts: the channel's templates' text, or a person's (an editor's edit, an approver's change).
            title=request.text.title,
            description=request.text.description,
            hashtags=list(request.text.hashtags),
            tags=list(request.metadata.tags),
        )
        manifest["cuts"][request.rendition.profile] = {
            "file": name,
            "width": request.rendition.width,
            "height": request.rendition.height,
            "duration_s": request.rendition.duration_s,
        }
        tmp = folder / ".post.json.partial"
        tmp.write_text(json.dumps(manifest, ensure_ascii=False, indent=2), "utf-8")
        tmp.replace(manifest_path)

    def _write_index(self) -> None:
        posts = []
        for manifest_path in sorted(self._root.glob("*/post.json"), key=lambda p: p.stat().st_mtime, reverse=True):
            posts.append(json.loads(manifest_path.read_text("utf-8")))
        html = _templates.get_template("index.html.j2").render(posts=posts)
        tmp = self._root / ".index.html.partial"
        tmp.write_text(html, "utf-8")
        tmp.replace(self._root / "index.html")
