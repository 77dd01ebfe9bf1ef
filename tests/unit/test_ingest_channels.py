"""The channel store's outbox on SQLite with a recording producer, and the API's pure decisions (defaults, refusals)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from loa_core import db
from loa_core.contracts import CHANNEL_REGISTRY, INGEST, Channel, ChannelState, ChannelUpdated, Event, TopicSpec
from loa_core.contracts.channels import DEFAULT_PROFILES, PLATFORMS, PROFILE_NAMES
from loa_core.kafka import EventProducer
from loa_ingest.channels import ChannelStore, ChannelTaken, NoSuchChannel
from loa_ingest.channels_api import ChannelChange, ChannelRequest, changed, new_channel
from loa_ingest.channels_page import edited_options, in_language
from loa_transcode.profiles import PROFILES
from tests.support.bilingual import assert_bilingual


class Recorded(EventProducer):
    """The producer as the store sees it, recording instead of sending (or failing, while `down`)."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:1", service=INGEST)
        self.sent: list[ChannelUpdated] = []
        self.down = False
        self.during_next_send: Callable[[], Awaitable[None]] | None = None

    async def send(self, spec: TopicSpec, event: Event) -> None:
        assert spec is CHANNEL_REGISTRY and isinstance(event, ChannelUpdated)
        if self.down:
            raise ConnectionError("broker away")
        if self.during_next_send is not None:
            during, self.during_next_send = self.during_next_send, None
            await during()
        self.sent.append(event)


@pytest.fixture
def producer() -> Recorded:
    return Recorded()


@pytest.fixture
def store(tmp_path: Path, producer: Recorded) -> ChannelStore:
    engine = db.make_engine(tmp_path / "ingest.sqlite3", service=INGEST)
    db.migrate(engine, INGEST)
    return ChannelStore(engine, producer)


LOCAL = Channel(name="local", platform="local", profiles=("tiktok", "youtube"))
YOUTUBE = Channel(name="p1-youtube", platform="youtube", profiles=("youtube",), ward="phuong-1")


def test_every_cut_a_channel_may_pick_is_one_transcode_makes() -> None:
    assert set(PROFILE_NAMES) == set(PROFILES)
    assert set(DEFAULT_PROFILES) == set(PLATFORMS)
    assert {p for cuts in DEFAULT_PROFILES.values() for p in cuts} <= set(PROFILE_NAMES)


async def test_the_import_happens_once_and_is_sent_by_the_outbox(store: ChannelStore, producer: Recorded) -> None:
    assert store.import_if_empty([LOCAL, YOUTUBE]) == 2
    assert store.import_if_empty([LOCAL]) == 0, "a table that had channels never imports again"
    assert store.pending() == ["local", "p1-youtube"]
    assert await store.send_pending() == 2
    assert [(r.name, r.revision) for r in producer.sent] == [("local", 1), ("p1-youtube", 1)]
    assert store.pending() == [] and await store.send_pending() == 0
    assert list(store.active()) == ["local", "p1-youtube"]


async def test_a_failed_send_leaves_the_change_committed_and_pending(store: ChannelStore, producer: Recorded) -> None:
    producer.down = True
    stored = await store.add(YOUTUBE)
    assert (stored.revision, stored.sent) == (1, False)
    assert store.pending() == ["p1-youtube"]
    producer.down = False
    assert await store.send_pending() == 1
    assert producer.sent[0].event_id == ChannelUpdated.read_json(_record(store, "p1-youtube")).event_id


def _record(store: ChannelStore, name: str) -> str:
    from sqlalchemy import select

    from loa_ingest.channels import channels

    query = select(channels.c.record).where(channels.c.name == name)
    return str(db.transaction(store._engine, lambda c: c.execute(query).scalar_one()))


async def test_the_last_record_sent_is_the_newest_even_when_a_change_lands_during_a_send(
    store: ChannelStore, producer: Recorded
) -> None:
    await store.add(YOUTUBE)

    async def meanwhile() -> None:
        # Another request (or replica) commits and sends revision 3 while revision 2 is on its way to the broker.
        await store.connect("p1-youtube", "c" * 32)

    producer.during_next_send = meanwhile
    await store.change("p1-youtube", "phuong-1", lambda c: c.model_copy(update={"approval_required": True}))
    # 1, then 3 (sent by the other), then 2 (late), then 3 again: the newest is last.
    assert [r.revision for r in producer.sent] == [1, 3, 2, 3]
    newest = producer.sent[-1].channel
    assert (newest.state, newest.connection_id, newest.approval_required) == ("connected", "c" * 32, True)
    assert store.pending() == []


