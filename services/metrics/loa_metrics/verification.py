"""Is this video the ward's? The published cuts' sha256 and fingerprints (kept by the projector from renditions.ready)
looked up for the public verification page and `loa verify`, and the count of those checks for the report upward.

The fingerprints are searched in memory (loa_core.fingerprint.FingerprintIndex), loaded from the database and kept
up to date before each search: only rows whose announcement changed are read again. loa_core.fingerprint (numpy) is
imported by the first check, not when the service starts: most metrics processes never see one.
"""

from __future__ import annotations

import functools
import threading
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, text

from loa_core.contracts.verification import (
    CutMatch,
    PostLink,
    PublicPost,
    PublicPosts,
    Verification,
    VerifyRequest,
    answer_of,
)
from loa_core.db import insert_ignore
from loa_metrics import metrics
from loa_metrics.store import Database, day_range, verifications

if TYPE_CHECKING:
    from loa_core.fingerprint import Fingerprint, FingerprintIndex

NO_WARD = "none"  # the ward counted for a check that matched no post
_LOAD_CHUNK = 500
# The cuts a sha256 names: a cut's own, or a post's uploaded file's (with the cut's fingerprint, for its length).
_BY_SHA256 = (
    "SELECT k.footage_id, k.profile, c.fingerprint FROM ("
    "SELECT footage_id, profile FROM cut_fingerprints WHERE sha256 = :s "
    "UNION SELECT footage_id, profile FROM posts WHERE sha256 = :s) k "
    "LEFT JOIN cut_fingerprints c ON c.footage_id = k.footage_id AND c.profile = k.profile ORDER BY k.profile"
)
# The newest posts standing published, with their seal; {ward}: nothing, or the one ward's condition.
_PUBLIC_POSTS = (
    "SELECT p.footage_id, p.channel, p.platform, p.profile, p.url, p.published_at, p.title AS edited, f.title, "
    "f.ward, c.fingerprint IS NOT NULL AS sealed FROM posts p JOIN footage f ON f.footage_id = p.footage_id "
    "LEFT JOIN cut_fingerprints c ON c.footage_id = p.footage_id AND c.profile = p.profile "
    "WHERE p.published_at IS NOT NULL AND (p.state IS NULL OR p.state <> 'unpublished') {ward} "
    "ORDER BY p.published_at DESC, p.channel LIMIT :limit"
)
_BUMP = text(
    "UPDATE verifications SET count = count + 1 WHERE day = :day AND ward = :ward AND answer = :answer AND via = :via"
)


def _key(footage_id: str, profile: str) -> str:
    return f"{footage_id}/{profile}"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _parse(text: str) -> Fingerprint:
    from loa_core.fingerprint import Fingerprint

    return Fingerprint.from_text(text)


