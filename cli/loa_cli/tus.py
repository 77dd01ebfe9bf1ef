"""Resumable upload over tus with the standard tuspy client, a progress bar, and resume across runs.

The upload URL of each file is remembered in a small state file, keyed by the ingest URL and the file's
sha256 (not tuspy's default fingerprint, which hashes only the first 64 KiB). Running `loa upload` again on
the same file asks the server for its offset (HEAD) and sends only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.uploader.uploader import Uploader

from loa_cli.config import CliConfig

DEFAULT_STATE = Path.home() / ".config" / "loa" / "uploads.json"
TUS = {"Tus-Resumable": "1.0.0"}


def cannot_reach(service: str, url: str, exc: Exception) -> str:
    """What every command says when a service does not answer at all."""
    return (
        f"Cannot reach {service} at {url}: {exc}. Is Loa running (`make run`), and is the address right? "
        f"/ Không kết nối được tới {service} ({url})."
    )


class UploadError(RuntimeError):
    """The upload did not finish; the message says why and whether running again helps."""


@dataclass(frozen=True)
class UploadResult:
    footage_id: str
    duplicate: bool


class _Sha256Uploader(Uploader):
    # Each chunk carries a sha256 checksum (tus checksum extension); tuspy's default is sha1.
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def _state_path() -> Path:
    return Path(os.environ.get("LOA_CLI_STATE", DEFAULT_STATE))


def _load_state() -> dict[str, str]:
    path = _state_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _save_state(state: dict[str, str]) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # several `loa upload` may run at once
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def _sha256(file: Path, console: Console) -> str:
    with console.status("Checking the file… / Đang kiểm tra tệp…"), file.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _detail(status: int | None, content: Any) -> str:
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else str(content or "")
        return str(json.loads(text).get("detail", text))
    except (ValueError, AttributeError):
        return str(content or "")


def upload_resumable(
    config: CliConfig, file: Path, metadata: dict[str, str], *, chunk_bytes: int, retries: int
) -> UploadResult:
    console = Console(stderr=True)
    auth = {"Authorization": f"Bearer {config.token}"}
    files_url = f"{config.ingest_url}/files/"
    size = file.stat().st_size
    key = f"{config.ingest_url}|{_sha256(file, console)}|{size}"
    state = _load_state()

    def forget() -> None:
        if state.pop(key, None) is not None:
            _save_state(state)

    url = state.get(key)
    offset = 0
    if url is not None:
        try:
            head = httpx.head(url, headers={**TUS, **auth}, timeout=30)
        except httpx.HTTPError as exc:
            raise UploadError(cannot_reach("ingest", config.ingest_url, exc)) from exc
        if head.status_code == 200 and "Loa-Footage-Id" in head.headers:
            forget()
            return UploadResult(head.headers["Loa-Footage-Id"], duplicate=False)
        if head.status_code == 200:
            offset = int(head.headers["Upload-Offset"])
            console.print(f"Resuming from {offset} of {size} bytes. / Tiếp tục từ byte {offset}.")
        else:
            url = None  # expired, terminated or refused: start over
            forget()

    client = TusClient(files_url, headers=auth)
    uploader = _Sha256Uploader(
        file_path=str(file), client=client, url=url, chunk_size=chunk_bytes, metadata=metadata, upload_checksum=True
    )
    if url is None:
        try:
            url = uploader.create_url()
        except TusCommunicationError as exc:
            if exc.status_code is None:
                raise UploadError(cannot_reach("ingest", config.ingest_url, exc)) from exc
            raise UploadError(f"Error {exc.status_code}: {_detail(exc.status_code, exc.response_content)}") from exc
        uploader.set_url(url)
        uploader.offset = 0
        state[key] = url
        _save_state(state)
    upload_url: str = url

    attempts = 0
    columns = (BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("upload", total=size, completed=uploader.offset)
        while True:
            try:
                if uploader.offset < size:
                    uploader.upload_chunk()  # type: ignore[no-untyped-call]
                else:
                    _finish(upload_url, auth)  # every byte is in but the end was not confirmed: ask again
                    break
            except (TusUploadFailed, TusCommunicationError) as exc:
                # No answer (dropped link), 423 (the server still finishing the previous request) or 503 (stored
                # but not yet announced): ask the server where it stands and carry on.
                if exc.status_code in (None, 423, 503) and attempts < retries:
                    attempts += 1
                    time.sleep(min(30.0, 2.0**attempts))
                    try:
                        uploader.offset = uploader.get_offset()
                    except TusCommunicationError:
                        continue
                    progress.update(task, completed=uploader.offset)
                    continue
                if exc.status_code is None:
                    raise UploadError(
                        f"The connection dropped: {exc}. Run the same command again to resume. "
                        "/ Mất kết nối; chạy lại lệnh để tải tiếp."
                    ) from exc
                if exc.status_code in (404, 410, 422):
                    forget()
                raise UploadError(f"Error {exc.status_code}: {_detail(exc.status_code, exc.response_content)}") from exc
            progress.update(task, completed=uploader.offset)
            if uploader.offset >= size:
                break
    headers: dict[str, str] = uploader.request.response_headers if uploader.request is not None else {}
    footage_id = headers.get("loa-footage-id")
    if footage_id is None:
        head = httpx.head(upload_url, headers={**TUS, **auth}, timeout=30)
        footage_id = head.headers.get("Loa-Footage-Id")
    if footage_id is None:
        raise UploadError(
            "The upload finished but ingest did not confirm it; run the command again. "
            "/ Đã tải xong nhưng chưa được xác nhận; hãy chạy lại lệnh."
        )
    forget()
    return UploadResult(str(footage_id), duplicate=headers.get("loa-duplicate") == "true")


def _finish(url: str, auth: dict[str, str]) -> None:
    """An empty PATCH at the final offset asks ingest to validate and announce an upload whose bytes are all in."""
    head = httpx.head(url, headers={**TUS, **auth}, timeout=30)
    if "Loa-Footage-Id" in head.headers:
        return
    response = httpx.patch(
        url,
        headers={
            **TUS,
            **auth,
            "Upload-Offset": head.headers.get("Upload-Offset", "0"),
            "Content-Type": "application/offset+octet-stream",
        },
        timeout=600,
    )
    if response.status_code != 204:
        # The same error type as tuspy's, so the upload loop decides about retrying in one place.
        raise TusUploadFailed("", response.status_code, response.content)  # type: ignore[no-untyped-call]
