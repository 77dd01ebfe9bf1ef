"""`loa upload`, `loa status`: the media team's command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from loa_cli.approval import approval_app, awaiting_approvers
from loa_cli.config import CliConfig, ConfigError, load_config
from loa_cli.provenance import provenance_app
from loa_cli.tus import UploadError, cannot_reach, upload_resumable
from loa_cli.verify import verify
from loa_core.channels import load_channels
from loa_core.contracts import SETTLED, FootageStatus, FootageView

app = typer.Typer(
    help="Loa: đăng video sự kiện lên mọi kênh / post event footage to every channel.", no_args_is_help=True
)
app.command()(verify)


def _config() -> CliConfig:
    try:
        return load_config()
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except (ValueError, AttributeError):
        return response.text


def _fail(response: httpx.Response) -> None:
    typer.echo(f"Error {response.status_code}: {_detail(response)}", err=True)
    raise typer.Exit(1)


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="Video file")],
    title: Annotated[str, typer.Option(help="Title (tiêu đề)")],
    channel: Annotated[list[str] | None, typer.Option(help="Target channel; repeat for several")] = None,
    description: Annotated[str, typer.Option(help="Description (mô tả)")] = "",
    tag: Annotated[list[str] | None, typer.Option(help="Tag; repeat for several")] = None,
    series: Annotated[str | None, typer.Option(help="Series (chuỗi sự kiện)")] = None,
    event_date: Annotated[str | None, typer.Option(help="Day of the event, YYYY-MM-DD (ngày sự kiện)")] = None,
    trim_start: Annotated[float | None, typer.Option(help="Keep from this second (cắt đầu)")] = None,
    trim_end: Annotated[float | None, typer.Option(help="Keep until this second (cắt cuối)")] = None,
    publish_at: Annotated[
        str | None, typer.Option(help="When to publish, e.g. 2026-11-21T19:00:00+07:00 (giờ đăng)")
    ] = None,
    channel_publish_at: Annotated[
        list[str] | None,
        typer.Option(help="One channel's publish time, CHANNEL=TIME (Vietnam time without an offset); repeat"),
    ] = None,
    framing: Annotated[
        str | None, typer.Option(help="Vertical framing: blur (whole frame) or subject (follow the speaker)")
    ] = None,
    subtitles: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, readable=True, help="SRT subtitles, UTF-8 (phụ đề)")
    ] = None,
    ward: Annotated[
        str | None, typer.Option(help="District admins: the ward the footage belongs to (phường của video)")
    ] = None,
    chunk_mib: Annotated[int, typer.Option(help="MiB per request", min=1, max=1024)] = 8,
    retries: Annotated[int, typer.Option(help="Reconnect attempts after a dropped connection", min=0)] = 5,
) -> None:
    """Upload FILE (resumable: run it again after an interruption) and print its footage id. It belongs to your
    token's ward (a district admin names it with --ward)."""
    config = _config()
    fields: dict[str, str] = {"title": title, "filename": file.name}
    optional = {
        "description": description,
        "tags": ",".join(tag or []),
        "channels": ",".join(channel or []),
        "series": series,
        "event_date": event_date,
        "trim_start_s": None if trim_start is None else f"{trim_start:g}",
        "trim_end_s": None if trim_end is None else f"{trim_end:g}",
        "publish_at": publish_at,
        "vertical_framing": framing,
        "ward": ward,
    }
    for pair in channel_publish_at or []:
        name, sep, when = pair.partition("=")
        if not sep or not name or not when:
            typer.echo(f"--channel-publish-at takes CHANNEL=TIME, not {pair!r}. / Sai định dạng KÊNH=GIỜ.", err=True)
            raise typer.Exit(2)
        optional[f"publish_at.{name.strip()}"] = when.strip()
    if subtitles is not None:
        # Checked and stored by ingest first; the upload names what it stored.
        stored = _admin_request(
            "POST", "/subtitles", params={"ward": ward} if ward else {}, content=subtitles.read_bytes()
        )
        if stored.status_code != 201:
            _fail(stored)
        optional["subtitles_key"] = stored.json()["subtitles_key"]
    fields.update({k: v for k, v in optional.items() if v})
    try:
        result = upload_resumable(config, file, fields, chunk_bytes=chunk_mib * 1024 * 1024, retries=retries)
    except UploadError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    if result.duplicate:
        typer.echo("This file was uploaded before; same footage. / Tệp này đã được tải lên.", err=True)
    typer.echo(result.footage_id)