class Verifications:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._loaded: dict[str, str] = {}  # key -> the event_id its fingerprint came from
        self._seen_version: int | None = None
        self._own_writes = 0  # the counts this room wrote (they change no fingerprint)
        self._lock = threading.Lock()

    # --- the index -------------------------------------------------------------------------------------------------

    @functools.cached_property
    def _index(self) -> FingerprintIndex:
        from loa_core.fingerprint import FingerprintIndex

        return FingerprintIndex()

    def refresh(self) -> int:
        """Bring the in-memory index up to the database; how many cuts were (re)loaded."""
        version = self._db.version
        # Writes by anything but this room's own counting (a SQLite file is this process's alone; with PostgreSQL,
        # version is None: other replicas write too, so the rows are always compared).
        others = None if version is None else version - self._own_writes
        if others is not None and others == self._seen_version:
            return 0
        rows = self._db.rows("SELECT footage_id, profile, event_id FROM cut_fingerprints WHERE fingerprint IS NOT NULL")
        stale = {
            _key(r["footage_id"], r["profile"]): r["event_id"]
            for r in rows
            if self._loaded.get(_key(r["footage_id"], r["profile"])) != r["event_id"]
        }
        footage_ids = sorted({key.split("/", 1)[0] for key in stale})
        loaded: list[tuple[str, Fingerprint]] = []
        for start in range(0, len(footage_ids), _LOAD_CHUNK):
            chunk = footage_ids[start : start + _LOAD_CHUNK]
            for r in self._db.rows(
                "SELECT footage_id, profile, event_id, fingerprint FROM cut_fingerprints WHERE footage_id IN :ids "
                "AND fingerprint IS NOT NULL",
                {"ids": chunk},
                lists=("ids",),
            ):
                key = _key(r["footage_id"], r["profile"])
                if key in stale:
                    try:
                        loaded.append((key, _parse(r["fingerprint"])))
                    except ValueError:
                        continue  # contracts validated it on the way in; a damaged row cannot match anything
                    self._loaded[key] = r["event_id"]
        if len(loaded) > 64:
            self._index.extend(loaded)
        else:
            for key, fingerprint in loaded:
                self._index.add(key, fingerprint)
        self._seen_version = others
        return len(loaded)

    # --- a check ---------------------------------------------------------------------------------------------------

    def check(self, request: VerifyRequest) -> Verification:
        """The answer to one check (blocking: run it in a thread), counted. ValueError: a damaged fingerprint."""
        query = _parse(request.fingerprint) if request.fingerprint else None
        found = self._by_sha256(request.sha256) if request.sha256 else None
        if found is None and query is not None:
            found = self._by_fingerprint(query)
        answer = answer_of(request.manifest, found is not None)
        self._count(found.ward if found else NO_WARD, answer, request.via)
        return Verification(answer=answer, match=found)

    def _by_sha256(self, sha256: str) -> CutMatch | None:
        """The cut whose bytes these are: transcode's cut itself, or a post's uploaded (signed) copy of it."""
        for row in self._db.rows(_BY_SHA256, {"s": sha256}):
            length = _parse(row["fingerprint"]).duration_s if row["fingerprint"] else 0.0
            found = self._cut(row["footage_id"], row["profile"], exact=True, span=(0.0, length), score=1.0)
            if found is not None:
                return found
        return None

    def _by_fingerprint(self, query: Fingerprint) -> CutMatch | None:
        with self._lock:
            self.refresh()
            matches = self._index.search(query, limit=5)
        for m in matches:
            footage_id, profile = m.key.split("/", 1)
            a = m.alignment
            found = self._cut(footage_id, profile, exact=False, span=a.span_s, score=a.score)
            if found is not None:
                return found
        return None

    def _cut(
        self, footage_id: str, profile: str, *, exact: bool, span: tuple[float, float], score: float
    ) -> CutMatch | None:
        """The match as people are told it, if the cut was published (a cut never posted proves nothing)."""
        posts = self._db.rows(
            "SELECT channel, platform, profile, url, published_at, state FROM posts WHERE footage_id = :f "
            "AND published_at IS NOT NULL ORDER BY published_at, channel",
            {"f": footage_id},
        )
        own = [p for p in posts if p["profile"] == profile]
        if not own:
            return None
        footage = self._db.rows("SELECT title, ward FROM footage WHERE footage_id = :f", {"f": footage_id})[0]
        return CutMatch(
            ward=footage["ward"],
            footage_id=footage_id,
            profile=profile,
            title=footage["title"] or "",
            published_at=_when(own[0]["published_at"]),
            exact=exact,
            span_start_s=round(span[0], 2),
            span_end_s=round(span[1], 2),
            score=round(min(1.0, score), 3),
            links=tuple(
                PostLink(
                    channel=p["channel"],
                    platform=p["platform"],
                    profile=p["profile"],
                    url=p["url"],
                    published_at=_when(p["published_at"]),
                    state=p["state"] or "published",
                )
                for p in posts
            ),
        )

    # --- the public post list ------------------------------------------------------------------------------------

    def public_posts(self, ward: str | None, limit: int) -> PublicPosts:
        """The newest posts that stand published (not taken down), of `ward` or every ward, each with its seal."""
        if ward is None:
            rows = self._db.rows(_PUBLIC_POSTS.format(ward=""), {"limit": limit})
        else:
            rows = self._db.rows(_PUBLIC_POSTS.format(ward="AND f.ward = :ward"), {"ward": ward, "limit": limit})
        return PublicPosts(
            items=tuple(
                PublicPost(
                    ward=r["ward"],
                    footage_id=r["footage_id"],
                    title=r["edited"] or r["title"] or "",
                    channel=r["channel"],
                    platform=r["platform"],
                    profile=r["profile"],
                    url=r["url"],
                    published_at=datetime.fromisoformat(r["published_at"]),
                    sealed=bool(r["sealed"]),
                )
                for r in rows
            )
        )

    # --- the count -------------------------------------------------------------------------------------------------

    def _count(self, ward: str, answer: str, via: str) -> None:
        metrics.VERIFICATIONS.labels(ward=ward, answer=answer).inc()
        key = {"day": datetime.now(UTC).date().isoformat(), "ward": ward, "answer": answer, "via": via}

        def apply(connection: Connection) -> None:
            if connection.execute(_BUMP, key).rowcount == 0 and not insert_ignore(
                connection, verifications, {**key, "count": 1}
            ):
                connection.execute(_BUMP, key)  # another replica inserted it meanwhile

        self._db.write(apply)
        self._own_writes += 1

    def counts(self, ward: str | None, date_from: date | None = None, date_to: date | None = None) -> dict[str, Any]:
        """Checks per day, ward, answer and origin (`ward`: one ward's, None: every ward's and the unmatched),
        and their total: what the report upward reads (GET /verifications)."""
        where: list[str] = []
        params: dict[str, Any] = {}
        if ward is not None:
            where.append("ward = :ward")
            params["ward"] = ward
        day_range("day", date_from, date_to, where, params)
        sql = "SELECT day, ward, answer, via, count FROM verifications"
        rows = self._db.rows(
            sql + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY day, ward, answer, via", params
        )
        return {"rows": rows, "total": sum(r["count"] for r in rows)}
