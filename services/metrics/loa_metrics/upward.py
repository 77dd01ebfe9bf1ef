"""The report a ward sends upward (and the district's roll-up of its wards) for a month, an ISO week or a quarter.

`gather` reads the store; `build` (pure) turns what was read into an `UpwardReport`, which the renderers
(report_xlsx.py, report_pdf.py) lay out. Per channel: posts published in the period with their figures as last
polled (views, likes, comments, shares), the views every post of the channel gained within the period, followers at
the period's start and end; the top posts published in the period; the citizens' feedback received and answered.
A district report lists every ward's totals, and its totals are the sum of the wards' (one code path for both).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from loa_core.channels import Channel
from loa_metrics.engagement_store import EngagementRow, EngagementStore
from loa_metrics.reports import Period, period_kind
from loa_metrics.verification import Verifications

TOP_POSTS = 10
DISTRICT = "district"  # the scope of a district's roll-up (a ward id never is: ids are lower-case slugs)

KIND_VI = {"month": "tháng", "week": "tuần", "quarter": "quý"}
KIND_EN = {"month": "Monthly", "week": "Weekly", "quarter": "Quarterly"}


def title(period: Period) -> str:
    """'Báo cáo tháng 11/2026', 'Báo cáo tuần 47/2026', 'Báo cáo quý 4/2026'."""
    year, _, rest = period.label.partition("-")
    number = int(rest.lstrip("WQ"))
    return f"Báo cáo {KIND_VI[period_kind(period)]} {number}/{year}"


def title_en(period: Period) -> str:
    return f"{KIND_EN[period_kind(period)]} report {period.label}"


@dataclass(frozen=True)
class ChannelLine:
    ward: str
    channel: str
    platform: str
    posts: int = 0
    views: int = 0  # of the posts published in the period, as last polled
    likes: int = 0
    comments: int = 0
    shares: int = 0
    views_in_period: int = 0  # gained within the period by every post of the channel
    followers_start: int | None = None  # None: never polled
    followers_end: int | None = None

    @property
    def followers_gained(self) -> int | None:
        if self.followers_start is None or self.followers_end is None:
            return None
        return self.followers_end - self.followers_start


@dataclass(frozen=True)
class FeedbackLine:
    ward: str
    channel: str
    platform: str
    received: int
    answered: int | None  # None: the inbox's answers are not recorded yet


@dataclass(frozen=True)
class Totals:
    posts: int = 0
    views: int = 0
    views_in_period: int = 0
    interactions: int = 0  # likes + comments + shares
    followers: int = 0  # at the period's end, over the channels ever polled
    followers_gained: int = 0
    feedback_received: int | None = None  # None: no feedback collected
    feedback_answered: int | None = None

    def __add__(self, other: Totals) -> Totals:
        def both(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Totals(
            self.posts + other.posts,
            self.views + other.views,
            self.views_in_period + other.views_in_period,
            self.interactions + other.interactions,
            self.followers + other.followers,
            self.followers_gained + other.followers_gained,
            both(self.feedback_received, other.feedback_received),
            both(self.feedback_answered, other.feedback_answered),
        )


@dataclass(frozen=True)
class UpwardReport:
    period: Period
    scope: str  # a ward id, or DISTRICT
    names: Mapping[str, str]  # ward id -> the name people read ("Phường 1"); an id without one shows as itself
    channels: tuple[ChannelLine, ...]
    top_posts: tuple[dict[str, Any], ...]
    followers: Mapping[str, tuple[tuple[str, int], ...]]  # channel -> ((day, followers), ...) within the period
    feedback: tuple[FeedbackLine, ...] | None  # None: no feedback collected at all
    wards: tuple[tuple[str, Totals], ...]  # every ward's totals (one for a ward's report)
    totals: Totals
    verification_requests: int | None = None  # None: not counted by this installation
    notes: tuple[str, ...] = field(default=())

    @property
    def title(self) -> str:
        return title(self.period)

    @property
    def title_en(self) -> str:
        return title_en(self.period)

    def name(self, ward: str) -> str:
        return self.names.get(ward, ward)

    @property
    def scope_name(self) -> str:
        return "Toàn quận (District)" if self.scope == DISTRICT else self.name(self.scope)


def _channel_lines(
    channels: Iterable[Channel],
    engaged: Iterable[EngagementRow],
    gained: Mapping[tuple[str, str, str, str], int],
    followers: Mapping[str, tuple[tuple[str, int], ...]],
    wards: set[str] | None,
) -> list[ChannelLine]:
    lines: dict[str, dict[str, Any]] = {}

    def line(ward: str, channel: str, platform: str) -> dict[str, Any]:
        return lines.setdefault(channel, {"ward": ward, "channel": channel, "platform": platform})

    for c in channels:
        if wards is None or c.ward in wards:
            line(c.ward, c.name, c.platform)
    for r in engaged:
        entry = line(r.ward, r.channel, r.platform)
        for key in ("posts", "views", "likes", "comments", "shares"):
            entry[key] = entry.get(key, 0) + getattr(r, key)
    for (ward, channel, platform, _series), n in gained.items():
        entry = line(ward, channel, platform)
        entry["views_in_period"] = entry.get("views_in_period", 0) + n
    for channel, points in followers.items():
        if channel in lines and points:
            lines[channel]["followers_start"], lines[channel]["followers_end"] = points[0][1], points[-1][1]
    return sorted((ChannelLine(**v) for v in lines.values()), key=lambda c: (c.ward, c.platform, c.channel))


def _totals(lines: Iterable[ChannelLine], feedback: Iterable[FeedbackLine] | None) -> Totals:
    lines = list(lines)
    received = answered = None
    if feedback is not None:
        items = list(feedback)
        received = sum(f.received for f in items)
        answers = [f.answered for f in items if f.answered is not None]
        answered = sum(answers) if answers or not items else None
    return Totals(
        posts=sum(c.posts for c in lines),
        views=sum(c.views for c in lines),
        views_in_period=sum(c.views_in_period for c in lines),
        interactions=sum(c.likes + c.comments + c.shares for c in lines),
        followers=sum(c.followers_end or 0 for c in lines),
        followers_gained=sum(c.followers_gained or 0 for c in lines),
        feedback_received=received,
        feedback_answered=answered,
    )


def build(
    period: Period,
    scope: str,
    *,
    channels: Iterable[Channel],
    engaged: Iterable[EngagementRow],
    gained: Mapping[tuple[str, str, str, str], int],
    followers_series: Iterable[Mapping[str, Any]],
    top_posts: Iterable[Mapping[str, Any]],
    feedback: Iterable[Mapping[str, Any]] | None,
    names: Mapping[str, str] | None = None,
    verification_requests: int | None = None,
) -> UpwardReport:
    """The report from what the store answered (pure). `scope`: the ward, or DISTRICT for every ward."""
    series: dict[str, list[tuple[str, int]]] = {}
    for point in followers_series:
        series.setdefault(point["channel"], []).append((point["day"], int(point["followers"])))
    followers = {channel: tuple(points) for channel, points in series.items()}
    only = None if scope == DISTRICT else {scope}
    lines = _channel_lines(channels, engaged, gained, followers, only)
    fb = (
        None
        if feedback is None
        else tuple(
            FeedbackLine(f["ward"], f["channel"], f["platform"], int(f["received"]), _maybe_int(f["answered"]))
            for f in feedback
        )
    )
    ward_ids = sorted({c.ward for c in lines} | {f.ward for f in fb or ()} | (only or set()))
    wards = tuple(
        (
            w,
            _totals(
                (c for c in lines if c.ward == w),
                None if fb is None else [f for f in fb if f.ward == w],
            ),
        )
        for w in ward_ids
    )
    totals = sum((t for _, t in wards), Totals(feedback_received=None))
    notes = []
    if fb is None:
        notes.append(
            "Chưa thu thập bình luận, tin nhắn của người dân. / Citizens' comments and messages are not collected yet."
        )
    elif any(f.answered is None for f in fb):
        notes.append("Chưa ghi nhận số phản hồi đã trả lời. / Answers to feedback are not recorded yet.")
    return UpwardReport(
        period=period,
        scope=scope,
        names=dict(names or {}),
        channels=tuple(lines),
        top_posts=tuple(dict(t) for t in top_posts),
        followers={c: p for c, p in followers.items() if any(line.channel == c for line in lines)},
        feedback=fb,
        wards=wards,
        totals=totals,
        verification_requests=verification_requests,
        notes=tuple(notes),
    )


def _maybe_int(value: Any) -> int | None:
    return None if value is None else int(value)


def gather(
    store: EngagementStore,
    period: Period,
    scope: str,
    channels: Mapping[str, Channel],
    names: Mapping[str, str] | None = None,
    verifications: Verifications | None = None,
) -> UpwardReport:
    """Read what the report needs of one ward (or of every ward: DISTRICT) and build it. `verifications`: where the
    public's checks of videos are counted (None: not counted here)."""
    ward = None if scope == DISTRICT else scope
    start, end = period.bounds()
    checks = None
    if verifications is not None:
        checks = int(verifications.counts(ward, period.start, period.end - timedelta(days=1))["total"])
    return build(
        period,
        scope,
        channels=channels.values(),
        engaged=store.engagement(ward=ward, published_from=start, published_before=end),
        gained=store.views_gained(period.start, period.end, ward=ward),
        followers_series=store.followers_series(period.start, period.end, ward=ward),
        top_posts=store.top_posts_published(start, end, ward=ward, n=TOP_POSTS),
        feedback=store.feedback_counts(start, end, ward=ward),
        names=names,
        verification_requests=checks,
    )


def as_json(report: UpwardReport) -> dict[str, Any]:
    """The report as JSON-able data (the API's format=json)."""
    totals = asdict(report.totals)
    return {
        "title": report.title,
        "title_en": report.title_en,
        "period": report.period.label,
        "from": report.period.start.isoformat(),
        "to": report.period.end.isoformat(),  # exclusive
        "scope": report.scope,
        "scope_name": report.scope_name,
        "totals": totals,
        "wards": [{"ward": w, "name": report.name(w), **asdict(t)} for w, t in report.wards],
        "channels": [{**asdict(c), "followers_gained": c.followers_gained} for c in report.channels],
        "top_posts": list(report.top_posts),
        "followers": {c: [list(p) for p in points] for c, points in report.followers.items()},
        "feedback": None if report.feedback is None else [asdict(f) for f in report.feedback],
        "verification_requests": report.verification_requests,
        "notes": list(report.notes),
    }