app.add_typer(approval_app, name="approval")  # approve, reject, audit (loa_cli/approval.py)
app.add_typer(provenance_app, name="provenance")  # signing keys, where ingest runs (loa_cli/provenance.py)
token_app = typer.Typer(help="API tokens (admins) / mã truy cập (quản trị).", no_args_is_help=True)
app.add_typer(token_app, name="token")

ROLES = ("viewer", "editor", "approver", "ward_admin", "district_admin")


def _admin_request(method: str, path: str, **kwargs: Any) -> httpx.Response:
    config = _config()
    try:
        return httpx.request(
            method,
            f"{config.ingest_url}{path}",
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=30.0,
            **kwargs,
        )
    except httpx.HTTPError as exc:
        typer.echo(cannot_reach("ingest", config.ingest_url, exc), err=True)
        raise typer.Exit(1) from exc


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="viewer, editor, approver, ward_admin or district_admin")],
    label: Annotated[str, typer.Option(help="Who or what the token is for")] = "",
) -> None:
    """Create a token and print it once (it is stored only as a hash)."""
    if role not in ROLES:
        typer.echo(f"--role must be one of {', '.join(ROLES)}. / Vai trò không hợp lệ.", err=True)
        raise typer.Exit(2)
    response = _admin_request("POST", "/tokens", json={"role": role, "label": label})
    if response.status_code != 201:
        _fail(response)
    created = response.json()
    typer.echo(f"Token {created['token_id']} ({created['role']}); shown once, keep it safe:", err=True)
    typer.echo(created["token"])


@token_app.command("list")
def token_list() -> None:
    """List tokens (ids, roles, labels; never the secrets)."""
    response = _admin_request("GET", "/tokens")
    if response.status_code != 200:
        _fail(response)
    for row in response.json():
        revoked = "  revoked" if row["revoked_at"] else ""
        typer.echo(f"{row['token_id']}  {row['role']:<8}  {row['label']}{revoked}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[str, typer.Argument(help="The id `loa token list` shows")]) -> None:
    """Revoke a token: it stops working at once."""
    response = _admin_request("DELETE", f"/tokens/{token_id}")
    if response.status_code != 204:
        _fail(response)
    typer.echo(f"Revoked {token_id}.")


channels_app = typer.Typer(help="Channels (ward admins) / kênh (quản trị phường).", no_args_is_help=True)
app.add_typer(channels_app, name="channels")


@channels_app.command("list")
def channels_list(
    ward: Annotated[str | None, typer.Option(help="Only this ward's (district admins)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the channels as JSON")] = False,
) -> None:
    """List your ward's channels (a district admin: every ward's) and whether each is connected."""
    response = _admin_request("GET", "/channels", params={"ward": ward} if ward else None)
    if response.status_code != 200:
        _fail(response)
    if as_json:
        typer.echo(json.dumps(response.json(), ensure_ascii=False, indent=2))
        return
    for row in response.json():
        channel = row["channel"]
        approval = "approval" if channel["approval_required"] else "-"
        profiles = ",".join(channel["profiles"])
        typer.echo(
            f"{channel['name']:<24} {channel['platform']:<9} {channel['ward']:<16} {channel['state']:<12} "
            f"{approval:<8} {profiles}"
        )


@channels_app.command("import")
def channels_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A channels JSON file")],
) -> None:
    """Add the channels of a channels file (the LOA_CHANNELS_FILE format) through the API; names already there
    are skipped, so it can run again. A channel without a ward goes to yours. Platform channels start disconnected:
    connect each on the channels page."""
    try:
        channels = load_channels(file)
        wards = [item.get("ward") for item in json.loads(file.read_text("utf-8"))]
    except (ValueError, OSError) as exc:
        typer.echo(f"{file} is not a channels file: {exc} / Tệp kênh không hợp lệ.", err=True)
        raise typer.Exit(2) from exc
    refused = 0
    for channel, ward in zip(channels.values(), wards, strict=True):
        body = {
            "name": channel.name,
            "platform": channel.platform,
            "profiles": list(channel.profiles),
            "options": channel.options,
            "approval_required": channel.approval_required,
            **({"ward": ward} if ward else {}),
        }
        response = _admin_request("POST", "/channels", json=body)
        if response.status_code == 201:
            added = response.json()["channel"]
            typer.echo(f"added {channel.name} ({added['ward']}, {added['state']})")
        elif response.status_code == 409:
            typer.echo(f"skipped {channel.name}: the name is taken / tên đã có")
        else:
            refused += 1
            typer.echo(f"refused {channel.name}: {response.status_code} {_detail(response)}", err=True)
    if refused:
        raise typer.Exit(1)


