"""The platforms' webhooks for citizens' feedback: public routes (no sign-in, the platform calls them), each request
authenticated by its signature. A wrong or missing signature is refused (401, in Vietnamese and English) and
nothing of it is kept; a right one is answered only once its items are on feedback.received (a Kafka failure
answers 503, so the platform sends it again: nothing lost; item ids make the second delivery the same items).

Facebook Page webhook [docs: developers.facebook.com/docs/graph-api/webhooks/getting-started, and Meta's own sample
fbsamples/messenger-platform-samples]: `GET` with hub.mode=subscribe, hub.verify_token (ours, compared) and
hub.challenge (echoed) when the app's webhook is set up; then `POST` with `X-Hub-Signature-256: sha256=<hex
HMAC-SHA256 of the raw body with the app secret>`, body {"object": "page", "entry": [{"id": page id, "changes":
[{"field": "feed", "value": {"item": "comment", "verb": "add"|"edited", "comment_id", "post_id", "parent_id",
"message", "from": {"id", "name"}, "created_time": unix seconds}}]}]}. Comments on the Page's posts (a video post's
id is "<page>_<video>"); everything else in the feed (reactions, shares, posts) is not feedback and is skipped.

Zalo OA webhook [2nd-hand: the official page was not reachable from here; community SDKs and write-ups agree]:
`POST` with `X-ZEvent-Signature: mac=<hex SHA-256 of app_id + raw body + timestamp + the OA's secret key>` (a plain
hash, not an HMAC; `timestamp` is the body's own, in milliseconds), body {"app_id", "event_name":
"user_send_text"|"user_send_image"|…, "sender": {"id"}, "recipient": {"id": OA id}, "message": {"msg_id", "text",
"attachments"}, "timestamp"}. Every user_send_* event is a message to the ward; other events (follow, seen, …)
are acknowledged and skipped.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse

from loa_core.channels import Channel
from loa_core.contracts import FeedbackReceived
from loa_metrics import metrics
from loa_metrics.feedback_collect import Seen, received

log = logging.getLogger(__name__)

Send = Callable[[FeedbackReceived], Awaitable[None]]
Footage = Callable[[str, str], str | None]  # (channel, platform post id) -> footage id


def facebook_signature_ok(app_secret: str, body: bytes, header: str | None) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(header.removeprefix("sha256=").lower(), expected)


def zalo_signature_ok(app_id: str, oa_secret: str, body: bytes, timestamp: str, header: str | None) -> bool:
    if not header:
        return False
    given = header.strip().removeprefix("mac=").lower()
    expected = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode()).hexdigest()
    return hmac.compare_digest(given, expected)


def facebook_comments(payload: Mapping[str, Any]) -> list[tuple[str, Seen]]:
    """(page id, comment) for every comment added or edited in a Page webhook's body."""
    found = []
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            if change.get("field") != "feed" or value.get("item") != "comment":
                continue
            if value.get("verb") not in ("add", "edited") or not value.get("comment_id"):
                continue
            page_id = str(entry.get("id"))
            author = value.get("from") or {}
            post = str(value.get("post_id") or "")
            parent = value.get("parent_id")
            seen = Seen(
                external_id=str(value["comment_id"]),
                text=str(value.get("message") or ""),
                written_at=datetime.fromtimestamp(int(value.get("created_time") or entry.get("time") or 0), UTC),
                # A reply's parent is the top comment; a top comment's parent is the post itself.
                thread_id=str(parent) if parent and parent != post else None,
                post_id=post.split("_", 1)[-1] if post else None,
                author_name=str(author.get("name") or ""),
                author_id=str(author["id"]) if author.get("id") else None,
                by_channel=str(author.get("id")) == page_id,
            )
            found.append((page_id, seen))
    return found


def zalo_message(payload: Mapping[str, Any]) -> tuple[str, Seen] | None:
    """(OA id, message) of a user_send_* event; None for any other event."""
    event = str(payload.get("event_name") or "")
    message = payload.get("message") or {}
    if not event.startswith("user_send_") or not message.get("msg_id"):
        return None
    text = str(message.get("text") or "")
    for attachment in message.get("attachments") or []:
        url = (attachment.get("payload") or {}).get("url")
        kind = attachment.get("type") or event.removeprefix("user_send_")
        text = f"{text}\n[{kind}] {url or ''}".strip()
    sender = str((payload.get("sender") or {}).get("id") or "")
    seen = Seen(
        external_id=str(message["msg_id"]),
        kind="message",
        text=text or f"[{event.removeprefix('user_send_')}]",
        written_at=datetime.fromtimestamp(int(str(payload.get("timestamp") or "0")) / 1000, UTC),
        author_id=sender or None,
        # The OA's own messages arrive as oa_send_*: never here.
    )
    return str((payload.get("recipient") or {}).get("id") or ""), seen


