"""SSRF-safe HTTP GET: allow-listed hosts only, no internal addresses, every redirect hop checked.

The archiver fetches HLS playlists and segments itself (ffmpeg never sees a URL), and ingest's verification page
fetches a clip someone links to (any public host, "*"): every URL either follows is checked here.
A host name is resolved once, every address it resolves to is checked, and the connection is
made to that checked address (the Host header and TLS SNI still carry the name). So a DNS answer that changes
between the check and the connection (DNS rebinding) cannot lead the fetch somewhere else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

MAX_REDIRECTS = 5

Resolver = Callable[[str, int], Awaitable[list[str]]]


class RefusedUrl(ValueError):
    """The URL (or a redirect it led to) is not allowed: not retried, the operator must change the settings."""


class FetchError(Exception):
    """The allowed URL could not be fetched right now (network, HTTP error status): worth retrying."""


@dataclass(frozen=True)
class Policy:
    # Host names, "*.example.org" for its subdomains, or "*" for any host (internal addresses stay refused).
    allowed_hosts: tuple[str, ...]
    # Hosts or IP literals the operator named explicitly: these may be loopback, private or link-local.
    allowed_private: tuple[str, ...] = ()
    # The settings that hold the two lists, named in refusals so the operator knows what to change.
    hosts_setting: str = "LOA_HLS_ALLOWED_HOSTS"
    private_setting: str = "LOA_HLS_ALLOWED_PRIVATE"

    def host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        if host in self.allowed_private:
            return True
        for pattern in self.allowed_hosts:
            if pattern == "*":
                return True
            if pattern.startswith("*."):
                if host.endswith(pattern[1:]) and host != pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def address_is_internal(address: str) -> bool:
    """Anything that is not a public unicast address: loopback, private, link-local, multicast, reserved..."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url_shape(url: str, policy: Policy) -> tuple[str, str, int]:
    """Scheme, allow-listed host and port of `url`, or RefusedUrl (no DNS here; see `resolve_checked`)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise RefusedUrl(
            f"only http and https URLs can be pulled, not {parts.scheme or 'no scheme'!r}. "
            "/ Chỉ thu được URL http, https."
        )
    if parts.username or parts.password:
        raise RefusedUrl("URLs with credentials in them are refused. / URL không được chứa mật khẩu.")
    host = (parts.hostname or "").lower()
    if not host:
        raise RefusedUrl("the URL has no host. / URL thiếu tên máy chủ.")
    if not policy.host_allowed(host):
        raise RefusedUrl(
            f"host {host!r} is not in the allow-list ({policy.hosts_setting}). "
            "/ Máy chủ này không nằm trong danh sách được phép."
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise RefusedUrl(f"bad port in URL: {exc}. / Cổng trong URL không hợp lệ.") from exc
    return parts.scheme, host, port


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


async def resolve_checked(url: str, policy: Policy, resolve: Resolver = system_resolve) -> tuple[str, str]:
    """The address to connect to for `url` after every check, and the host name to send as Host/SNI."""
    _, host, port = check_url_shape(url, policy)
    try:
        addresses = await resolve(host, port)
    except OSError as exc:
        raise FetchError(f"cannot resolve {host}: {exc}") from exc
    if not addresses:
        raise FetchError(f"{host} resolves to no address")
    if host not in policy.allowed_private:
        internal = [a for a in addresses if address_is_internal(a)]
        if internal:
            # Refuse if any answer is internal: picking a "good" one would still let a rebinding answer through.
            raise RefusedUrl(
                f"{host} resolves to a loopback, private or link-local address ({internal[0]}); name it in "
                f"{policy.private_setting} to allow it. / Máy chủ trỏ tới địa chỉ nội bộ, không được phép."
            )
    return addresses[0], host


def _pinned_url(url: str, address: str) -> str:
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


class SafeFetcher:
    """GETs with every hop checked against the policy; bodies capped at `max_bytes`."""

    def __init__(
        self,
        policy: Policy,
        timeout_s: float = 15.0,
        resolve: Resolver = system_resolve,
        transport: httpx.AsyncBaseTransport | None = None,
        user_agent: str = "loa-archiver",
    ) -> None:
        self.policy = policy
        self._resolve = resolve
        # follow_redirects=False: redirects are followed below, each target checked like the first URL.
        # trust_env=False: no proxy from the environment may bypass the address checks.
        self._client = httpx.AsyncClient(
            timeout=timeout_s,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": user_agent},
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _response(self, url: str) -> tuple[str, httpx.Response]:
        """The final URL and its open 200 response (the caller closes it), every redirect hop checked."""
        for _ in range(MAX_REDIRECTS + 1):
            address, host = await resolve_checked(url, self.policy, self._resolve)
            parts = urlsplit(url)
            host_header = host if parts.port is None else f"{host}:{parts.port}"
            request = self._client.build_request(
                "GET",
                _pinned_url(url, address),
                headers={"Host": host_header},
                extensions={"sni_hostname": host} if parts.scheme == "https" else {},
            )
            try:
                response = await self._client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise FetchError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
            if response.status_code in (301, 302, 303, 307, 308):
                location = response.headers.get("location")
                await response.aclose()
                if not location:
                    raise FetchError(f"GET {url}: redirect without a Location")
                url = urljoin(url, location)
                continue
            if response.status_code != 200:
                await response.aclose()
                raise FetchError(f"GET {url}: HTTP {response.status_code}")
            return url, response
        raise RefusedUrl(f"more than {MAX_REDIRECTS} redirects from {url}")

    async def get(self, url: str, max_bytes: int) -> tuple[str, bytes]:
        """The final URL (after redirects, for resolving relative URIs) and the body."""
        final, response = await self._response(url)
        body = bytearray()
        async for chunk in _capped(response, url, max_bytes):
            body += chunk
        return final, bytes(body)

    async def download(self, url: str, target: Path, max_bytes: int) -> int:
        """Write the body to `target` (bounded memory); its size."""
        _, response = await self._response(url)
        size = 0
        with target.open("wb") as out:
            async for chunk in _capped(response, url, max_bytes):
                out.write(chunk)
                size += len(chunk)
        return size


async def _capped(response: httpx.Response, url: str, max_bytes: int) -> AsyncIterator[bytes]:
    """The body's chunks, RefusedUrl past `max_bytes`; the response is closed after."""
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise RefusedUrl(f"GET {url}: body larger than {max_bytes} bytes")
            yield chunk
    except httpx.HTTPError as exc:
        raise FetchError(f"GET {url} failed while reading: {exc}") from exc
    finally:
        await response.aclose()