ward_app = typer.Typer(help="Wards (district admins) / phường (quản trị quận).", no_args_is_help=True)
app.add_typer(ward_app, name="ward")
account_app = typer.Typer(help="People's accounts (ward admins) / tài khoản (quản trị phường).", no_args_is_help=True)
app.add_typer(account_app, name="account")


@ward_app.command("create")
def ward_create(
    ward_id: Annotated[str, typer.Argument(help="Short id: lowercase letters, digits, dashes (e.g. phuong-1)")],
    name: Annotated[str, typer.Option(help="The ward's name as people read it (e.g. Phường 1)")],
) -> None:
    """Create a ward."""
    response = _admin_request("POST", "/wards", json={"id": ward_id, "display_name": name})
    if response.status_code != 201:
        _fail(response)
    typer.echo(f"Ward {ward_id} created. / Đã tạo phường {ward_id}.")


@ward_app.command("list")
def ward_list() -> None:
    """List the wards (a ward admin sees its own)."""
    response = _admin_request("GET", "/wards")
    if response.status_code != 200:
        _fail(response)
    for row in response.json():
        typer.echo(f"{row['id']}  {row['display_name']}")


@account_app.command("create")
def account_create(
    username: Annotated[str, typer.Argument(help="What the person signs in with (lowercase, e.g. nguyen.van.a)")],
    role: Annotated[str, typer.Option(help="viewer, editor, approver, ward_admin or district_admin")],
    name: Annotated[str, typer.Option(help="The person's name as shown on the page")] = "",
    ward: Annotated[str | None, typer.Option(help="The ward (default: your own)")] = None,
    generate_password: Annotated[
        bool, typer.Option("--generate-password", help="Make a random password and print it once, instead of asking")
    ] = False,
) -> None:
    """Create a person's account; the password is asked for (twice), or generated and printed once."""
    if role not in ROLES:
        typer.echo(f"--role must be one of {', '.join(ROLES)}. / Vai trò không hợp lệ.", err=True)
        raise typer.Exit(2)
    body: dict[str, Any] = {"username": username, "display_name": name, "role": role, "ward": ward}
    if not generate_password:
        body["password"] = typer.prompt("Password / Mật khẩu", hide_input=True, confirmation_prompt=True)
    response = _admin_request("POST", "/accounts", json=body)
    if response.status_code != 201:
        _fail(response)
    created = response.json()
    typer.echo(f"Account {created['id']}: {created['username']} ({created['role']}, {created['ward']})", err=True)
    if "password" in created:
        typer.echo("Password, shown once: / Mật khẩu, chỉ hiện một lần:", err=True)
        typer.echo(created["password"])


@account_app.command("list")
def account_list(ward: Annotated[str | None, typer.Option(help="Only this ward's (district admins)")] = None) -> None:
    """List accounts (ids, usernames, roles, wards; never a password)."""
    response = _admin_request("GET", "/accounts", params={"ward": ward} if ward else None)
    if response.status_code != 200:
        _fail(response)
    for row in response.json():
        locked = row["locked_until"] is not None and row["locked_until"] > time.time()
        state = "  disabled" if row["disabled_at"] else "  locked" if locked else ""
        typer.echo(
            f"{row['id']}  {row['username']:<20}  {row['role']:<14}  {row['ward']}  {row['display_name']}{state}"
        )


@account_app.command("disable")
def account_disable(account_id: Annotated[str, typer.Argument(help="The id `loa account list` shows")]) -> None:
    """Disable an account: its sessions end and its API tokens are revoked at once."""
    response = _admin_request("POST", f"/accounts/{account_id}/disable")
    if response.status_code != 200:
        _fail(response)
    typer.echo(f"Disabled {account_id}; its tokens are revoked. / Đã vô hiệu hóa; các mã truy cập đã bị thu hồi.")