async def test_names_are_unique_across_wards_and_a_removed_one_stays_its_wards(store: ChannelStore) -> None:
    await store.add(YOUTUBE)
    with pytest.raises(ChannelTaken):
        await store.add(YOUTUBE)
    other_ward = YOUTUBE.model_copy(update={"ward": "phuong-2"})
    await store.remove("p1-youtube", "phuong-1")
    with pytest.raises(ChannelTaken):
        await store.add(other_ward)
    back = await store.add(YOUTUBE)
    assert (back.revision, back.channel.state) == (3, ChannelState.CONNECTED)
    with pytest.raises(NoSuchChannel):
        await store.change("p1-youtube", "phuong-2", lambda c: c)


async def test_connect_and_disconnect_bump_the_revision(store: ChannelStore, producer: Recorded) -> None:
    await store.add(YOUTUBE.model_copy(update={"state": ChannelState.DISCONNECTED}))
    connected = await store.connect("p1-youtube", "a" * 32)
    assert (connected.revision, connected.channel.state, connected.channel.connection_id) == (2, "connected", "a" * 32)
    lost = await store.disconnect("p1-youtube", "invalid_grant: the refresh token was revoked")
    assert (lost.revision, lost.channel.state, lost.state_reason) == (3, "disconnected", lost.state_reason)
    assert lost.state_reason and "revoked" in lost.state_reason
    assert "revoked" not in producer.sent[-1].to_bytes().decode(), "the reason stays in ingest"


def test_a_new_channel_takes_its_platforms_defaults() -> None:
    youtube = new_channel(ChannelRequest(name="p1-yt", platform="youtube"), "phuong-1")
    local = new_channel(ChannelRequest(name="p1-local", platform="local"), "phuong-1")
    assert isinstance(youtube, Channel) and isinstance(local, Channel)
    assert (youtube.state, youtube.approval_required, youtube.profiles) == ("disconnected", True, ("youtube",))
    assert (local.state, local.approval_required, local.profiles) == ("connected", False, ("tiktok", "youtube"))
    chosen = new_channel(ChannelRequest(name="p1-z", platform="zalo", approval_required=False), "phuong-1")
    assert isinstance(chosen, Channel) and chosen.approval_required is False


@pytest.mark.parametrize(
    "request_",
    [
        ChannelRequest(name="../x", platform="local"),
        ChannelRequest(name="a" * 41, platform="local"),
        ChannelRequest(name="ok", platform="myspace"),
        ChannelRequest(name="ok", platform="youtube", profiles=[]),
        ChannelRequest(name="ok", platform="youtube", profiles=["youtube", "youtube"]),
        ChannelRequest(name="ok", platform="youtube", options={"refresh_token": "x"}),
    ],
)
def test_a_bad_request_is_refused_in_both_languages(request_: ChannelRequest) -> None:
    refused = new_channel(request_, "phuong-1")
    assert not isinstance(refused, Channel)
    assert refused.status_code == 422
    assert_bilingual(refused.detail)


def test_a_change_keeps_what_it_does_not_name() -> None:
    before = YOUTUBE.model_copy(update={"options": {"privacy": "public"}, "approval_required": True})
    after = changed(before, ChannelChange(approval_required=False))
    assert after == before.model_copy(update={"approval_required": False})
    assert changed(before, ChannelChange(options={})).options == {}


def test_the_page_edits_privacy_and_templates_and_keeps_every_other_option() -> None:
    options = {"privacy": "private", "title_template": "{{ title }}", "category_id": "25"}
    templates = {"title_template": "", "description_template": " {{ description }} "}
    assert edited_options(options, "youtube", "public", templates) == {
        "privacy": "public",
        "category_id": "25",
        "description_template": "{{ description }}",
    }
    # TikTok names its privacy option otherwise; a platform without one keeps whatever it has.
    assert edited_options({}, "tiktok", "SELF_ONLY", {})["privacy_level"] == "SELF_ONLY"
    assert edited_options({"page_id": "1"}, "facebook", "public", {}) == {"page_id": "1"}
    assert in_language("No such channel. / Không tìm thấy kênh.", "vi") == "Không tìm thấy kênh."
    assert in_language("No such channel. / Không tìm thấy kênh.", "en") == "No such channel."
