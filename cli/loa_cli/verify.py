"""`loa verify FILE|URL|HASH`: is this video the ward's? Anyone may run it (no token).

The file is read here (its sha256, its C2PA manifest against the installation's trust list, its fingerprint: nothing
of the video leaves the machine but those); metrics, which keeps every published cut, says which post it is. Exit
0 only for "signed, unchanged" and "matches a post": scripts can rely on it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Annotated

import httpx
import typer

from loa_cli.config import load_urls
from loa_core import provenance
from loa_core.contracts.verification import Verification
from loa_core.netsafe import FetchError, Policy, RefusedUrl, SafeFetcher
from loa_core.verification import (
    EXIT_NOT_CHECKED,
    Inspection,
    NotAVideo,
    Said,
    explain,
    inspect_file,
    inspect_hash,
    is_sha256,
)

# A linked clip is downloaded with these limits (the same house rules as the public page's).
URL_MAX_BYTES = 2 * 1024**3
URL_TIMEOUT_S = 60.0


def _stop(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(EXIT_NOT_CHECKED)


def _trust(roots: Path | None, ingest_url: str) -> provenance.Trust:
    """The roots a manifest must chain to: a PEM file given, else the installation's list (ingest, public)."""
    if roots is not None:
        return provenance.Trust(provenance.roots_of([roots.read_text("ascii")]))
    try:
        response = httpx.get(f"{ingest_url}/verify/trust", timeout=10.0)
        response.raise_for_status()
        body = response.json()
        return provenance.Trust(tuple(body["roots_pem"]), frozenset(body.get("revoked", ())))
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        raise _stop(
            f"Cannot get the trust list from {ingest_url} ({exc}); give --roots FILE. / Không lấy được danh sách "
            "chứng thư tin cậy; hãy chỉ định --roots."
        ) from exc


async def _download(url: str, target: Path) -> None:
    private = tuple(h for h in os.environ.get("LOA_VERIFY_ALLOWED_PRIVATE", "").split(",") if h)
    fetcher = SafeFetcher(
        Policy(("*",), private, private_setting="LOA_VERIFY_ALLOWED_PRIVATE"),
        timeout_s=URL_TIMEOUT_S,
        user_agent="loa-verify",
    )
    try:
        await fetcher.download(url, target, URL_MAX_BYTES)
    finally:
        await fetcher.aclose()


def _inspect(target: str, roots: Path | None, ingest_url: str) -> Inspection:
    if is_sha256(target):
        return inspect_hash(target, "cli")
    remote = target.startswith(("http://", "https://"))
    if not remote and not Path(target).is_file():
        raise _stop(f"No file {target}. / Không có tệp này.")
    trust = _trust(roots, ingest_url)
    with tempfile.TemporaryDirectory(prefix="loa-verify-") as tmp:
        path = Path(target)
        if remote:
            path = Path(tmp) / "clip"
            try:
                asyncio.run(_download(target, path))
            except (RefusedUrl, FetchError, OSError) as exc:
                raise _stop(f"Cannot fetch {target}: {exc} / Không tải được đường dẫn này.") from exc
        try:
            return asyncio.run(inspect_file(path, trust, "cli"))
        except NotAVideo as exc:
            raise _stop(f"Not a video that can be checked: {exc} / Không phải video đọc được.") from exc


def _print(said: Said) -> None:
    typer.echo(said.vi)
    typer.echo(said.en)
    for line in (said.detail_vi, said.detail_en):
        if line:
            typer.echo(line)
    for link in said.links:
        state = "" if link.state == "published" else f" ({link.state})"
        typer.echo(f"  {link.platform} {link.channel}: {link.url or '-'}{state}")


def verify(
    target: Annotated[str, typer.Argument(help="A video file, a link to one (http/https), or its sha256")],
    roots: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Trusted roots (PEM) instead of the installation's list"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print metrics' answer as JSON")] = False,
) -> None:
    """Is this video the ward's? Signed and unchanged, a match with a post (and where in it), or no match
    (kiểm tra video có phải của phường). Exit 0: signed or matches; 1: no match; 2: invalid manifest; 3: not
    checked."""
    ingest_url, metrics_url = load_urls()
    inspection = _inspect(target, roots, ingest_url)
    try:
        response = httpx.post(f"{metrics_url}/verify", json=inspection.request.model_dump(mode="json"), timeout=60.0)
    except httpx.HTTPError as exc:
        raise _stop(f"Cannot reach {metrics_url}: {exc} / Không kết nối được dịch vụ.") from exc
    if response.status_code != 200:
        raise _stop(f"Error {response.status_code}: {response.text[:500]} / Dịch vụ kiểm tra báo lỗi.")
    answer = Verification.model_validate_json(response.content)
    said = explain(answer, inspection.manifest)
    if as_json:
        typer.echo(answer.model_dump_json(indent=2))
    else:
        _print(said)
    raise typer.Exit(said.exit_code)
