"""Ingest's reschedule and cancel routes (loa_ingest/schedule.py) over a real SQLite database and the audit log: an
editor of the footage's ward moves or cancels a post, each change recorded in the audit log (its outbox) and sent on
posts.schedule; another ward's footage is 404, a viewer 403, a time in the past 422, all in both languages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core import db
from loa_core.auth import Role, bearer_dependency
from loa_core.contracts import INGEST, POSTS_SCHEDULE, Event, PostSchedule, TopicSpec, new_id
from loa_core.kafka import EventProducer
from loa_ingest.access import TokenStore
from loa_ingest.approval_api import approval_router
from loa_ingest.audit import AuditLog
from loa_ingest.catalog import Catalog
from loa_ingest.channels import ChannelStore
from loa_ingest.metadata import WARD_TIMEZONE
from loa_ingest.schedule import changes_router
from tests.support.bilingual import assert_bilingual
from tests.support.metrics_events import uploaded


class Changes(EventProducer):
    def __init__(self) -> None:
        super().__init__("127.0.0.1:1", service=INGEST)
        self.sent: list[PostSchedule] = []

    async def send(self, spec: TopicSpec, event: Event) -> None:
        assert spec is POSTS_SCHEDULE and isinstance(event, PostSchedule)  # no channel changes here
        self.sent.append(event)


def test_an_editor_moves_and_cancels_a_post_of_its_ward_audited_and_sent(tmp_path: Path) -> None:
    engine = db.make_engine(tmp_path / "ingest.sqlite3", service=INGEST)
    db.migrate(engine, INGEST)
    producer, tokens, catalog = Changes(), TokenStore(engine), Catalog(engine)
    audit = AuditLog(engine, producer)
    footage = uploaded(new_id(), channels=("p1-youtube", "p1-local")).model_copy(update={"ward": "p1"})
    assert catalog.reserve(footage)

    def requires(role: Role):  # type: ignore[no-untyped-def]
        return bearer_dependency(frozenset, tokens, need=role)

    app = FastAPI()
    app.include_router(changes_router(catalog, audit, requires))
    app.include_router(approval_router(ChannelStore(engine, producer), audit, requires))  # /audit.csv
    client = TestClient(app)

    def token(role: Role, ward: str = "p1") -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens.create(role, f'{role} of {ward}', 'test', ward).token}"}

    editor = token("editor")
    url = f"/posts/{footage.footage_id}/p1-youtube"
    tomorrow = (datetime.now(WARD_TIMEZONE) + timedelta(days=1)).replace(second=0, microsecond=0)
    moved = client.post(
        f"{url}/reschedule", json={"publish_at": tomorrow.replace(tzinfo=None).isoformat()}, headers=editor
    )
    assert moved.status_code == 202, moved.text
    assert moved.json()["sent"] is True and moved.json()["schedule"]["cancelled"] is False
    cancelled = client.post(f"{url}/cancel", headers=editor)
    assert cancelled.status_code == 202, cancelled.text
    assert [(s.channel, s.ward, s.publish_at, s.cancelled) for s in producer.sent] == [
        ("p1-youtube", "p1", tomorrow.astimezone(UTC), False),  # a time without an offset is the ward's
        ("p1-youtube", "p1", None, True),
    ]
    assert all(s.by.startswith("token:") for s in producer.sent)
    csv = client.get("/audit.csv", headers=token("viewer")).content.decode("utf-8-sig")
    assert f"p1-youtube,reschedule,{producer.sent[0].by},{tomorrow.isoformat()}" in csv
    assert f"p1-youtube,cancel,{producer.sent[1].by}," in csv

    for path, body, who, code in (
        (f"{url}/cancel", None, token("editor", "p2"), 404),  # another ward's footage: not even confirmed
        (f"/posts/{footage.footage_id}/p1-facebook/cancel", None, editor, 404),  # not one of its channels
        (f"/posts/{new_id()}/p1-youtube/cancel", None, editor, 404),
        (f"{url}/reschedule", {"publish_at": "2020-01-01T08:00:00+07:00"}, editor, 422),  # in the past
        (f"{url}/cancel", None, token("viewer"), 403),
    ):
        refused = client.post(path, json=body, headers=who)
        assert refused.status_code == code, (path, refused.text)
        if code != 403:
            assert_bilingual(refused.json()["detail"])
    assert len(producer.sent) == 2  # nothing recorded or sent for a refusal
