"""The advice a failed post shows: the platforms' documented messages and the publisher's own reasons, each mapped to
one action (a table), in both languages."""

from __future__ import annotations

import pytest

from loa_ingest.advice import RULES, Action, advise

CASES = [
    # The publisher's own reasons (loa_publisher.decide / publish.py's failure_reason).
    ("youtube", "rejected by an approver: sai tên xã / bị từ chối khi duyệt: sai tên xã", Action.EDIT_AND_RESUBMIT),
    (
        "tiktok",
        "awaiting approval: an approver of the ward must approve this cut and text / chờ duyệt: người duyệt của phường",
        Action.APPROVE,
    ),
    ("facebook", "channel disconnected: a ward admin must reconnect it / kênh mất kết nối", Action.RECONNECT),
    # YouTube Data API v3.
    (
        "youtube",
        "youtube: HTTP 403: The request cannot be completed because you have exceeded your quota",
        Action.WAIT_QUOTA,
    ),
    ("youtube", "youtube: HTTP 400: uploadLimitExceeded", Action.WAIT_QUOTA),
    ("youtube", "youtube: HTTP 401: Request had invalid authentication credentials.", Action.RECONNECT),
    (
        "youtube",
        "youtube: HTTP 400: The request metadata specifies an invalid or empty video title",
        Action.SHORTEN_TITLE,
    ),
    ("youtube", "youtube: HTTP 400: invalidDescription", Action.FIX_TEXT),
    ("youtube", "youtube: HTTP 403: insufficientPermissions", Action.PERMISSION),
    ("youtube", "youtube: HTTP 503: Backend Error", Action.RETRY),
    # TikTok Content Posting API error codes.
    ("tiktok", "tiktok: spam_risk_too_many_posts", Action.WAIT_QUOTA),
    ("tiktok", "tiktok: HTTP 401: access_token_invalid", Action.RECONNECT),
    ("tiktok", "tiktok: scope_not_authorized", Action.PERMISSION),
    ("tiktok", "tiktok: unaudited_client_can_only_post_to_private_accounts", Action.PERMISSION),
    ("tiktok", "tiktok: publish failed: duration_check_failed", Action.FIX_VIDEO),
    ("tiktok", "tiktok: file_format_check_failed", Action.FIX_VIDEO),
    # Facebook Graph API.
    ("facebook", "facebook: HTTP 400: Error validating access token: Session has expired", Action.RECONNECT),
    ("facebook", "facebook: HTTP 400: (#32) Page request limit reached", Action.WAIT_QUOTA),
    ("facebook", "facebook: HTTP 403: (#200) Requires pages_manage_posts permission", Action.PERMISSION),
    # Zalo OA: numeric codes only mean something on Zalo.
    ("zalo", "zalo: error -216: Access token is invalid", Action.RECONNECT),
    ("zalo", "zalo: error -124", Action.RECONNECT),
    ("youtube", "youtube: HTTP 400: item -124 of the playlist", Action.CHECK),
    # Refresh tokens refused.
    ("youtube", "youtube: invalid_grant: Token has been expired or revoked.", Action.RECONNECT),
    # Nothing known: the general advice, never nothing.
    ("local", "local: could not write /publish/x.mp4: No space left on device", Action.CHECK),
    ("youtube", "", Action.CHECK),
]


@pytest.mark.parametrize(("platform", "reason", "action"), CASES)
def test_advice_for_each_known_reason(platform: str, reason: str, action: Action) -> None:
    assert advise(platform, reason).action is action


def test_every_advice_is_said_in_both_languages_and_differs_between_them() -> None:
    for rule in RULES:
        assert rule.advice.vi.strip() and rule.advice.en.strip()
        assert rule.advice.vi != rule.advice.en
        assert rule.advice.say("vi") == rule.advice.vi and rule.advice.say("en") == rule.advice.en


def test_every_action_but_the_fallback_has_a_rule() -> None:
    assert {rule.advice.action for rule in RULES} == set(Action) - {Action.CHECK}
