"""The inbox as people read it (loa_metrics/inbox.py, inbox_api.py) over a real SQLite projection: collected items
newest first, triaged by the ward's rules as they arrive, people's acts and the platform's outcomes in each item's
thread (the ward's own reply on the platform shown once), overdue against the ward's target, the filters, another
ward's item 404, and the rules a ward admin changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Header, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from loa_core.auth import Caller
from loa_core.channels import Channel
from loa_core.contracts import FeedbackAction, FeedbackDone, FeedbackReceived, InboxItem, InboxList
from loa_core.contracts.feedback import feedback_item_id
from loa_metrics import triage
from loa_metrics.inbox_api import inbox_router
from loa_metrics.metrics import InboxCollector
from loa_metrics.projection import Projection, open_projection

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CALLERS = {
    "p1-viewer": Caller(id="t1", role="viewer", ward="p1", account="a-111111111111"),
    "p1-admin": Caller(id="t2", role="ward_admin", ward="p1", account="a-222222222222"),
    "p2-viewer": Caller(id="t3", role="viewer", ward="p2"),
    "district": Caller(id="t4", role="district_admin"),
}


def caller(authorization: str = Header()) -> Caller:
    found = CALLERS.get(authorization.removeprefix("Bearer "))
    if found is None:
        raise HTTPException(401, "who?")
    return found


def received(
    channel: str, external_id: str, text: str, hours_ago: float, ward: str = "p1", **more: Any
) -> FeedbackReceived:
    platform = channel.split("-")[1]
    return FeedbackReceived(
        item_id=feedback_item_id(channel, external_id),
        ward=ward,
        channel=channel,
        platform=platform,
        kind="comment",
        external_id=external_id,
        author_name="Nguyễn Văn An",
        text=text,
        written_at=NOW - timedelta(hours=hours_ago),
        **more,
    )


def collect(projection: Projection, event: FeedbackReceived) -> None:
    """What metrics' feedback.received consumer does (app.on_feedback)."""
    if projection.feedback.record(event, NOW) and not event.by_channel:
        projection.inbox.tag_by_rules(event, triage.topic_of(event.text, projection.inbox.rules(event.ward)))


def act(item: FeedbackReceived, action: str, minutes_ago: int = 30, **fields: Any) -> FeedbackAction:
    return FeedbackAction(
        item_id=item.item_id,
        ward=item.ward,
        channel=item.channel,
        external_id=item.external_id,
        action=action,  # type: ignore[arg-type]
        by="a-111111111111",
        occurred_at=NOW - timedelta(minutes=minutes_ago),
        **fields,
    )


FLOOD = received("p1-youtube", "Ugx1", "Đường Lê Lợi bị ngập nước mỗi khi mưa, mong phường xử lý.", 60)
POWER = received("p1-facebook", "111_222", "mat dien ca khu pho 4 tu sang", 2, author_id="fb-user-3")
THANKS = received("p1-youtube", "Ugx2", "Video hay quá, cảm ơn phường!", 1)
OTHER = received("p2-youtube", "Ugz9", "Rác chưa được thu gom", 70, ward="p2")
# The ward's own reply under the flood comment, written on YouTube itself (not from Loa).
OWN = received("p1-youtube", "Ugx1.own", "Phường đã ghi nhận.", 0.2, thread_id="Ugx1", by_channel=True)


Env = tuple[Projection, TestClient]


@pytest.fixture
def env(tmp_path: Path) -> Env:
    projection = open_projection(tmp_path / "p.sqlite3", {})
    for event in (FLOOD, POWER, THANKS, OTHER):
        collect(projection, event)
    app = FastAPI()
    app.include_router(inbox_router(projection.inbox, caller, lambda: NOW))
    return projection, TestClient(app)


def get(client: TestClient, who: str, path: str = "/inbox", **params: Any) -> Any:
    response = client.get(path, params=params, headers={"Authorization": f"Bearer {who}"})
    assert response.status_code == 200, response.text
    return response.json()


def listing(client: TestClient, who: str = "p1-viewer", **params: Any) -> InboxList:
    return InboxList.model_validate(get(client, who, **params))


