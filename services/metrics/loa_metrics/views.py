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

# The most footage rows a status-filtered list reads at a time (their statuses are computed in Python): first as
# many as the page could need, then twice as many each time, up to this.
STATUS_CHUNK = 2000
_HAS_POSTS = "EXISTS (SELECT 1 FROM posts WHERE posts.footage_id = footage.footage_id)"
_COULD_BE = {
    FootageStatus.FAILED: "EXISTS (SELECT 1 FROM failures WHERE failures.footage_id = footage.footage_id)",
    FootageStatus.PUBLISHED: f"transcoded_at IS NOT NULL AND {_HAS_POSTS}",
    FootageStatus.PUBLISHING: _HAS_POSTS,
    FootageStatus.TRANSCODED: f"transcoded_at IS NOT NULL AND NOT {_HAS_POSTS}",
    FootageStatus.UPLOADED: f"transcoded_at IS NULL AND uploaded_at IS NOT NULL AND NOT {_HAS_POSTS}",
    FootageStatus.UNKNOWN: f"transcoded_at IS NULL AND uploaded_at IS NULL AND NOT {_HAS_POSTS}",
}


def could_be(status: FootageStatus) -> str:
    """A SQL condition on a footage row that every footage `status.footage_status` calls `status` meets (failed
    needs a failure; published and publishing a post; transcoded and uploaded none, ...): what a status-filtered
    list reads before computing the statuses. Necessary, not sufficient."""
    return _COULD_BE[status]


class FootageViews:
    def __init__(self, db: Database, channels: Mapping[str, Channel]) -> None:
        self._db = db
        self._channels = channels
        self._summary: tuple[int, dict[FootageStatus, int], str | None] | None = None

    def footage(self, footage_id: str) -> FootageView | None:
        """One footage's view, whatever its ward (the API checks the caller sees the view's `ward`)."""
        rows = self._db.rows("SELECT * FROM footage WHERE footage_id = :fid", {"fid": footage_id})
        return self._views(rows)[0] if rows else None

    @property
    def channels(self) -> Mapping[str, Channel]:
        """The channels known now (the registry the projection follows)."""
        return self._channels

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

    def _views(self, rows: list[dict[str, Any]]) -> list[FootageView]:
        """The views of these footage rows, in their order: their posts and failures read in one query each."""
        ids = [row["footage_id"] for row in rows]
        if not ids:
            return []
        posts: dict[str, list[dict[str, Any]]] = {}
        for post in self._db.rows(
            "SELECT footage_id, channel, profile, platform, post_id, url, published_at, views, likes, comments, "
            "shares, stats_at, COALESCE(state, 'published') AS state, "
            "COALESCE(announced_at, published_at) AS announced_at FROM posts WHERE footage_id IN :ids "
            "ORDER BY channel, profile",
            {"ids": ids},
            lists=("ids",),
        ):
            posts.setdefault(post.pop("footage_id"), []).append(post)
        errors: dict[str, list[dict[str, Any]]] = {}
        for error in self._db.rows(
            "SELECT footage_id, stage, channel, reason, at FROM failures WHERE footage_id IN :ids ORDER BY at",
            {"ids": ids},
            lists=("ids",),
        ):
            errors.setdefault(error.pop("footage_id"), []).append(error)
        return [self._view(row, posts.get(fid, []), errors.get(fid, [])) for row, fid in zip(rows, ids, strict=True)]

    def _view(self, data: dict[str, Any], posts: list[dict[str, Any]], errors: list[dict[str, Any]]) -> FootageView:
        footage_id = data["footage_id"]
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
        """Newest first, of one ward (None: every ward). Dates are inclusive and compare the upload day (UTC).

        Only the page asked for is read and expanded. The status is derived, not stored: with a status filter the
        rows that could have it (`could_be`) are read newest first a chunk at a time (STATUS_CHUNK), their statuses
        computed, until the page is full.
        """
        where: list[str] = ["1=1"]
        params: dict[str, Any] = {}
        for column, value in (("ward", ward), ("series", series)):
            if value is not None:
                where.append(f"{column} = :{column}")
                params[column] = value
        if channel is not None:  # the channels are a JSON list of names (which never hold a quote), both databases
            where.append("channels LIKE :channel ESCAPE '!'")
            params["channel"] = '%"' + channel.replace("!", "!!").replace("_", "!_").replace("%", "!%") + '"%'
        day_range("uploaded_at", date_from, date_to, where, params)
        if status is not None:
            where.append(could_be(status))
        query = (
            f"SELECT * FROM footage WHERE {' AND '.join(where)} "  # noqa: S608
            "ORDER BY uploaded_at DESC NULLS LAST, footage_id LIMIT :limit OFFSET :offset"
        )
        if status is None:
            return self._views(self._db.rows(query, {**params, "limit": limit, "offset": offset}))
        matching: list[dict[str, Any]] = []
        skip, read, size = offset, 0, min(offset + limit, STATUS_CHUNK)
        while len(matching) < limit:
            chunk = self._db.rows(query, {**params, "limit": size, "offset": read})
            statuses = self._statuses(chunk, [row["footage_id"] for row in chunk])
            for row in chunk:
                if statuses[row["footage_id"]] != status:
                    continue
                if skip:
                    skip -= 1
                elif len(matching) < limit:
                    matching.append(row)
            if len(chunk) < size:
                break
            read, size = read + size, min(2 * size, STATUS_CHUNK)
        return self._views(matching)

    def _statuses(self, rows: list[dict[str, Any]], ids: list[str] | None = None) -> dict[str, FootageStatus]:
        """The status of each row, reading the posts and failures of `ids` (None: of every footage)."""
        if ids == []:
            return {}
        only, params, lists = ("AND footage_id IN :ids", {"ids": ids}, ("ids",)) if ids is not None else ("", {}, ())
        posts = f"SELECT footage_id, channel, profile, COALESCE(announced_at, published_at) AS at FROM posts WHERE 1=1 {only}"  # noqa: E501, S608
        publications: dict[str, list[Publication]] = {}
        for p in self._db.rows(posts, params, lists=lists):
            publications.setdefault(p["footage_id"], []).append(Publication(p["channel"], p["profile"], p["at"]))
        failed = f"SELECT footage_id, stage, channel, at FROM failures WHERE footage_id IS NOT NULL {only}"  # noqa: S608
        failures: dict[str, list[Failure]] = {}
        for f in self._db.rows(failed, params, lists=lists):
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
