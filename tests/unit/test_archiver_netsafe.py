"""The HLS pull address policy: allow-list, internal addresses, DNS pinning and redirects (fake DNS, mock HTTP)."""

from __future__ import annotations

import httpx
import pytest

from loa_core.netsafe import (
    FetchError,
    Policy,
    RefusedUrl,
    SafeFetcher,
    address_is_internal,
    check_url_shape,
    resolve_checked,
)

DNS = {
    "cdn.example.com": ["93.184.216.34"],
    "evil.example.com": ["10.0.0.5"],
    "mixed.example.com": ["93.184.216.34", "192.168.1.2"],
    "v6.example.com": ["2606:2800:220:1:248:1893:25c8:1946"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "camera.lan": ["192.168.1.50"],
}


async def fake_resolve(host: str, port: int) -> list[str]:
    if host not in DNS:
        raise OSError("no such host")
    return DNS[host]


POLICY = Policy(allowed_hosts=("cdn.example.com", "*.example.com", "camera.lan"), allowed_private=("camera.lan",))


@pytest.mark.parametrize(
    ("address", "internal"),
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.0.1", True),
        ("169.254.169.254", True),  # cloud metadata
        ("100.64.0.1", True),  # carrier-grade NAT
        ("0.0.0.0", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:2800:220:1:248:1893:25c8:1946", False),
    ],
)
def test_internal_addresses(address: str, internal: bool) -> None:
    assert address_is_internal(address) is internal


def test_allow_list_and_url_shape() -> None:
    assert POLICY.host_allowed("cdn.example.com")
    assert POLICY.host_allowed("live.example.com")
    assert not POLICY.host_allowed("example.com")  # "*.example.com" is the subdomains only
    assert not POLICY.host_allowed("example.com.evil.net")
    assert check_url_shape("https://cdn.example.com/a.m3u8", POLICY) == ("https", "cdn.example.com", 443)
    for url in (
        "ftp://cdn.example.com/a.m3u8",
        "file:///etc/passwd",
        "http://user:pw@cdn.example.com/a.m3u8",
        "http://other.net/a.m3u8",
        "http:///a.m3u8",
    ):
        with pytest.raises(RefusedUrl):
            check_url_shape(url, POLICY)


async def test_resolution_is_checked() -> None:
    assert await resolve_checked("http://cdn.example.com/a", POLICY, fake_resolve) == (
        "93.184.216.34",
        "cdn.example.com",
    )
    assert (await resolve_checked("http://v6.example.com/a", POLICY, fake_resolve))[1] == "v6.example.com"
    # Explicitly named private host: allowed.
    assert (await resolve_checked("http://camera.lan/a", POLICY, fake_resolve))[0] == "192.168.1.50"
    for url in ("http://evil.example.com/a", "http://mixed.example.com/a", "http://mapped.example.com/a"):
        with pytest.raises(RefusedUrl, match="loopback, private or link-local"):
            await resolve_checked(url, POLICY, fake_resolve)
    with pytest.raises(FetchError):
        await resolve_checked("http://gone.example.com/a", POLICY, fake_resolve)


async def test_fetch_pins_the_checked_address_and_checks_every_redirect() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/hop":
            return httpx.Response(302, headers={"Location": "/playlist.m3u8"})
        if request.url.path == "/evil":
            return httpx.Response(302, headers={"Location": "http://evil.example.com/meta"})
        if request.url.path == "/big":
            return httpx.Response(200, content=b"x" * 2000)
        return httpx.Response(200, content=b"#EXTM3U\n")

    fetcher = SafeFetcher(POLICY, resolve=fake_resolve, transport=httpx.MockTransport(handler))
    try:
        final, body = await fetcher.get("http://cdn.example.com:8080/hop", 1000)
        assert (final, body) == ("http://cdn.example.com:8080/playlist.m3u8", b"#EXTM3U\n")
        # Connected to the address that was checked; the name travels in the Host header.
        assert seen[-1].url.host == "93.184.216.34" and seen[-1].headers["host"] == "cdn.example.com:8080"
        with pytest.raises(RefusedUrl, match=r"10\.0\.0\.5"):
            await fetcher.get("http://cdn.example.com/evil", 1000)
        assert all(r.url.host != "10.0.0.5" for r in seen)
        with pytest.raises(RefusedUrl, match="larger than"):
            await fetcher.get("http://cdn.example.com/big", 1000)
    finally:
        await fetcher.aclose()