def test_a_wards_inbox_is_newest_first_triaged_and_overdue_against_its_target(
    env: tuple[Projection, TestClient],
) -> None:
    _, client = env
    page = listing(client)
    assert [i.item_id for i in page.items] == [THANKS.item_id, POWER.item_id, FLOOD.item_id]
    by_id = {i.item_id: i for i in page.items}
    assert (by_id[FLOOD.item_id].topic, by_id[FLOOD.item_id].topic_by) == ("ha-tang", "rule")
    assert by_id[POWER.item_id].topic == "dien" and by_id[THANKS.item_id].topic is None
    assert by_id[FLOOD.item_id].text == FLOOD.text and by_id[FLOOD.item_id].author_name == "Nguyễn Văn An"
    assert by_id[POWER.item_id].author_id == "fb-user-3" and by_id[FLOOD.item_id].author_id is None
    assert [i.overdue for i in page.items] == [False, False, True]  # 60 h against the default 48 h
    assert by_id[FLOOD.item_id].due_at == FLOOD.written_at + timedelta(hours=48)
    assert (page.open, page.overdue, page.target_hours) == (3, 1, 48)
    assert page.topics == triage.DEFAULT_RULES.topics()
    assert [i.item_id for i in listing(client, overdue=True).items] == [FLOOD.item_id]
    assert [i.item_id for i in listing(client, topic="dien").items] == [POWER.item_id]
    assert [i.item_id for i in listing(client, channel="p1-facebook").items] == [POWER.item_id]
    assert [i.ward for i in listing(client, "district").items] == ["p1", "p1", "p1", "p2"]
    assert [i.item_id for i in listing(client, "p2-viewer").items] == [OTHER.item_id]


def test_acts_and_replies_show_in_the_item_and_its_thread(env: Env) -> None:
    projection, client = env
    reply = act(FLOOD, "reply", text="Cảm ơn anh, phường sẽ nạo vét cống.")
    failed = act(FLOOD, "reply", 29, text="Trả lời thứ hai")
    for a in (act(FLOOD, "tag", topic="moi-truong"), act(FLOOD, "assign", assignee="a-222222222222"), reply, failed):
        assert projection.inbox.action(a)
    item = InboxItem.model_validate(get(client, "p1-viewer", f"/inbox/{FLOOD.item_id}"))
    assert (item.topic, item.topic_by, item.assignee) == ("moi-truong", "person", "a-222222222222")
    assert [(r.text, r.state) for r in item.replies] == [(reply.text, "pending"), (failed.text, "pending")]
    assert item.overdue  # a reply not yet posted does not answer the citizen
    done = FeedbackDone(
        item_id=FLOOD.item_id, ward="p1", channel="p1-youtube", action_id=reply.event_id, state="replied",
        reply_id="Ugx1.loa", text=reply.text, occurred_at=NOW - timedelta(minutes=29),
    )  # fmt: skip
    gone = FeedbackDone(
        item_id=FLOOD.item_id, ward="p1", channel="p1-youtube", action_id=failed.event_id, state="failed",
        reason="The comment was deleted. / Bình luận đã bị xoá.", occurred_at=NOW - timedelta(minutes=28),
    )  # fmt: skip
    assert projection.inbox.done(done) and projection.inbox.done(gone)
    # The reply collected back from YouTube is the same reply: shown once, as Loa's.
    collect(projection, received("p1-youtube", "Ugx1.loa", reply.text, 0.4, thread_id="Ugx1", by_channel=True))
    collect(projection, OWN)
    item = InboxItem.model_validate(get(client, "p1-viewer", f"/inbox/{FLOOD.item_id}"))
    assert [(r.text, r.state, r.reason is not None, r.action_id is not None) for r in item.replies] == [
        (reply.text, "posted", False, True),
        (failed.text, "failed", True, True),
        (OWN.text, "posted", False, False),
    ]
    assert not item.overdue and item.first_reply_at == NOW - timedelta(minutes=29)
    # The ward's own replies are never items.
    assert OWN.item_id not in {i.item_id for i in listing(client).items}
    for a in (act(POWER, "handled"), act(POWER, "hide")):
        projection.inbox.action(a)
    power = InboxItem.model_validate(get(client, "p1-viewer", f"/inbox/{POWER.item_id}"))
    assert power.handled and power.hidden and power.hide_state == "pending"
    assert [i.item_id for i in listing(client, state="handled").items] == [POWER.item_id]
    assert [i.item_id for i in listing(client, state="open").items] == [THANKS.item_id, FLOOD.item_id]
    assert [i.item_id for i in listing(client, assignee="a-222222222222").items] == [FLOOD.item_id]
    assert listing(client).overdue == 0


