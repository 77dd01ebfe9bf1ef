"""The feedback webhooks: signatures checked on the raw body (Facebook's HMAC, Zalo's mac), a wrong one refused with
nothing sent, a right one answered only once its items are sent, the Facebook handshake, and what each platform's
body becomes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loa_core.channels import Channel
from loa_core.contracts import FeedbackReceived, feedback_item_id
from loa_metrics.feedback_webhooks import facebook_signature_ok, webhook_router, zalo_signature_ok
from tests.support.emulators.webhooks import facebook_comment, zalo_message

APP_SECRET = "fb-app-secret"
OA_SECRET = "oa-secret"
CHANNELS = {
    "p1-fb": Channel(name="p1-fb", platform="facebook", profiles=("youtube",), ward="p1", options={"page_id": "555"}),
    "p1-zalo": Channel(name="p1-zalo", platform="zalo", profiles=("zalo",), ward="p1", options={"oa_id": "777"}),
}
T = 1_764_554_400  # 2025-12-01T02:00:00Z


def _client(sent: list[FeedbackReceived], *, fail: bool = False) -> TestClient:
    async def send(event: FeedbackReceived) -> None:
        if fail:
            raise ConnectionError("no broker")
        sent.append(event)

    app = FastAPI()
    app.include_router(
        webhook_router(
            CHANNELS,
            send,
            lambda channel, post: "f" * 32 if (channel, post) == ("p1-fb", "9001") else None,
            facebook_app_secret=APP_SECRET,
            facebook_verify_token="verify-me",
            zalo_app_id="app-1",
            zalo_oa_secrets={"777": OA_SECRET},
        )
    )
    return TestClient(app)


def test_signature_checks() -> None:
    body, headers = facebook_comment(APP_SECRET, "555", "9001", "c1", "Xin chào", T)
    assert facebook_signature_ok(APP_SECRET, body, headers["X-Hub-Signature-256"])
    assert not facebook_signature_ok(APP_SECRET, body + b" ", headers["X-Hub-Signature-256"])
    assert not facebook_signature_ok("other", body, headers["X-Hub-Signature-256"])
    assert not facebook_signature_ok(APP_SECRET, body, None)
    assert not facebook_signature_ok(APP_SECRET, body, headers["X-Hub-Signature-256"].removeprefix("sha256="))
    body, headers = zalo_message("app-1", OA_SECRET, "777", "u1", "m1", "Chào", T * 1000)
    mac = headers["X-ZEvent-Signature"]
    assert zalo_signature_ok("app-1", OA_SECRET, body, str(T * 1000), mac)
    assert zalo_signature_ok("app-1", OA_SECRET, body, str(T * 1000), mac.removeprefix("mac="))
    assert not zalo_signature_ok("app-1", OA_SECRET, body, str(T * 1000 + 1), mac)
    assert not zalo_signature_ok("app-1", "other", body, str(T * 1000), mac)
    assert not zalo_signature_ok("app-1", OA_SECRET, body, str(T * 1000), None)


def test_a_facebook_comment_with_its_signature_is_sent_before_the_answer() -> None:
    sent: list[FeedbackReceived] = []
    client = _client(sent)
    text = "Đèn đường ở hẻm 12 hỏng\x00 đã lâu " + "ạ" * 11_000
    body, headers = facebook_comment(APP_SECRET, "555", "9001", "9001_1", text, T, author=("u7", "Lê Văn Cường"))
    assert client.post("/webhooks/facebook", content=body, headers=headers).status_code == 200
    (event,) = sent
    assert event.item_id == feedback_item_id("p1-fb", "9001_1") and event.ward == "p1" and event.kind == "comment"
    assert event.text.startswith("Đèn đường ở hẻm 12 hỏng đã lâu") and event.truncated and len(event.text) == 10_000
    assert event.post_id == "9001" and event.footage_id == "f" * 32 and event.thread_id is None
    assert event.author_name == "Lê Văn Cường" and event.written_at == datetime.fromtimestamp(T, UTC)
    reply, headers = facebook_comment(
        APP_SECRET, "555", "9001", "9001_2", "Cảm ơn", T, author=("555", "Phường 1"), parent="9001_1"
    )
    assert client.post("/webhooks/facebook", content=reply, headers=headers).status_code == 200
    assert sent[1].thread_id == "9001_1" and sent[1].by_channel


@pytest.mark.parametrize("forge", ["wrong secret", "no header", "body changed"])
def test_a_wrong_signature_is_refused_clearly_and_nothing_is_sent(forge: str) -> None:
    sent: list[FeedbackReceived] = []
    client = _client(sent)
    body, headers = facebook_comment(
        APP_SECRET, "555", "9001", "9001_3", "Giả mạo", T, sign_with="guess" if forge == "wrong secret" else None
    )
    if forge == "no header":
        headers.pop("X-Hub-Signature-256")
    if forge == "body changed":
        body = body.replace("Giả mạo".encode(), b"Gia mao")
    answer = client.post("/webhooks/facebook", content=body, headers=headers)
    assert answer.status_code == 401 and "signature" in answer.json()["detail"] and "Chữ ký" in answer.json()["detail"]
    zbody, zheaders = zalo_message("app-1", OA_SECRET, "777", "u1", "m9", "Giả mạo", T * 1000, sign_with="guess")
    assert client.post("/webhooks/zalo", content=zbody, headers=zheaders).status_code == 401
    assert sent == []


def test_a_delivery_whose_items_cannot_be_sent_is_not_acknowledged() -> None:
    client = _client([], fail=True)
    body, headers = facebook_comment(APP_SECRET, "555", "9001", "9001_4", "Ngập", T)
    assert client.post("/webhooks/facebook", content=body, headers=headers).status_code == 503
    zbody, zheaders = zalo_message("app-1", OA_SECRET, "777", "u1", "m5", "Ngập", T * 1000)
    assert client.post("/webhooks/zalo", content=zbody, headers=zheaders).status_code == 503


def test_the_facebook_handshake_echoes_the_challenge_only_for_our_verify_token() -> None:
    client = _client([])
    ok = client.get(
        "/webhooks/facebook",
        params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = client.get(
        "/webhooks/facebook", params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    )
    assert bad.status_code == 403


def test_zalo_messages_text_and_image_are_sent_and_other_events_acknowledged() -> None:
    sent: list[FeedbackReceived] = []
    client = _client(sent)
    body, headers = zalo_message("app-1", OA_SECRET, "777", "u1", "m1", "Cho hỏi lịch thu gom rác?", T * 1000)
    assert client.post("/webhooks/zalo", content=body, headers=headers).status_code == 200
    image = [{"type": "image", "payload": {"url": "https://zalo.example/p.jpg"}}]
    body, headers = zalo_message(
        "app-1", OA_SECRET, "777", "u1", "m2", "", T * 1000 + 5, event="user_send_image", attachments=image
    )
    assert client.post("/webhooks/zalo", content=body, headers=headers).status_code == 200
    body, headers = zalo_message("app-1", OA_SECRET, "777", "u1", "m3", "", T * 1000, event="follow")
    assert client.post("/webhooks/zalo", content=body, headers=headers).status_code == 200
    assert [(e.external_id, e.kind, e.channel, e.author_id) for e in sent] == [
        ("m1", "message", "p1-zalo", "u1"),
        ("m2", "message", "p1-zalo", "u1"),
    ]
    assert sent[0].text == "Cho hỏi lịch thu gom rác?" and sent[1].text == "[image] https://zalo.example/p.jpg"


def test_webhook_keys_left_blank_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose passes a platform left blank in .env as "": never an empty signing key (anyone could sign with it),
    and an empty map of Zalo OA keys rather than a start refused on JSON."""
    from loa_metrics.settings import MetricsSettings

    for name in ("FACEBOOK_APP_SECRET", "FACEBOOK_WEBHOOK_VERIFY_TOKEN", "ZALO_APP_ID", "ZALO_OA_SECRET_KEYS"):
        monkeypatch.setenv(f"LOA_{name}", "")
    blank = MetricsSettings()
    assert blank.facebook_app_secret is None and blank.facebook_webhook_verify_token is None
    assert blank.zalo_app_id is None and blank.zalo_oa_secret_keys == {}
    monkeypatch.setenv("LOA_FACEBOOK_APP_SECRET", "app-secret")
    monkeypatch.setenv("LOA_ZALO_OA_SECRET_KEYS", '{"4300": "oa-key"}')
    given = MetricsSettings()
    assert given.facebook_app_secret is not None and given.facebook_app_secret.get_secret_value() == "app-secret"
    assert {oa: key.get_secret_value() for oa, key in given.zalo_oa_secret_keys.items()} == {"4300": "oa-key"}