def _refused(platform: str) -> HTTPException:
    metrics.FEEDBACK_WEBHOOKS.labels(platform, "refused").inc()
    return HTTPException(
        401, "The request's signature is wrong: nothing was kept. / Chữ ký của yêu cầu không đúng: không lưu gì."
    )


def webhook_router(
    channels: Mapping[str, Channel],
    send: Send,
    footage_of: Footage,
    *,
    facebook_app_secret: str | None,
    facebook_verify_token: str | None,
    zalo_app_id: str | None,
    zalo_oa_secrets: Mapping[str, str],
) -> APIRouter:
    """`zalo_oa_secrets`: each OA's secret key by OA id (the OA's id is its channel's `oa_id` option); a Facebook
    Page is found by its channel's `page_id` option."""
    router = APIRouter(prefix="/webhooks", include_in_schema=False)
    not_configured = HTTPException(404, "This webhook is not configured here. / Webhook này chưa được cấu hình ở đây.")

    def channel_by(platform: str, option: str, value: str) -> Channel | None:
        return next(
            (c for c in channels.values() if c.platform == platform and str(c.options.get(option, "")) == value),
            None,
        )

    async def deliver(platform: str, found: list[tuple[Channel, Seen]]) -> None:
        try:
            for channel, seen in found:
                await send(received(channel, seen, partial(footage_of, channel.name)))
        except Exception as exc:  # nothing acknowledged that is not on Kafka: the platform sends it again
            metrics.FEEDBACK_WEBHOOKS.labels(platform, "unavailable").inc()
            log.warning("%s webhook: could not send its items (%s); answering 503", platform, exc)
            raise HTTPException(503, "Try again later. / Vui lòng thử lại sau.") from exc
        metrics.FEEDBACK_WEBHOOKS.labels(platform, "accepted").inc()

    @router.get("/facebook")
    async def facebook_verify(
        mode: Annotated[str, Query(alias="hub.mode")],
        token: Annotated[str, Query(alias="hub.verify_token")],
        challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)],
    ) -> PlainTextResponse:
        if facebook_verify_token is None:
            raise not_configured
        if mode != "subscribe" or not hmac.compare_digest(token, facebook_verify_token):
            raise HTTPException(403, "The verify token does not match. / Mã xác minh không khớp.")
        return PlainTextResponse(challenge)

    @router.post("/facebook")
    async def facebook_event(request: Request) -> Response:
        if facebook_app_secret is None:
            raise not_configured
        body = await request.body()
        if not facebook_signature_ok(facebook_app_secret, body, request.headers.get("X-Hub-Signature-256")):
            raise _refused("facebook")
        try:
            comments = facebook_comments(json.loads(body))
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise HTTPException(400, "The body is not a Page webhook. / Nội dung không phải webhook Trang.") from exc
        found = []
        for page_id, seen in comments:
            channel = channel_by("facebook", "page_id", page_id)
            if channel is None:
                metrics.FEEDBACK_WEBHOOKS.labels("facebook", "unknown_account").inc()
                log.warning("facebook webhook: a comment for Page %s, which no channel names", page_id)
                continue
            found.append((channel, seen))
        await deliver("facebook", found)
        return Response(status_code=200)

    @router.post("/zalo")
    async def zalo_event(request: Request) -> Response:
        if zalo_app_id is None or not zalo_oa_secrets:
            raise not_configured
        body = await request.body()
        try:
            payload = json.loads(body)
            timestamp = str(payload.get("timestamp") or "")
            oa_id = str((payload.get("recipient") or {}).get("id") or payload.get("oa_id") or "")
        except (ValueError, TypeError, AttributeError) as exc:
            raise _refused("zalo") from exc
        secret = zalo_oa_secrets.get(oa_id)
        if (
            secret is None
            or str(payload.get("app_id")) != zalo_app_id
            or not zalo_signature_ok(zalo_app_id, secret, body, timestamp, request.headers.get("X-ZEvent-Signature"))
        ):
            raise _refused("zalo")
        try:
            message = zalo_message(payload)
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            raise HTTPException(400, "The body is not a Zalo OA event. / Nội dung không phải sự kiện Zalo OA.") from exc
        if message is None:
            metrics.FEEDBACK_WEBHOOKS.labels("zalo", "skipped").inc()
            return Response(status_code=200)
        channel = channel_by("zalo", "oa_id", oa_id)
        if channel is None:
            metrics.FEEDBACK_WEBHOOKS.labels("zalo", "unknown_account").inc()
            log.warning("zalo webhook: a message to OA %s, which no channel names", oa_id)
            return Response(status_code=200)
        await deliver("zalo", [(channel, message[1])])
        return Response(status_code=200)

    return router