def test_another_wards_item_is_404(env: Env) -> None:
    _, client = env
    response = client.get(f"/inbox/{OTHER.item_id}", headers={"Authorization": "Bearer p1-viewer"})
    assert response.status_code == 404
    assert client.get("/inbox", params={"ward": "p2"}, headers={"Authorization": "Bearer p1-viewer"}).status_code == 404
    assert get(client, "district", f"/inbox/{OTHER.item_id}")["ward"] == "p2"


def test_a_ward_admin_changes_the_rules_and_target_and_new_items_follow_them(
    env: tuple[Projection, TestClient],
) -> None:
    projection, client = env
    rules = {
        "target_hours": 24,
        "rules": [{"topic": "cho", "department": "Ban quản lý chợ", "keywords": ["chợ", "sạp"]}],
    }
    refused = client.put("/inbox/rules", json=rules, headers={"Authorization": "Bearer p1-viewer"})
    assert refused.status_code == 403
    changed = client.put("/inbox/rules", json=rules, headers={"Authorization": "Bearer p1-admin"})
    assert changed.status_code == 200, changed.text
    assert get(client, "p1-viewer", "/inbox/rules")["target_hours"] == 24
    assert get(client, "p2-viewer", "/inbox/rules")["target_hours"] == 48  # another ward keeps the defaults
    market = received("p1-youtube", "Ugx3", "Sạp ở chợ Bến Thành lấn chiếm lối đi", 30)
    collect(projection, market)
    page = listing(client)
    assert page.topics == ("cho",) and page.target_hours == 24
    by_id = {i.item_id: i for i in page.items}
    assert by_id[market.item_id].topic == "cho" and by_id[market.item_id].overdue  # 30 h against 24 h
    assert by_id[POWER.item_id].topic == "dien"  # triaged when it came, under the rules then
    assert page.overdue == 2


def test_prometheus_reads_open_overdue_and_the_median_first_reply_per_ward_and_channel(env: Env) -> None:
    projection, _ = env
    registry = CollectorRegistry()
    quiet = Channel(name="p2-facebook", platform="facebook", profiles=("youtube",), ward="p2")
    tiktok = Channel(name="p2-tiktok", platform="tiktok", profiles=("tiktok",), ward="p2")
    registry.register(InboxCollector(projection.inbox, {c.name: c for c in (quiet, tiktok)}, lambda: NOW))

    def value(name: str, ward: str, channel: str) -> float | None:
        return registry.get_sample_value(name, {"ward": ward, "channel": channel})

    assert value("loa_inbox_open", "p1", "p1-youtube") == 2 and value("loa_inbox_open", "p2", "p2-youtube") == 1
    assert value("loa_inbox_overdue", "p1", "p1-youtube") == 1 and value("loa_inbox_overdue", "p1", "p1-facebook") == 0
    assert value("loa_inbox_first_reply_median_seconds", "p1", "p1-youtube") is None  # nothing answered yet
    # A channel that collects has its series before its first item; one that collects nothing (TikTok) has none.
    assert value("loa_inbox_open", "p2", "p2-facebook") == 0 and value("loa_inbox_open", "p2", "p2-tiktok") is None
    # The flood comment (60 h old) answered from Loa 30 min ago; the thanks (1 h old) by the ward on YouTube itself.
    reply = act(FLOOD, "reply", text="Cảm ơn anh")
    projection.inbox.action(reply)
    projection.inbox.done(
        FeedbackDone(
            item_id=FLOOD.item_id, ward="p1", channel="p1-youtube", action_id=reply.event_id, state="replied",
            reply_id="r1", text=reply.text, occurred_at=NOW - timedelta(minutes=30),
        )
    )  # fmt: skip
    collect(projection, received("p1-youtube", "Ugx2.own", "Cảm ơn bạn!", 0.5, thread_id="Ugx2", by_channel=True))
    assert value("loa_inbox_overdue", "p1", "p1-youtube") == 0
    waits = [(60 - 0.5) * 3600, 0.5 * 3600]
    assert value("loa_inbox_first_reply_median_seconds", "p1", "p1-youtube") == sum(waits) / 2
    assert value("loa_inbox_open", "p1", "p1-youtube") == 2  # answered is not handled
