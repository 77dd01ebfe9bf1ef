"""The poller's credentials: a connected channel's from ingest with the service token (YouTube: an access token from
Google with the connection's refresh token, reused until it nears expiry; Facebook: the Page token), channels
configured by hand from the file, and never a refresh of a token that rotates (TikTok, Zalo: asked of the publisher,
which refreshes, every round)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from loa_core.channels import Channel
from loa_core.contracts import ChannelState
from loa_core.ingest_credentials import IngestCredentials
from loa_metrics.channel_tokens import ChannelTokens, PublisherTokens
from loa_metrics.engagement import Credentials

SERVICE_TOKEN = "svc-token"
CHANNELS = {
    c.name: c
    for c in (
        Channel(name="yt", platform="youtube", profiles=("youtube",), connection_id="c-yt"),
        Channel(name="fb", platform="facebook", profiles=("youtube",), connection_id="c-fb", options={"page_id": "1"}),
        Channel(name="zl", platform="zalo", profiles=("zalo",), connection_id="c-zl"),
        Channel(name="gone", platform="youtube", profiles=("youtube",), connection_id="c-x"),
        Channel(
            name="off",
            platform="youtube",
            profiles=("youtube",),
            connection_id="c-off",
            state=ChannelState.DISCONNECTED,
        ),
        Channel(name="hand", platform="tiktok", profiles=("tiktok",)),
    )
}
SECRETS = {
    "yt": {"client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"},
    "fb": {"user_token": "ut", "page_token": "page-tok"},
    "zl": {"app_id": "a", "secret_key": "s", "refresh_token": "zrt"},
}


def _platforms(asked: list[str]) -> httpx.MockTransport:
    minted = iter(f"yt-access-{i}" for i in range(1, 10))

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.method} {request.url.path}")
        if request.url.host == "publisher":
            assert request.headers["Authorization"] == f"Bearer {SERVICE_TOKEN}"
            name = request.url.path.rsplit("/", 1)[-1]
            assert dict(request.url.params) == {"connection_id": "c-zl", "ward": "default"} and name == "zl"
            return httpx.Response(200, json={"channel": name, "connection_id": "c-zl", "access_token": "zl-access"})
        if request.url.host == "ingest":
            assert request.headers["Authorization"] == f"Bearer {SERVICE_TOKEN}"
            name = request.url.path.rsplit("/", 1)[-1]
            if name not in SECRETS:
                return httpx.Response(404, json={"detail": "not connected"})
            return httpx.Response(
                200,
                json={"channel": name, "connection_id": request.url.params["connection_id"], "secrets": SECRETS[name]},
            )
        form = dict(httpx.QueryParams(request.content.decode()))
        assert form == {
            "client_id": "cid",
            "client_secret": "csecret",
            "refresh_token": "rt-1",
            "grant_type": "refresh_token",
        }
        return httpx.Response(200, json={"access_token": next(minted), "expires_in": 3599})

    return httpx.MockTransport(handle)


async def test_connected_channels_get_their_tokens_from_ingest_and_hand_configured_ones_from_the_file(
    tmp_path: Path,
) -> None:
    file = tmp_path / "creds.json"
    file.write_text(json.dumps({"hand": {"access_token": "tt-tok"}}))
    asked: list[str] = []
    now = [0.0]
    async with httpx.AsyncClient(transport=_platforms(asked)) as http:
        ingest = IngestCredentials("http://ingest", SERVICE_TOKEN, http)
        publisher = PublisherTokens("http://publisher", SERVICE_TOKEN, http)
        tokens = ChannelTokens(CHANNELS, file, ingest, http, clock=lambda: now[0], publisher=publisher)
        assert tokens.current() == {}
        first = await tokens.refresh()
        assert first == {
            "yt": Credentials(access_token="yt-access-1"),
            "fb": Credentials(access_token="page-tok"),
            "zl": Credentials(access_token="zl-access"),
            "hand": Credentials(access_token="tt-tok"),
        }
        assert tokens.current() == first
        # Zalo rotates its refresh token: its access token is the publisher's, never refreshed or read from ingest
        # here; a disconnected channel is not asked either.
        assert "GET /internal/access_tokens/zl" in asked
        assert not any(a.startswith("GET /internal/credentials/") and a.endswith(("/zl", "/off")) for a in asked)
        asked.clear()
        now[0] = 3000.0  # the access token is still good: nothing asked again (ingest's answer is kept too)
        assert (await tokens.refresh())["yt"] == Credentials(access_token="yt-access-1")
        assert [a for a in asked if "token" in a and "access_tokens" not in a] == []
        now[0] = 3600.0  # within a minute of expiry: a new one
        assert (await tokens.refresh())["yt"] == Credentials(access_token="yt-access-2")


async def test_without_ingest_only_the_file_serves(tmp_path: Path) -> None:
    async with httpx.AsyncClient(transport=_platforms([])) as http:
        tokens = ChannelTokens(CHANNELS, None, None, http)
        assert await tokens.refresh() == {}


async def test_a_channel_the_publisher_gives_no_token_for_goes_without_this_round(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"detail": "not connected"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        publisher = PublisherTokens("http://publisher", SERVICE_TOKEN, http)
        tokens = ChannelTokens({"zl": CHANNELS["zl"]}, None, None, http, publisher=publisher)
        assert await tokens.refresh() == {}
