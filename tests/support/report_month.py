"""A month of two wards' work in a metrics projection, for the report upward's tests: November 2026, ward phuong-1
(YouTube and a Facebook Page) and ward phuong-2 (TikTok), with posts, polled figures, followers and feedback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from loa_core.channels import Channel
from loa_metrics.engagement_store import PostStats
from loa_metrics.projection import Projection, open_projection
from tests.support.metrics_events import new_id, published, uploaded

NAMES = {"phuong-1": "Phường 1", "phuong-2": "Phường Bến Thành"}
CHANNELS = {
    "p1-yt": Channel(name="p1-yt", platform="youtube", profiles=("youtube",), ward="phuong-1"),
    "p1-fb": Channel(name="p1-fb", platform="facebook", profiles=("youtube",), ward="phuong-1"),
    "p2-tt": Channel(name="p2-tt", platform="tiktok", profiles=("tiktok",), ward="phuong-2"),
}
NOV = datetime(2026, 11, 1, tzinfo=UTC)

# (ward, channel, platform, profile, post id, title, published, views at the end of November)
POSTS = (
    ("phuong-1", "p1-yt", "youtube", "youtube", "yt-oct", "Trung thu cho em", NOV - timedelta(days=20), 900),
    ("phuong-1", "p1-yt", "youtube", "youtube", "yt-1", "Lễ ra mắt mô hình dân vận khéo", NOV + timedelta(days=3), 500),
    ("phuong-1", "p1-yt", "youtube", "youtube", "yt-2", "Họp dân khu phố 3", NOV + timedelta(days=12), 120),
    ("phuong-1", "p1-fb", "facebook", "youtube", "9001", "Ngày hội đại đoàn kết", NOV + timedelta(days=18), 2000),
    ("phuong-2", "p2-tt", "tiktok", "tiktok", "7001", "Ra quân dọn rác kênh Nhiêu Lộc", NOV + timedelta(days=5), 3000),
    ("phuong-2", "p2-tt", "tiktok", "tiktok", "7002", "Hội thi văn nghệ", NOV + timedelta(days=29), 40),
    ("phuong-2", "p2-tt", "tiktok", "tiktok", "7003", "Tuyên truyền PCCC", NOV + timedelta(days=31), 999),  # December
)
# (channel, ward, platform, day offset from Nov 1, followers)
FOLLOWERS = (
    ("p1-yt", "phuong-1", "youtube", -2, 1000),
    ("p1-yt", "phuong-1", "youtube", 14, 1100),
    ("p1-yt", "phuong-1", "youtube", 29, 1250),
    ("p1-fb", "phuong-1", "facebook", 2, 400),
    ("p1-fb", "phuong-1", "facebook", 28, 460),
    ("p2-tt", "phuong-2", "tiktok", -1, 5000),
    ("p2-tt", "phuong-2", "tiktok", 29, 5600),
    ("p2-tt", "phuong-2", "tiktok", 31, 5700),  # December
)
# (ward, channel, platform, day offset, by the channel itself, answered)
FEEDBACK = (
    ("phuong-1", "p1-yt", "youtube", 4, False, True),
    ("phuong-1", "p1-yt", "youtube", 5, False, False),
    ("phuong-1", "p1-yt", "youtube", 5, True, False),  # the channel's own reply: not feedback received
    ("phuong-1", "p1-fb", "facebook", 19, False, True),
    ("phuong-2", "p2-tt", "tiktok", 6, False, False),
    ("phuong-2", "p2-tt", "tiktok", -3, False, True),  # October
)


def month_projection(path: Path) -> Projection:
    p = open_projection(path, CHANNELS)
    for ward, channel, platform, profile, post_id, title, at, _ in POSTS:
        fid = new_id()
        p.events.footage_uploaded(
            uploaded(fid, at=at, title=title, channels=(channel,)).model_copy(update={"ward": ward})
        )
        event = published(fid, profile, channel=channel, platform=platform, post_id=post_id, at=at)
        p.events.post_published(event.model_copy(update={"ward": ward}))
    # Figures as polled: the October post had 700 views on Nov 1 and 900 at the month's end (gained 200).
    p.engagement.record_post_stats("youtube", {"yt-oct": PostStats(700, 10, 1, None)}, NOV + timedelta(hours=1))
    for _, _, platform, _, post_id, _, _, views in POSTS:
        p.engagement.record_post_stats(
            platform, {post_id: PostStats(views, views // 10, views // 100, 3)}, NOV + timedelta(days=29, hours=20)
        )
    for channel, ward, platform, day, n in FOLLOWERS:
        p.engagement.record_followers(channel, ward, platform, n, NOV + timedelta(days=day, hours=6))
    _feedback(p)
    return p


def _feedback(p: Projection) -> None:
    """Comments as the collector stores them (feedback_items) and answers as the inbox does (inbox_state); the
    tables are made here when the revisions that own them are not on this branch, with the columns they have."""
    statements = [
        "CREATE TABLE IF NOT EXISTS feedback_items (item_id TEXT PRIMARY KEY, ward TEXT NOT NULL, channel TEXT NOT "
        "NULL, platform TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT NOT NULL, author_name TEXT NOT NULL "
        "DEFAULT '', text TEXT NOT NULL, written_at TEXT NOT NULL, by_channel INTEGER NOT NULL DEFAULT 0, "
        "received_at TEXT NOT NULL)",
        "CREATE TABLE IF NOT EXISTS inbox_state (item_id TEXT PRIMARY KEY, ward TEXT NOT NULL, handled INTEGER NOT "
        "NULL DEFAULT 0, hidden INTEGER NOT NULL DEFAULT 0, first_reply_at TEXT)",
    ]
    for i, (ward, channel, platform, day, own, answered) in enumerate(FEEDBACK):
        at = (NOV + timedelta(days=day, hours=3)).isoformat()
        statements.append(
            "INSERT INTO feedback_items (item_id, ward, channel, platform, kind, external_id, text, written_at, "
            f"by_channel, received_at) VALUES ('f{i}', '{ward}', '{channel}', '{platform}', 'comment', 'x{i}', "
            f"'Đèn đường hỏng', '{at}', {int(own)}, '{at}')"
        )
        if answered:
            statements.append(
                f"INSERT INTO inbox_state (item_id, ward, first_reply_at) VALUES ('f{i}', '{ward}', '{at}')"
            )

    # The public's checks of videos (GET /verify), as the verification counter keeps them per day.
    for day, ward, n in (("2026-11-10", "phuong-1", 3), ("2026-11-11", "phuong-2", 2), ("2026-11-12", "none", 1)):
        statements.append(
            "INSERT INTO verifications (day, ward, answer, via, count) "
            f"VALUES ('{day}', '{ward}', 'match', 'page', {n})"
        )

    def run(connection: object) -> None:
        for statement in statements:
            connection.execute(text(statement))  # type: ignore[attr-defined]

    p.database.write(run)