def _fetch_status(config: CliConfig, footage_id: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {config.token}"}
    response = httpx.get(f"{config.metrics_url}/footage/{footage_id}", headers=headers, timeout=10.0)
    if response.status_code == 401:
        # Metrics knows only the deployment's static tokens; tokens made with `loa token create` are ingest's,
        # and ingest relays the same status view to them.
        response = httpx.get(f"{config.ingest_url}/footage/{footage_id}", headers=headers, timeout=10.0)
    return response


@app.command()
def status(
    footage_id: Annotated[str, typer.Argument(help="The id `loa upload` printed")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full status as JSON")] = False,
    wait: Annotated[bool, typer.Option(help="Wait until published or failed")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait at most with --wait")] = 1800.0,
) -> None:
    """Show where a footage is: stages, errors, published locations."""
    config = _config()
    deadline = time.monotonic() + timeout
    view: FootageView | None = None
    last_state = None
    while True:
        try:
            response = _fetch_status(config, footage_id)
        except httpx.HTTPError as exc:
            typer.echo(cannot_reach("the status API (metrics)", config.metrics_url, exc), err=True)
            raise typer.Exit(1) from exc
        if response.status_code == 200:
            view = _read_view(response)
        elif response.status_code != 404 or not wait:
            _fail(response)
        state = view.status if view else "waiting"
        if wait and not as_json and state != last_state:
            typer.echo(f"… {state}", err=True)
            last_state = state
        if not wait or state in SETTLED or time.monotonic() > deadline:
            break
        if view is not None and awaiting_approvers(view):
            typer.echo("… waits for an approver (loa approval) / chờ người duyệt", err=True)
            break
        time.sleep(1.0)
    assert view is not None or wait
    if view is None:
        typer.echo(
            f"Footage {footage_id} was not seen within {timeout:.0f} s. / Chưa thấy video này sau {timeout:.0f} giây.",
            err=True,
        )
        raise typer.Exit(1)
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
    else:
        _print_human(view)
    if view.status == FootageStatus.FAILED or (wait and view.status not in SETTLED):
        raise typer.Exit(1)


def _read_view(response: httpx.Response) -> FootageView:
    """The status view by the contract's rule (unknown fields ignored); a shape this CLI cannot read is said so."""
    try:
        return FootageView.from_bytes(response.content)
    except ValueError as exc:  # pydantic's ValidationError, UnsupportedSchemaVersion, or not JSON at all
        typer.echo(
            f"The status API answered a view this CLI cannot read; upgrade the CLI or the service ({exc}). "
            "/ Không đọc được trạng thái; cần nâng cấp loa.",
            err=True,
        )
        raise typer.Exit(1) from exc


def _print_human(view: FootageView) -> None:
    typer.echo(f"{view.title}  [{view.status}]")
    for post in view.stages.published.posts:
        typer.echo(f"  {post.channel}/{post.profile}: {post.url}")
    for approval in view.stages.published.approvals:
        reason = f": {approval.reason}" if approval.reason else ""
        typer.echo(f"  {approval.channel}/{approval.profile}: {approval.state} (approval / duyệt){reason}")
    for error in view.errors:
        # A failure a later success superseded (a post published by `loa retry`) stays listed, marked as such.
        resolved = ", resolved / đã khắc phục" if error.resolved else ""
        typer.echo(f"  error ({error.stage}{resolved}): {error.reason}")


@app.command()
def retry(footage_id: Annotated[str, typer.Argument(help="The footage whose failed posts to try again")]) -> None:
    """Post again what failed for a footage (đăng lại các bài lỗi); what was posted stays posted."""
    config = _config()
    try:
        response = httpx.post(
            f"{config.publisher_url}/posts/{footage_id}/retry",
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=10.0,
        )
    except httpx.HTTPError as exc:
        typer.echo(cannot_reach("the publisher", config.publisher_url, exc), err=True)
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        _fail(response)
    retried = response.json()["retried"]
    if not retried:
        typer.echo("Nothing failed for this footage. / Không có bài đăng lỗi.")
        return
    for post in retried:
        typer.echo(f"retrying {post['channel']}/{post['profile']}")


DOCUMENTS = ("pdf", "xlsx")


@app.command()
def report(
    month: Annotated[str | None, typer.Option(help="Month YYYY-MM, e.g. 2026-11 (default: this month)")] = None,
    week: Annotated[str | None, typer.Option(help="ISO week YYYY-Www instead of a month, e.g. 2026-W47")] = None,
    period: Annotated[
        str | None, typer.Option(help="For pdf/xlsx: 2026-11 (month), 2026-W47 (week) or 2026-Q4 (quarter)")
    ] = None,
    ward: Annotated[
        str | None, typer.Option(help="For pdf/xlsx: the ward (default: yours), or district (district admins)")
    ] = None,
    output_format: Annotated[str, typer.Option("--format", help="table, csv, json, pdf or xlsx")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file")] = None,
    district: Annotated[
        bool, typer.Option("--district", help="Every ward's totals (district admins) / tổng hợp các phường")
    ] = False,
) -> None:
    """Posts, views, average views per post and engagement rate per channel and series of your ward (báo cáo);
    with --district, every ward's footage, posts published and failed per platform and engagement (district admins);
    with --format pdf or xlsx, the report upward as a document (báo cáo gửi cấp trên) written to -o FILE."""
    if output_format not in ("table", "csv", "json", *DOCUMENTS):
        typer.echo(
            "--format must be table, csv, json, pdf or xlsx. / --format phải là table, csv, json, pdf hoặc xlsx.",
            err=True,
        )
        raise typer.Exit(2)
    if month and week:
        typer.echo("Give --month or --week, not both. / Chỉ chọn --month hoặc --week.", err=True)
        raise typer.Exit(2)
    config = _config()
    if output_format in DOCUMENTS:
        _report_document(config, period or week or month, "district" if district else ward, output_format, output)
        return
    params: dict[str, str | None] = {"week": week} if week else {"month": month}
    path = "/reports/district" if district else "/reports/weekly" if week else "/reports/monthly"
    query = {k: v for k, v in params.items() if v} | {"format": "csv" if output_format == "csv" else "json"}
    try:
        response = httpx.get(
            f"{config.metrics_url}{path}",
            params=query,
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=30.0,
        )
    except httpx.HTTPError as exc:
        typer.echo(cannot_reach("the metrics API", config.metrics_url, exc), err=True)
        raise typer.Exit(1) from exc
    if response.status_code == 403 and district:
        typer.echo(
            "--district needs a district admin's token; this token is confined to its ward (use `loa report` for the "
            "ward's own report). / --district cần mã của quản trị quận; mã này chỉ xem được phường của mình.",
            err=True,
        )
        raise typer.Exit(1)
    if response.status_code != 200:
        _fail(response)
    if output_format == "csv":
        text = response.text
    elif output_format == "json":
        text = json.dumps(response.json(), ensure_ascii=False, indent=2) + "\n"
    elif district:
        text = _district_table(response.json())
    else:
        text = _report_table(response.json())
    if output is not None:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"Wrote {output}", err=True)
    else:
        typer.echo(text, nl=False)


def _report_document(config: CliConfig, period: str | None, ward: str | None, fmt: str, output: Path | None) -> None:
    """The report upward as a PDF or XLSX file (metrics' GET /reports/upward)."""
    if output is None:
        typer.echo("--format pdf/xlsx needs -o FILE. / Cần -o TỆP để ghi báo cáo.", err=True)
        raise typer.Exit(2)
    query = {"format": fmt, **({"period": period} if period else {}), **({"ward": ward} if ward else {})}
    try:
        response = httpx.get(
            f"{config.metrics_url}/reports/upward",
            params=query,
            headers={"Authorization": f"Bearer {config.token}"},
            timeout=120.0,  # a PDF with its charts takes seconds on a busy machine
        )
    except httpx.HTTPError as exc:
        typer.echo(cannot_reach("the metrics API", config.metrics_url, exc), err=True)
        raise typer.Exit(1) from exc
    if response.status_code != 200:
        _fail(response)
    output.write_bytes(response.content)
    typer.echo(f"Wrote {output} ({len(response.content)} bytes)", err=True)


def _table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    return lines + ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]


def _district_table(body: dict[str, Any]) -> str:
    columns = ("ward", "platform", "footage", "published", "failed", "views", "likes", "comments", "shares")
    rows = []
    for ward in body["wards"]:
        rows.append([str(ward["ward"]), "all", *(str(ward[c]) for c in columns[2:])])
        for platform, sums in sorted(ward["platforms"].items()):
            rows.append([str(ward["ward"]), platform, "", *(str(sums[c]) for c in columns[3:])])
    lines = [f"Loa district report {body['period']} ({body['from']} – {body['to']}, exclusive)", *_table(columns, rows)]
    if not rows:
        lines.append("(nothing in this period / không có số liệu)")
    return "\n".join(lines) + "\n"


def _report_table(body: dict[str, Any]) -> str:
    columns = ("channel", "series", "posts", "views", "avg_views_per_post", "engagement_rate", "views_in_period")
    rows = [[str(r[c]) for c in columns] for r in body["rows"]]
    lines = [f"Loa report {body['period']} ({body['from']} – {body['to']}, exclusive)", *_table(columns, rows)]
    if not rows:
        lines.append("(no posts in this period / không có bài đăng)")
    for f in body.get("followers", []):
        lines.append(f"followers {f['channel']}: {f['followers']}")
    return "\n".join(lines) + "\n"
