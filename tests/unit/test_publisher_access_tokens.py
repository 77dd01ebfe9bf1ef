"""Who gets a connected channel's access token from the publisher (loa_publisher.access_tokens): Loa's services
only, and only for a connected TikTok or Zalo channel of the ward named, on the connection named."""

from __future__ import annotations

from loa_core.auth import hash_token
from loa_core.channels import Channel
from loa_core.contracts import ChannelState
from loa_publisher.access_tokens import NO_SERVICE_TOKEN, NOT_A_SERVICE, NOT_SERVED, REPLACED, refusal, served

HASHES = frozenset({hash_token("svc")})
CHANNELS = {
    c.name: c
    for c in (
        Channel(name="tt", platform="tiktok", profiles=("tiktok",), connection_id="c1", ward="p1"),
        Channel(name="zl", platform="zalo", profiles=("zalo",), connection_id="c2", ward="p1"),
        Channel(name="yt", platform="youtube", profiles=("youtube",), connection_id="c3", ward="p1"),
        Channel(name="hand", platform="tiktok", profiles=("tiktok",), ward="p1"),
        Channel(
            name="off",
            platform="zalo",
            profiles=("zalo",),
            connection_id="c4",
            ward="p1",
            state=ChannelState.DISCONNECTED,
        ),
    )
}


def test_only_a_service_token_is_let_in() -> None:
    assert refusal("Bearer svc", HASHES) is None
    assert refusal("bearer svc", HASHES) is None
    assert refusal(None, HASHES) == (401, NO_SERVICE_TOKEN)
    assert refusal("Bearer ", HASHES) == (401, NO_SERVICE_TOKEN)
    assert refusal("Basic svc", HASHES) == (401, NO_SERVICE_TOKEN)
    assert refusal("Bearer someone-elses", HASHES) == (403, NOT_A_SERVICE)
    assert refusal("Bearer svc", frozenset()) == (403, NOT_A_SERVICE)  # none configured: nobody


def test_only_a_connected_rotating_channel_of_the_ward_on_its_connection_is_served() -> None:
    assert served(CHANNELS, "tt", "c1", "p1") == CHANNELS["tt"]
    assert served(CHANNELS, "zl", None, None) == CHANNELS["zl"]
    assert served(CHANNELS, "tt", "c1", "p2") == (404, NOT_SERVED)  # another ward's
    assert served(CHANNELS, "yt", None, "p1") == (404, NOT_SERVED)  # Google's refresh tokens do not rotate
    assert served(CHANNELS, "hand", None, "p1") == (404, NOT_SERVED)  # configured by hand: no connection
    assert served(CHANNELS, "off", "c4", "p1") == (404, NOT_SERVED)  # disconnected
    assert served(CHANNELS, "nope", None, None) == (404, NOT_SERVED)
    assert served(CHANNELS, "tt", "c0", "p1") == (409, REPLACED)
    for detail in (NO_SERVICE_TOKEN, NOT_A_SERVICE, NOT_SERVED, REPLACED):
        assert " / " in detail
