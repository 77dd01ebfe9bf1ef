"""Turn one uploaded footage into every cut its channels need. The Faust agent only calls `transcode`."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from loa_core.channels import Channel
from loa_core.contracts import FootageUploaded, Rendition, RenditionsReady
from loa_core.media import MediaError, probe, run_ffmpeg
from loa_core.storage import ObjectNotFound, Storage
from loa_core.streaming import PermanentError, RetryableError
from loa_transcode.conform import conformance_problems
from loa_transcode.graph import EncodeOptions, Output, build_args
from loa_transcode.profiles import profiles_for

log = logging.getLogger(__name__)


def rendition_key(footage_id: str, profile: str) -> str:
    return f"renditions/{footage_id}/{profile}.mp4"


def staging_key(footage_id: str, attempt_id: str, profile: str) -> str:
    # Written here first and moved into place only when every cut passed its checks, so no reader
    # ever sees a partial output and a retry simply overwrites its own staging keys.
    return f"renditions/{footage_id}/.staging-{attempt_id}/{profile}.mp4"


def wanted_profiles(channel_names: tuple[str, ...], channels: dict[str, Channel]) -> set[str]:
    unknown = [c for c in channel_names if c not in channels]
    if unknown:
        raise PermanentError(f"channels not configured in transcode: {', '.join(unknown)}")
    return {p for name in channel_names for p in channels[name].profiles}


async def transcode(
    event: FootageUploaded, *, storage: Storage, channels: dict[str, Channel], options: EncodeOptions
) -> RenditionsReady:
    try:
        profiles = profiles_for(wanted_profiles(event.metadata.channels, channels))
    except KeyError as exc:
        raise PermanentError(str(exc)) from exc
    with tempfile.TemporaryDirectory(prefix="loa-transcode-") as tmp:
        workdir = Path(tmp)
        source = await _local_source(storage, event.media.key, workdir)
        outputs = [Output(p, workdir / f"{p.name}.mp4") for p in profiles]
        args = build_args(
            source,
            width=event.media.width,
            height=event.media.height,
            duration_s=event.media.duration_s,
            has_audio=event.media.has_audio,
            outputs=outputs,
            options=options,
        )
        last_logged = -10.0

        async def on_progress(block: dict[str, str]) -> None:
            nonlocal last_logged
            done_s = int(block.get("out_time_us", "0") or 0) / 1e6 if block.get("out_time_us", "N/A") != "N/A" else 0.0
            percent = min(100.0, 100.0 * done_s / event.media.duration_s)
            if percent - last_logged >= 10 or block.get("progress") == "end":
                last_logged = percent
                log.info("footage %s: %.0f%% (fps %s)", event.footage_id, percent, block.get("fps", "?"))

        try:
            await run_ffmpeg(args, on_progress)
        except MediaError as exc:
            raise PermanentError(f"ffmpeg could not transcode this footage: {exc}") from exc

        renditions = []
        for output in outputs:
            found = await probe(output.path)
            problems = conformance_problems(output.profile, found, event.media.duration_s)
            if problems:
                raise PermanentError("; ".join(problems))
            video = found.video
            assert video is not None
            audio = next((s for s in found.streams if s.codec_type == "audio"), None)
            renditions.append(
                Rendition(
                    profile=output.profile.name,
                    key=rendition_key(event.footage_id, output.profile.name),
                    width=output.profile.width,
                    height=output.profile.height,
                    duration_s=found.duration_s,
                    size_bytes=output.path.stat().st_size,
                    video_codec=video.codec_name,
                    audio_codec=audio.codec_name if audio else None,
                )
            )
        await _publish_outputs(storage, event, outputs)
    return RenditionsReady(footage_id=event.footage_id, metadata=event.metadata, renditions=tuple(renditions))


async def _local_source(storage: Storage, key: str, workdir: Path) -> Path:
    local = storage.local_path(key)
    if local is not None:
        if not local.exists():
            raise PermanentError(f"source {key} is not in storage")
        return local
    target = workdir / "source"
    try:
        await asyncio.to_thread(storage.download, key, target)
    except ObjectNotFound as exc:
        raise PermanentError(f"source {key} is not in storage") from exc
    except OSError as exc:
        raise RetryableError(f"storage unavailable while reading {key}: {exc}") from exc
    return target


async def _publish_outputs(storage: Storage, event: FootageUploaded, outputs: list[Output]) -> None:
    try:
        for output in outputs:
            await asyncio.to_thread(
                storage.put_file, staging_key(event.footage_id, event.event_id, output.profile.name), output.path
            )
        for output in outputs:
            await asyncio.to_thread(
                storage.move,
                staging_key(event.footage_id, event.event_id, output.profile.name),
                rendition_key(event.footage_id, output.profile.name),
            )
    except OSError as exc:
        raise RetryableError(f"storage unavailable while writing renditions: {exc}") from exc
