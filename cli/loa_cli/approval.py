"""`loa approval approve|reject|audit`: an approver decides on a post from the command line, and anyone reads the
ward's audit log.

What is decided is what the approver is shown first: the status view's sha256 of each cut the channel gets and the
fingerprint of the footage's text (or the text the approver sets with --title/--description/--hashtag), printed
before the decision is sent, so an approval never covers a cut nobody was shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from loa_cli.config import CliConfig, ConfigError, load_config
from loa_cli.tus import cannot_reach
from loa_core.contracts import FootageView, PostText

approval_app = typer.Typer(
    help="Approve or reject posts (approvers), read the audit log / duyệt bài đăng, nhật ký duyệt.",
    no_args_is_help=True,
)


def _config() -> CliConfig:
    try:
        return load_config()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _call(config: CliConfig, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request to ingest with the caller's token; a refusal is printed (its bilingual detail) and exits 1."""
    try:
        response = httpx.request(
            method,
            f"{config.ingest_url}{path}",
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=30.0,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        typer.echo(cannot_reach("ingest", config.ingest_url, exc), err=True)
        raise typer.Exit(1) from exc
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail", response.text)
        except (ValueError, AttributeError):
            detail = response.text
        typer.echo(f"Error {response.status_code}: {detail}", err=True)
        raise typer.Exit(1)
    return response


def awaiting_approvers(view: FootageView) -> bool:
    """Whether every post the footage still expects waits for an approver (awaiting or rejected): nothing more
    happens without a person, so `loa status --wait` stops waiting (pure)."""
    published = view.stages.published
    waiting = [a for a in published.approvals if a.state != "approved"]
    return bool(waiting) and len(published.posts) + len(waiting) >= published.expected


def cuts_for(view: FootageView, profiles: list[str]) -> dict[str, str] | str:
    """The sha256 of each of the channel's cuts in the status view, or what is missing (pure)."""
    shown = {r.profile: r.sha256 for r in view.stages.transcoded.renditions}
    missing = [p for p in profiles if not shown.get(p)]
    if missing:
        return (
            f"No fingerprint for the {', '.join(missing)} cut yet: wait until it is made (loa status). "
            f"/ Chưa có bản dựng {', '.join(missing)} để duyệt."
        )
    return {p: str(shown[p]) for p in profiles}


def _shown(config: CliConfig, footage_id: str, channel: str) -> tuple[FootageView, dict[str, str]]:
    view = FootageView.from_bytes(_call(config, "GET", f"/footage/{footage_id}").content)
    profiles = _call(config, "GET", f"/channels/{channel}").json()["channel"]["profiles"]
    cuts = cuts_for(view, profiles)
    if isinstance(cuts, str):
        typer.echo(cuts, err=True)
        raise typer.Exit(1)
    typer.echo(f"{view.title} → {channel}")
    for profile, sha in cuts.items():
        typer.echo(f"  cut {profile}: sha256 {sha}")
    return view, cuts


Footage = Annotated[str, typer.Argument(help="The footage id")]
Channel = Annotated[str, typer.Argument(help="The channel its post goes to")]


@approval_app.command("approve")
def approve(
    footage_id: Footage,
    channel: Channel,
    title: Annotated[str | None, typer.Option(help="Change the post's title (then its text is yours)")] = None,
    description: Annotated[str, typer.Option(help="With --title: the post's description")] = "",
    hashtag: Annotated[list[str] | None, typer.Option(help="With --title: a hashtag (repeat it)")] = None,
) -> None:
    """Approve the post of a footage to a channel as shown: its cuts and text (or the text you set)."""
    config = _config()
    view, cuts = _shown(config, footage_id, channel)
    body: dict[str, Any] = {"cuts": cuts}
    if title is not None:
        text = PostText(title=title, description=description, hashtags=tuple(hashtag or ()))
        body["text"] = text.model_dump()
        typer.echo(f"  text (yours): {text.title}")
    elif view.text_sha256 is None:
        typer.echo("The footage's text is not known yet. / Chưa có nội dung của video.", err=True)
        raise typer.Exit(1)
    else:
        body["text_sha256"] = view.text_sha256
        typer.echo(f"  text: {view.title} (sha256 {view.text_sha256})")
    _call(config, "POST", f"/posts/{footage_id}/{channel}/approve", json=body)
    typer.echo("approved / đã duyệt")


@approval_app.command("reject")
def reject(
    footage_id: Footage,
    channel: Channel,
    reason: Annotated[str, typer.Option(help="Why: the editor sees it")],
) -> None:
    """Reject the post of a footage to a channel, with the reason the editor sees."""
    config = _config()
    view, cuts = _shown(config, footage_id, channel)
    if view.text_sha256 is None:
        typer.echo("The footage's text is not known yet. / Chưa có nội dung của video.", err=True)
        raise typer.Exit(1)
    body = {"cuts": cuts, "text_sha256": view.text_sha256, "reason": reason}
    _call(config, "POST", f"/posts/{footage_id}/{channel}/reject", json=body)
    typer.echo("rejected / đã từ chối")


@approval_app.command("audit")
def audit(
    ward: Annotated[str | None, typer.Option(help="Only this ward's (district admins)")] = None,
    csv: Annotated[Path | None, typer.Option(help="Write the CSV export (UTF-8 with BOM) to this file")] = None,
) -> None:
    """The approvers' decisions, oldest first (your ward's; a district admin: every ward's)."""
    config = _config()
    params = {"ward": ward} if ward else None
    if csv is not None:
        csv.write_bytes(_call(config, "GET", "/audit.csv", params=params).content)
        typer.echo(f"written to {csv}")
        return
    for entry in _call(config, "GET", "/audit", params=params).json():
        d = entry["decision"]
        reason = f"  {d['reason']}" if d.get("reason") else ""
        typer.echo(
            f"{d['occurred_at']}  {d['ward']}  {d['footage_id']}  {d['channel']}  {d['decision']}  {d['by']}{reason}"
        )
