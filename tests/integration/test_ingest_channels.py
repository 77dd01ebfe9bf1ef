"""Channels managed through ingest's API, each change written to the compacted `channels.registry` topic of a real
broker: the channels file imported on the first start, add / change / brand / remove, wards kept apart, bad input
refused in both languages with nothing changed, and a crash between the commit and the send healed at restart."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from loa_cli.main import app as cli
from loa_core.contracts import CHANNEL_REGISTRY, ChannelUpdated
from loa_dev.kafka import KafkaBroker
from tests.support.bilingual import assert_bilingual
from tests.support.ingest import IngestProcess, read_topic, run_ingest
from tests.support.media import make_clip

FILE_CHANNELS = [
    {"name": "local", "platform": "local", "profiles": ["tiktok", "youtube"]},
    {"name": "old-youtube", "platform": "youtube", "profiles": ["youtube"], "options": {"privacy": "public"}},
]
MAX_LOGO_BYTES = 100_000


def records(ingest: IngestProcess) -> list[ChannelUpdated]:
    return [
        ChannelUpdated.from_bytes(v) for v in read_topic(ingest.bootstrap, CHANNEL_REGISTRY.full_name(ingest.prefix))
    ]


def newest(ingest: IngestProcess) -> dict[str, ChannelUpdated]:
    """What a registry reader keeps: the highest revision per channel."""
    kept: dict[str, ChannelUpdated] = {}
    for record in records(ingest):
        if record.name not in kept or record.revision > kept[record.name].revision:
            kept[record.name] = record
    return kept


@pytest.fixture(scope="module")
def ingest(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestProcess]:
    root = tmp_path_factory.mktemp("ingest-channels")
    channels_file = root / "channels.json"
    channels_file.write_text(json.dumps(FILE_CHANNELS))
    env = {"LOA_CHANNELS_FILE": str(channels_file), "LOA_MAX_LOGO_BYTES": str(MAX_LOGO_BYTES)}
    with run_ingest(root, kafka_broker.bootstrap, env) as process:
        yield process


def ward_admin(ingest: IngestProcess, ward: str) -> dict[str, str]:
    made = httpx.post(f"{ingest.url}/tokens", headers=ingest.headers(), json={"role": "ward_admin", "ward": ward})
    assert made.status_code == 201, made.text
    return ingest.headers(made.json()["token"])


def add(ingest: IngestProcess, headers: dict[str, str], **body: object) -> httpx.Response:
    return httpx.post(f"{ingest.url}/channels", headers=headers, json=body)


def test_the_channels_file_is_imported_on_the_first_start_and_published(ingest: IngestProcess) -> None:
    listed = httpx.get(f"{ingest.url}/channels", headers=ingest.headers()).json()
    imported = [c for c in listed if c["channel"]["name"] in ("local", "old-youtube")]
    # As the file said, in its order, in the default ward; a file's channels kept working before, so they stay as
    # they were (connected through the environment's credentials, no approval) rather than take the new defaults.
    assert [(c["channel"]["name"], c["channel"]["ward"], c["channel"]["state"]) for c in imported] == [
        ("local", "default", "connected"),
        ("old-youtube", "default", "connected"),
    ]
    assert imported[1]["channel"]["options"] == {"privacy": "public"}
    on_topic = newest(ingest)
    assert on_topic["local"].channel.profiles == ("tiktok", "youtube")
    assert on_topic["old-youtube"].revision == 1
    assert all(c["sent"] for c in imported)
    assert "imported 2 channel(s)" in ingest.log()


def test_adding_changing_and_removing_a_channel_writes_its_registry_record(ingest: IngestProcess) -> None:
    admin = ward_admin(ingest, "phuong-1")
    added = add(ingest, admin, name="p1-youtube", platform="youtube", options={"privacy": "public"})
    assert added.status_code == 201, added.text
    channel = added.json()["channel"]
    # A platform channel waits for its OAuth sign-in, and its posts for an approver.
    assert (channel["ward"], channel["state"], channel["approval_required"]) == ("phuong-1", "disconnected", True)
    assert channel["profiles"] == ["youtube"]
    record = newest(ingest)["p1-youtube"]
    assert (record.revision, record.channel.state, record.channel.ward) == (1, "disconnected", "phuong-1")

    local = add(ingest, admin, name="p1-local", platform="local")
    assert local.status_code == 201, local.text
    assert (local.json()["channel"]["state"], local.json()["channel"]["approval_required"]) == ("connected", False)

    change = {"profiles": ["youtube", "shorts"], "options": {"privacy": "unlisted", "title_template": "{title} | P1"}}
    changed = httpx.patch(
        f"{ingest.url}/channels/p1-youtube", headers=admin, json=change | {"approval_required": False}
    )
    assert changed.status_code == 200, changed.text
    record = newest(ingest)["p1-youtube"]
    assert record.revision == 2
    assert record.channel.profiles == ("youtube", "shorts")
    assert record.channel.options == change["options"]
    assert record.channel.approval_required is False
    assert record.channel.state == "disconnected", "an edit does not connect the channel"

    removed = httpx.delete(f"{ingest.url}/channels/p1-youtube", headers=admin)
    assert removed.status_code == 204
    record = newest(ingest)["p1-youtube"]
    assert (record.revision, record.channel.state) == (3, "removed")
    names = [c["channel"]["name"] for c in httpx.get(f"{ingest.url}/channels", headers=admin).json()]
    assert names == ["p1-local"]
    # Brought back by its ward: the revisions keep counting, so no reader mistakes it for an old record.
    again = add(ingest, admin, name="p1-youtube", platform="youtube")
    assert again.status_code == 201, again.text
    assert newest(ingest)["p1-youtube"].revision == 4


def test_a_ward_admin_sees_and_changes_only_its_own_wards_channels(ingest: IngestProcess) -> None:
    ward_a, ward_b = ward_admin(ingest, "phuong-a"), ward_admin(ingest, "phuong-b")
    assert add(ingest, ward_a, name="pa-tiktok", platform="tiktok").status_code == 201
    assert add(ingest, ward_b, name="pb-zalo", platform="zalo").status_code == 201
    before = records(ingest)

    seen_by_b = [c["channel"]["name"] for c in httpx.get(f"{ingest.url}/channels", headers=ward_b).json()]
    assert seen_by_b == ["pb-zalo"]
    refusals = [
        httpx.get(f"{ingest.url}/channels/pa-tiktok", headers=ward_b),
        httpx.patch(f"{ingest.url}/channels/pa-tiktok", headers=ward_b, json={"approval_required": False}),
        httpx.delete(f"{ingest.url}/channels/pa-tiktok", headers=ward_b),
        httpx.delete(f"{ingest.url}/channels/pa-tiktok/branding/logo", headers=ward_b),
    ]
    assert [r.status_code for r in refusals] == [404, 404, 404, 404]
    for refused in refusals[1:]:
        assert_bilingual(refused.json()["detail"])
    into_a = add(ingest, ward_b, name="pb-in-a", platform="local", ward="phuong-a")
    listing_a = httpx.get(f"{ingest.url}/channels", headers=ward_b, params={"ward": "phuong-a"})
    assert (into_a.status_code, listing_a.status_code) == (403, 403)
    assert_bilingual(into_a.json()["detail"])
    assert_bilingual(listing_a.json()["detail"])
    assert records(ingest) == before, "a refused request wrote no record"

    # The district admin sees every ward, or one, and adds a channel to the ward it names.
    every = {c["channel"]["name"] for c in httpx.get(f"{ingest.url}/channels", headers=ingest.headers()).json()}
    assert {"pa-tiktok", "pb-zalo", "local"} <= every
    only_a = httpx.get(f"{ingest.url}/channels", headers=ingest.headers(), params={"ward": "phuong-a"}).json()
    assert [c["channel"]["name"] for c in only_a] == ["pa-tiktok"]
    made = add(ingest, ingest.headers(), name="pa-facebook", platform="facebook", ward="phuong-a")
    assert made.status_code == 201 and made.json()["channel"]["ward"] == "phuong-a"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "../etc", "platform": "local"}, 422),
        ({"name": "a/b", "platform": "local"}, 422),
        ({"name": "Phuong 1", "platform": "local"}, 422),
        ({"name": "p-myspace", "platform": "myspace"}, 422),
        ({"name": "p-cuts", "platform": "youtube", "profiles": ["youtube", "imax"]}, 422),
        ({"name": "p-secret", "platform": "youtube", "options": {"client_secret": "x"}}, 422),
        ({"name": "local", "platform": "local"}, 409),  # the default ward's, imported from the file
    ],
    ids=["dots", "slash", "space-and-capitals", "unknown-platform", "unknown-cut", "credential-option", "taken"],
)
def test_a_bad_channel_is_refused_in_both_languages_and_nothing_changes(
    ingest: IngestProcess, body: dict[str, object], status: int
) -> None:
    admin = ward_admin(ingest, "phuong-x")
    before_records, before_listing = records(ingest), httpx.get(f"{ingest.url}/channels", headers=ingest.headers())
    refused = add(ingest, admin, **body)
    assert refused.status_code == status, refused.text
    assert_bilingual(refused.json()["detail"])
    assert records(ingest) == before_records
    assert httpx.get(f"{ingest.url}/channels", headers=ingest.headers()).json() == before_listing.json()
    assert ingest.alive()


def _cli(ingest: IngestProcess, headers: dict[str, str], *args: str) -> tuple[int, str, str]:
    token = headers["Authorization"].removeprefix("Bearer ")
    env = {"LOA_INGEST_URL": ingest.url, "LOA_TOKEN": token, "LOA_CLI_CONFIG": "/nonexistent"}
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_loa_channels_import_adds_a_files_channels_to_your_ward_and_can_run_again(
    ingest: IngestProcess, tmp_path: Path
) -> None:
    admin = ward_admin(ingest, "phuong-5")
    listing = tmp_path / "phuong-5.json"
    listing.write_text(
        json.dumps(
            [
                {"name": "p5-local", "platform": "local", "profiles": ["tiktok"]},
                {"name": "p5-fanpage", "platform": "facebook", "profiles": ["youtube"], "options": {"page_id": "1"}},
            ]
        )
    )
    code, out, err = _cli(ingest, admin, "channels", "import", str(listing))
    assert code == 0, err
    assert out.splitlines() == ["added p5-local (phuong-5, connected)", "added p5-fanpage (phuong-5, disconnected)"]
    assert newest(ingest)["p5-fanpage"].channel.options == {"page_id": "1"}
    code, out, _ = _cli(ingest, admin, "channels", "import", str(listing))
    assert code == 0 and out.count("skipped") == 2, out
    code, out, _ = _cli(ingest, admin, "channels", "list")
    assert code == 0
    assert [line.split()[:4] for line in out.splitlines()] == [
        ["p5-local", "local", "phuong-5", "connected"],
        ["p5-fanpage", "facebook", "phuong-5", "disconnected"],
    ]
    # Another ward's channel in the file is refused, the rest still added; a file that is not one changes nothing.
    other = tmp_path / "other.json"
    other.write_text(
        json.dumps([{"name": "p6-local", "platform": "local", "profiles": ["tiktok"], "ward": "phuong-6"}])
    )
    code, _, err = _cli(ingest, admin, "channels", "import", str(other))
    assert code == 1 and "refused p6-local: 403" in err
    broken = tmp_path / "broken.json"
    broken.write_text('[{"name": "../x", "platform": "local", "profiles": ["tiktok"]}]')
    code, _, err = _cli(ingest, admin, "channels", "import", str(broken))
    assert code == 2 and "is not a channels file" in err and "Tệp kênh không hợp lệ" in err
    assert "p6-local" not in newest(ingest)


def _png(path: Path, side: int) -> Path:
    # A logo with transparency, as a ward's official seal would be.
    color = f"color=c=red@0.5:s={side}x{side}"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", color, "-frames:v", "1", str(path)], check=True)
    return path


def _upload(ingest: IngestProcess, headers: dict[str, str], name: str, kind: str, path: Path) -> httpx.Response:
    with path.open("rb") as file:
        return httpx.post(f"{ingest.url}/channels/{name}/branding/{kind}", headers=headers, files={"file": file})


def test_branding_is_stored_under_its_key_and_carried_by_the_record(ingest: IngestProcess, tmp_path: Path) -> None:
    admin = ward_admin(ingest, "phuong-2")
    assert add(ingest, admin, name="p2-local", platform="local").status_code == 201
    logo = _png(tmp_path / "seal.png", 64)
    uploaded = _upload(ingest, admin, "p2-local", "logo", logo)
    assert uploaded.status_code == 200, uploaded.text
    key = uploaded.json()["channel"]["logo_key"]
    assert key.startswith("branding/phuong-2/p2-local/logo-") and key.endswith(".png")
    assert (ingest.storage_root / key).read_bytes() == logo.read_bytes()
    intro = make_clip(tmp_path / "intro.mp4", duration_s=1.0)
    assert _upload(ingest, admin, "p2-local", "intro", intro).status_code == 200
    record = newest(ingest)["p2-local"]
    assert (record.channel.logo_key, record.revision) == (key, 3)
    assert record.channel.intro_key is not None and (ingest.storage_root / record.channel.intro_key).exists()

    before = records(ingest)
    big = _png(tmp_path / "big.png", 1000)
    big.write_bytes(big.read_bytes() + b"\0" * MAX_LOGO_BYTES)  # over the limit whatever the encoder made
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not an image at all" * 100)
    text = tmp_path / "notes.png"
    text.write_text("Biên bản họp khu phố")
    answers = [
        _upload(ingest, admin, "p2-local", "logo", big),
        _upload(ingest, admin, "p2-local", "logo", fake),
        _upload(ingest, admin, "p2-local", "logo", text),
        _upload(ingest, admin, "p2-local", "outro", logo),  # an image is not a clip
    ]
    assert [a.status_code for a in answers] == [413, 422, 422, 422]
    for answer in answers:
        assert_bilingual(answer.json()["detail"])
    assert records(ingest) == before
    stored = sorted(p.name for p in (ingest.storage_root / "branding" / "phuong-2" / "p2-local").iterdir())
    assert len(stored) == 2 and all(name.startswith(("logo-", "intro-")) for name in stored)


def test_an_oversized_branding_upload_is_refused_by_its_length_before_a_byte_of_it_is_read(
    ingest: IngestProcess,
) -> None:
    # Only the headers are sent: an answer proves the body was never waited for (nor parsed for a CSRF token).
    port = int(ingest.url.rsplit(":", 1)[1])
    for path in ("/channels/local/branding/logo", "/ui/channels/local/branding/logo"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "multipart/form-data; boundary=x")
        connection.putheader("Content-Length", str(10 * 1024**3))
        connection.putheader("Cookie", "loa_session=not-a-session")
        connection.endheaders()
        answer = connection.getresponse()
        assert answer.status == 413, (path, answer.status)
        assert_bilingual(json.loads(answer.read())["detail"])
        connection.close()
    assert ingest.alive()


def test_a_crash_between_the_commit_and_the_send_is_sent_at_the_restart(
    kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    root = tmp_path / "ingest"
    with run_ingest(root, kafka_broker.bootstrap) as first:
        assert [r.name for r in records(first)] == ["local"]  # the embedded default, imported and published
    # Stopped dead at the send, after the change is committed: the record is not on the topic.
    with run_ingest(root, kafka_broker.bootstrap, again=first, pause_at="loa_core.kafka:EventProducer.send") as paused:
        with pytest.raises(httpx.ReadTimeout):
            add(paused, paused.headers(), name="crash-local", platform="local", ward="phuong-9")
        deadline = time.monotonic() + 30
        while not (root / "paused").exists():
            assert time.monotonic() < deadline, paused.log()
            time.sleep(0.1)
        paused.process.send_signal(signal.SIGKILL)
        paused.process.wait()
        assert [r.name for r in records(paused)] == ["local"]
    with run_ingest(root, kafka_broker.bootstrap, again=first) as second:
        sent = [r for r in records(second) if r.name == "crash-local"]
        assert [(r.revision, r.channel.ward) for r in sent] == [(1, "phuong-9")]
        listed = httpx.get(f"{second.url}/channels/crash-local", headers=second.headers()).json()
        assert listed["sent"] is True
        assert "sent 1 channel registry records recorded but not known to be sent" in second.log()


def test_the_channels_page_lists_adds_edits_brands_and_removes(ingest: IngestProcess, tmp_path: Path) -> None:
    admin = ward_admin(ingest, "phuong-7")
    page = f"{ingest.url}/ui/channels"
    added = httpx.post(page, headers=admin, data={"name": "p7-youtube", "platform": "youtube", "approval": "true"})
    assert added.status_code == 303 and added.headers["location"] == "/ui/channels?saved=p7-youtube"
    shown = httpx.get(f"{ingest.url}{added.headers['location']}", headers=admin)
    assert shown.status_code == 200 and '<html lang="vi">' in shown.text
    assert "Đã lưu kênh" in shown.text and 'data-state="disconnected"' in shown.text
    assert 'href="/channels/p7-youtube/connect"' in shown.text and "Kết nối" in shown.text
    english = httpx.get(page, headers=admin, params={"lang": "en"}).text
    assert "Disconnected" in english and ">Connect<" in english

    edit = {"profiles": ["youtube", "shorts"], "privacy": "unlisted", "title_template": "{{ title }} | P7"}
    assert httpx.post(f"{page}/p7-youtube", headers=admin, data=edit).status_code == 303
    record = newest(ingest)["p7-youtube"]
    assert record.channel.profiles == ("youtube", "shorts") and record.channel.approval_required is False
    assert record.channel.options == {"privacy": "unlisted", "title_template": "{{ title }} | P7"}
    with _png(tmp_path / "seal.png", 32).open("rb") as logo:
        branded = httpx.post(f"{page}/p7-youtube/branding/logo", headers=admin, files={"file": logo})
    assert branded.status_code == 303
    assert newest(ingest)["p7-youtube"].channel.logo_key is not None

    # A refusal is the page again, with the reason in the page's language, and nothing changed.
    before = records(ingest)
    bad = httpx.post(page, headers=admin, data={"name": "p7/../x", "platform": "local"})
    assert bad.status_code == 422 and 'id="error"' in bad.text and "Tên kênh gồm" in bad.text
    not_image = httpx.post(f"{page}/p7-youtube/branding/logo", headers=admin, files={"file": ("a.png", b"hello")})
    assert not_image.status_code == 422 and "Logo phải là ảnh PNG hoặc JPEG" in not_image.text
    other_ward = httpx.post(f"{page}/p7-youtube/remove", headers=ward_admin(ingest, "phuong-8"))
    assert other_ward.status_code == 404
    assert records(ingest) == before

    assert httpx.post(f"{page}/p7-youtube/remove", headers=admin).status_code == 303
    assert newest(ingest)["p7-youtube"].channel.state == "removed"
    assert "p7-youtube" not in httpx.get(page, headers=admin).text
    # The district admin's ward filter, left empty, shows every ward.
    every = httpx.get(page, headers=ingest.headers(), params={"ward": ""})
    assert every.status_code == 200 and 'id="channel-local"' in every.text
