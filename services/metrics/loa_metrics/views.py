"""The read views: the status of each footage and its posts, the lists the API serves and the storage totals.

Statuses are derived, never stored (`status.footage_status`), so they always agree with the stored events.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from loa_core.channels import Channel
from loa_core.contracts import (
    FOOTAGE_STATUSES,
    IN_PROGRESS,
    ApprovalView,
    FailureView,
    FootageStatus,
    FootageView,
    PostDecision,
    PostView,
    PublishedStage,
    RenditionView,
    Stages,
    TranscodedStage,
    UploadedStage,
    approval_of,
)
from loa_metrics.status import Failure, Publication, expected_posts_for, footage_status, stands
from loa_metrics.store import Database, day_range


class FootageViews:
    def __init__(self, db: Database, channels: Mapping[str, Channel]) -> None:
        self._db = db
        self._channels = channels
        self._summary: tuple[int, dict[FootageStatus, int], str | None] | None = None

    def footage(self, footage_id: str) -> FootageView | None:
        """One footage's view, whatever its ward (the API checks the caller sees the view's `ward`)."""
        rows = self._db.rows("SELECT * FROM footage WHERE footage_id = :fid", {"fid": footage_id})
        return self._view(rows[0]) if rows else None

    def channel_wards(self) -> dict[str, str]:
        """Each known channel's ward."""
        return {name: channel.ward for name, channel in self._channels.items()}

    def status(self, footage_id: str) -> FootageStatus | None:
        view = self.footage(footage_id)
        return None if view is None else view.status

    def _plan(self, row: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]], set[tuple[str, str]]]:
        """A footage row's channels, renditions and the (channel, cut) posts they call for."""
        channel_names = json.loads(row["channels"]) if row["channels"] else []
        renditions = json.loads(row["renditions"]) if row["renditions"] else []
        return channel_names, renditions, expected_posts_for(channel_names, renditions, self._channels)

    def _view(self, data: dict[str, Any]) -> FootageView:
        footage_id = data["footage_id"]
        posts = self._db.rows(
            "SELECT channel, profile, platform, post_id, url, published_at, views, likes, comments, shares, stats_at, "
            "COALESCE(state, 'published') AS state, "
            "COALESCE(announced_at, published_at) AS announced_at FROM posts WHERE footage_id = :fid "
            "ORDER BY channel, profile",
            {"fid": footage_id},
        )
        errors = self._db.rows(
            "SELECT stage, channel, reason, at FROM failures WHERE footage_id = :fid ORDER BY at", {"fid": footage_id}
        )
        publications = [Publication(p["channel"], p["profile"], p.pop("announced_at")) for p in posts]
        failures = [Failure(e["stage"], e["channel"], e["at"]) for e in errors]
        channel_names, renditions, expected = self._plan(data)
        published = {(p.channel, p.profile) for p in publications}
        approvals = self._approvals(data, renditions, expected - published)
        return FootageView(
            footage_id=footage_id,
            ward=data["ward"],
            title=data["title"],
            series=data["series"],
            source=data["source"],
            channels=tuple(channel_names),
            status=footage_status(data, publications, failures, expected),
            stages=Stages(
                uploaded=UploadedStage(at=data["uploaded_at"]),
                transcoded=TranscodedStage(
                    at=data["transcoded_at"], renditions=tuple(RenditionView(**r) for r in renditions)
                ),
                published=PublishedStage(
                    posts=tuple(PostView(**p) for p in posts), expected=len(expected), approvals=approvals
                ),
            ),
            errors=tuple(
                FailureView(**e, resolved=not stands(failure, data, publications, expected))
                for e, failure in zip(errors, failures, strict=True)
            ),
            text_sha256=data["text_sha256"],
        )

    def _approvals(
        self, data: dict[str, Any], renditions: list[dict[str, Any]], not_out: set[tuple[str, str]]
    ) -> tuple[ApprovalView, ...]:
        """Where each expected post not out yet, on a channel that requires approval, stands with the approvers
        (the publisher's rule, contracts.decisions.approval_of, over what the projection stored)."""
        waiting = sorted(post for post in not_out if self._channels[post[0]].approval_required)
        if not waiting:
            return ()
        rows = self._db.rows("SELECT record FROM decisions WHERE footage_id = :fid", {"fid": data["footage_id"]})
        newest = {d.channel: d for d in (PostDecision.read_json(r["record"]) for r in rows)}
        cuts = {r["profile"]: r.get("sha256") for r in renditions}
        views = []
        for channel, profile in waiting:
            decision = newest.get(channel)
            approval = approval_of(
                True, decision, profile=profile, cut_sha256=cuts.get(profile), own_text_sha256=data["text_sha256"]
            )
            state: Literal["awaiting", "approved", "rejected"] = "awaiting"
            if approval.approved or approval.rejection is not None:
                state = "approved" if approval.approved else "rejected"
            views.append(
                ApprovalView(
                    channel=channel,
                    profile=profile,
                    state=state,
                    reason=approval.rejection,
                    by=decision.by if decision else None,
                    decided_at=decision.occurred_at if decision else None,
                )
            )
        return tuple(views)

    def list_footage(
        self,
        *,
        ward: str | None,
        status: FootageStatus | None = None,
        series: str | None = None,
        channel: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[FootageView]:
        """Newest first, of one ward (None: every ward). Dates are inclusive and compare the upload day (UTC)."""
        where: list[str] = ["1=1"]
        params: dict[str, Any] = {}
        for column, value in (("ward", ward), ("series", series)):
            if value is not None:
                where.append(f"{column} = :{column}")
                params[column] = value
        day_range("uploaded_at", date_from, date_to, where, params)
        rows = self._db.rows(
            f"SELECT * FROM footage WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY uploaded_at DESC NULLS LAST, footage_id",
            params,
        )
        if channel is not None:  # the channels are a JSON list: matched here, the same on both databases
            rows = [r for r in rows if channel in json.loads(r["channels"] or "[]")]
        # The status is derived, not stored: computed for all matching rows in bulk (three queries), then only
        # the requested page is expanded into full views.
        statuses = self._statuses(rows)
        matching = [r for r in rows if status is None or statuses[r["footage_id"]] == status]
        return [self._view(r) for r in matching[offset : offset + limit]]

    def _statuses(self, rows: list[dict[str, Any]]) -> dict[str, FootageStatus]:
        publications: dict[str, list[Publication]] = {}
        for p in self._db.rows(
            "SELECT footage_id, channel, profile, COALESCE(announced_at, published_at) AS at FROM posts"
        ):
            publications.setdefault(p["footage_id"], []).append(Publication(p["channel"], p["profile"], p["at"]))
        failures: dict[str, list[Failure]] = {}
        for f in self._db.rows("SELECT footage_id, stage, channel, at FROM failures WHERE footage_id IS NOT NULL"):
            failures.setdefault(f["footage_id"], []).append(Failure(f["stage"], f["channel"], f["at"]))
        out = {}
        for row in rows:
            fid = row["footage_id"]
            _, _, expected = self._plan(row)
            out[fid] = footage_status(row, publications.get(fid, []), failures.get(fid, []), expected)
        return out

    def channels_changed(self) -> None:
        """A channel was added, changed or removed: the posts each footage calls for may differ, so the cached
        status summary is computed again at the next scrape."""
        self._summary = None

    def status_summary(self) -> tuple[dict[FootageStatus, int], str | None]:
        """How many footage are in each status, and the upload time of the oldest one still waiting.

        Every scrape asks; between two writes the answer is the same, so on an embedded projection it is computed
        once per change. On a shared one (PostgreSQL) the other replicas write too: computed on every scrape.
        """
        version = self._db.version
        summary = self._summary
        if version is not None and summary is not None and summary[0] == version:
            return dict(summary[1]), summary[2]
        rows = self._db.rows("SELECT * FROM footage")
        counts = dict.fromkeys(FOOTAGE_STATUSES, 0)
        oldest: str | None = None
        statuses = self._statuses(rows)
        for row in rows:
            status = statuses[row["footage_id"]]
            counts[status] += 1
            at = row["uploaded_at"]
            if status in IN_PROGRESS and at and (oldest is None or at < oldest):
                oldest = at
        if version is not None:
            self._summary = (version, counts, oldest)
        return dict(counts), oldest

    def list_posts(
        self,
        *,
        ward: str | None,
        series: str | None = None,
        channel: str | None = None,
        platform: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        """Newest first, of one ward (None: every ward), with the latest engagement figures. Dates compare the
        publication day (UTC)."""
        where: list[str] = ["1=1"]
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        for column, name, value in (
            ("p.ward", "ward", ward),
            ("f.series", "series", series),
            ("p.channel", "channel", channel),
            ("p.platform", "platform", platform),
        ):
            if value is not None:
                where.append(f"{column} = :{name}")
                params[name] = value
        day_range("p.published_at", date_from, date_to, where, params)
        return self._db.rows(
            "SELECT p.footage_id, p.ward, f.title, f.series, p.channel, p.platform, p.profile, p.post_id, p.url, "  # noqa: S608
            "p.published_at, p.views, p.likes, p.comments, p.shares, p.stats_at "
            "FROM posts p JOIN footage f USING (footage_id) "
            f"WHERE {' AND '.join(where)} ORDER BY p.published_at DESC, p.footage_id, p.channel, p.profile "
            "LIMIT :limit OFFSET :offset",
            params,
        )

    def stage_times(self, footage_id: str) -> dict[str, str | None]:
        """When each stage of one footage completed (the last post's time for `published`)."""
        rows = self._db.rows(
            "SELECT uploaded_at, transcoded_at, "
            "(SELECT MAX(published_at) FROM posts WHERE footage_id = :fid) AS published_at "
            "FROM footage WHERE footage_id = :fid",
            {"fid": footage_id},
        )
        return rows[0] if rows else {"uploaded_at": None, "transcoded_at": None, "published_at": None}

    def stored_bytes(self) -> dict[str, int]:
        """Bytes the pipeline put in storage, by kind: raw uploads and transcoded renditions."""
        raw = self._db.rows("SELECT COALESCE(SUM(source_bytes), 0) AS n FROM footage")[0]["n"]
        renditions = sum(
            r.get("size_bytes") or 0
            for row in self._db.rows("SELECT renditions FROM footage WHERE renditions IS NOT NULL")
            for r in json.loads(row["renditions"])
        )
        return {"raw": int(raw), "rendition": int(renditions)}
