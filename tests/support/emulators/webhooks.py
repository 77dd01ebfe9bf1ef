"""The platforms' side of the feedback webhooks: deliveries built and signed as Facebook and Zalo send them (see
loa_metrics.feedback_webhooks for the facts and their sources), with the right signature or a wrong one.

A delivery is (raw body, headers): the test posts exactly those bytes, since the signature covers the raw body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

Delivery = tuple[bytes, dict[str, str]]


def facebook_comment(
    app_secret: str,
    page_id: str,
    video_id: str,
    comment_id: str,
    message: str,
    created_time: int,
    *,
    author: tuple[str, str] = ("citizen-1", "Người dân"),
    parent: str | None = None,
    sign_with: str | None = None,
) -> Delivery:
    """A Page webhook delivery of one comment (`feed` field, item comment, verb add) on the Page's video post.
    `sign_with`: another secret (a forged or misconfigured sender)."""
    post_id = f"{page_id}_{video_id}"
    value: dict[str, Any] = {
        "from": {"id": author[0], "name": author[1]},
        "post_id": post_id,
        "comment_id": comment_id,
        "parent_id": parent or post_id,
        "created_time": created_time,
        "item": "comment",
        "verb": "add",
        "message": message,
    }
    payload = {
        "object": "page",
        "entry": [{"id": page_id, "time": created_time, "changes": [{"field": "feed", "value": value}]}],
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    signature = hmac.new((sign_with or app_secret).encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={signature}"}


def zalo_message(
    app_id: str,
    oa_secret: str,
    oa_id: str,
    user_id: str,
    msg_id: str,
    text: str,
    timestamp_ms: int,
    *,
    event: str = "user_send_text",
    attachments: list[dict[str, Any]] | None = None,
    sign_with: str | None = None,
) -> Delivery:
    """A Zalo OA webhook delivery of one citizen's message; `sign_with`: another OA secret key."""
    message: dict[str, Any] = {"msg_id": msg_id, "text": text}
    if attachments is not None:
        message["attachments"] = attachments
    payload = {
        "app_id": app_id,
        "user_id_by_app": f"app-{user_id}",
        "event_name": event,
        "sender": {"id": user_id},
        "recipient": {"id": oa_id},
        "message": message,
        "timestamp": str(timestamp_ms),
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    mac = hashlib.sha256(app_id.encode() + body + str(timestamp_ms).encode() + (sign_with or oa_secret).encode())
    return body, {"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={mac.hexdigest()}"}
