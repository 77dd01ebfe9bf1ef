"""Every post's cut is signed (a C2PA manifest, loa_core.provenance) once, before its first upload byte.

A post is a cut on a channel, and the manifest names the channel and when it was published, so the signed copy
is per post: `signed/<footage>/<channel>/<profile>.mp4`, then the record of what was signed beside it (.json,
written last). A retry, a redelivery or a resumed upload finds the record and uploads the same bytes (an upload
session resumes only the same bytes); a crash between the two files signs again, before any upload used them.

The ward's key comes from ingest over the service token (loa_core.contracts.provenance), never from an event. A cut
that cannot be signed is not published: `CutNotSigned` (bilingual), said on posts.failed (retryable: `loa retry`
once the cause is fixed). Ingest or storage unreachable are RetryableErrors (the post is held and tried again).
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import ParamSpec, TypeVar

import httpx

from loa_core import provenance
from loa_core.channels import Channel
from loa_core.contracts import Rendition, RenditionsReady, layout, utc_now
from loa_core.contracts.provenance import PROVENANCE_PATH, WardSigningKey
from loa_core.hashing import sha256_file
from loa_core.provenance import KeyPair, ProvenanceError, Trust
from loa_core.storage import ObjectNotFound, Storage, StorageUnavailable
from loa_core.streaming import PermanentError, RetryableError

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
KEY_CACHE_S = 300.0  # a rotated ward key is used within five minutes


class CutNotSigned(PermanentError):
    """The cut could not be signed, so it is not published (the message is bilingual, and names no key)."""

    def __init__(self, why: str) -> None:
        super().__init__(
            f"The cut could not be signed, so it was not published / Không ký được bản cắt nên chưa đăng: {why}"
        )


class IngestKeys:
    """A ward's signing key from ingest (the publisher's service token), kept a few minutes per ward."""

    def __init__(
        self, ingest_url: str, service_token: str, http: httpx.AsyncClient, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._base = f"{ingest_url.rstrip('/')}{PROVENANCE_PATH}"
        self._headers = {"Authorization": f"Bearer {service_token}"}
        self._http = http
        self._clock = clock
        self._cache: dict[str, tuple[float, WardSigningKey]] = {}

    async def key(self, ward: str) -> WardSigningKey:
        cached = self._cache.get(ward)
        if cached is not None and self._clock() - cached[0] < KEY_CACHE_S:
            return cached[1]
        try:
            answer = await self._http.get(f"{self._base}/keys/{ward}", headers=self._headers)
        except httpx.HTTPError as exc:
            raise RetryableError(f"ward {ward!r}: ingest did not answer for its signing key") from exc
        if answer.status_code >= 500 and answer.status_code != 503:
            raise RetryableError(f"ward {ward!r}: ingest could not give its signing key ({answer.status_code})")
        if answer.status_code != 200:
            raise CutNotSigned(f"ingest refused ward {ward!r} its signing key (HTTP {answer.status_code}: "
                               f"{_detail(answer)})")  # fmt: skip
        key = WardSigningKey.model_validate_json(answer.content)
        self._cache[ward] = (self._clock(), key)
        return key


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail", ""))[:300]
    except ValueError:
        return ""


class NoKeys:
    """A publisher without LOA_INGEST_URL and LOA_SERVICE_TOKEN: nothing can be signed, so nothing is published."""

    async def key(self, ward: str) -> WardSigningKey:
        raise CutNotSigned(
            "this publisher has no LOA_INGEST_URL and LOA_SERVICE_TOKEN to get the ward's signing key from ingest / "
            "publisher chưa có LOA_INGEST_URL và LOA_SERVICE_TOKEN để lấy khóa ký của phường"
        )


class CutSigner:
    def __init__(
        self,
        storage: Storage,
        keys: IngestKeys | NoKeys,
        scratch: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.storage = storage
        self.keys = keys
        self.scratch = scratch
        self.clock = clock

    async def signed(
        self, event: RenditionsReady, rendition: Rendition, channel: Channel, publish_at: datetime | None
    ) -> Rendition:
        """The post's signed cut (signed now, or the copy an earlier attempt made)."""
        target = layout.signed_key(event.footage_id, channel.name, rendition.profile)
        record_key = layout.signed_record_key(event.footage_id, channel.name, rendition.profile)
        done = await self._storage(self._record, record_key)
        if done is not None and done.get("from_sha256") == rendition.sha256 and done.get("key") == target:
            return rendition.model_copy(update={"key": target, "size_bytes": done["size_bytes"],
                                                "sha256": done["sha256"]})  # fmt: skip
        ward_key = await self.keys.key(event.ward)
        published_at = publish_at if publish_at is not None and publish_at > self.clock() else self.clock()
        if self.scratch is not None:
            self.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="loa-sign-", dir=self.scratch) as folder:
            out = Path(folder) / "signed.mp4"
            source = await self._storage(self.storage.local_path, rendition.key)
            if source is None or not source.exists():
                source = Path(folder) / "cut.mp4"
                await self._storage(self.storage.download, rendition.key, source)
            started = time.perf_counter()
            signed = await asyncio.to_thread(self._sign, source, out, event, rendition, channel, ward_key,
                                             published_at)  # fmt: skip
            sha256 = await asyncio.to_thread(sha256_file, out)
            await self._storage(self.storage.put_file, target, out)
            record = {"key": target, "size_bytes": signed.size, "sha256": sha256, "from_sha256": rendition.sha256,
                      "serial": signed.serial, "manifest": signed.manifest_label,
                      "published_at": published_at.isoformat()}  # fmt: skip
            await self._storage(self.storage.put_stream, record_key, [json.dumps(record).encode("utf-8")])
        log.info("%s/%s/%s signed by ward %s's certificate %s in %.2f s", event.footage_id, channel.name,
                 rendition.profile, event.ward, signed.serial, time.perf_counter() - started)  # fmt: skip
        return rendition.model_copy(update={"key": target, "size_bytes": signed.size, "sha256": sha256})

    async def uploaded_sha256(self, footage_id: str, channel: str, profile: str) -> str | None:
        """The sha256 of the post's signed copy (what the platform received), from its record; None if unknown."""
        try:
            done = await asyncio.to_thread(self._record, layout.signed_record_key(footage_id, channel, profile))
        except (OSError, ValueError) as exc:
            log.warning("%s/%s/%s: the signed copy's record is unreadable: %s", footage_id, channel, profile, exc)
            return None
        sha256 = done.get("sha256") if done is not None else None
        return sha256 if isinstance(sha256, str) else None

    @staticmethod
    def _sign(
        source: Path,
        out: Path,
        event: RenditionsReady,
        rendition: Rendition,
        channel: Channel,
        ward_key: WardSigningKey,
        published_at: datetime,
    ) -> provenance.SignedFile:
        meta = event.metadata
        try:
            return provenance.sign(
                source,
                out,
                key=KeyPair(ward_key.chain_pem, ward_key.key_pem.get_secret_value()),
                trust=Trust(ward_key.trust.roots_pem, frozenset(ward_key.trust.revoked)),
                ward=event.ward,
                ward_name=ward_key.ward_name,
                channel=channel.name,
                title=meta.title,
                event_date=meta.event_date,
                published_at=published_at,
                source_sha256=event.source_sha256 or "",  # "" for announcements from before it was carried
                actions=provenance.actions_for(
                    rendition.edits,
                    trim_start_s=meta.trim_start_s,
                    trim_end_s=meta.trim_end_s,
                    width=rendition.width,
                    height=rendition.height,
                    channel=channel.name,
                ),
                footage_id=event.footage_id,
                profile=rendition.profile,
            )
        except ProvenanceError as exc:
            raise CutNotSigned(str(exc)) from None

    def _record(self, key: str) -> dict[str, object] | None:
        if not self.storage.exists(key):
            return None
        with self.storage.open_read(key) as f:
            data = json.loads(f.read())
        return data if isinstance(data, dict) else None

    @staticmethod
    async def _storage(call: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await asyncio.to_thread(call, *args, **kwargs)
        except ObjectNotFound as exc:
            raise CutNotSigned(f"the cut is not in storage ({exc})") from None
        except (StorageUnavailable, OSError) as exc:
            raise RetryableError(f"storage unavailable while signing the cut: {exc}") from exc
