"""The one way the server calls out (webhooks, platforms' key sets, and every later service):
an address guard in front of an httpx2 client.

A URL's host is resolved once; every address it resolves to must be public (unless the
deployment allows private ones), and the request then connects to that checked address, with
the name kept for the ``Host`` header and for TLS (SNI and the certificate check). So a name
that resolves to a public address for the check and to 127.0.0.1 for the connection (DNS
rebinding) cannot reach the server's own network. Hosts that do not resolve are refused;
redirects are never followed; proxies from the environment are ignored (a proxy would resolve
the name itself); responses are read up to a size bound.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2 as httpx

#: Resolves (host, port) to IP address strings, in preference order.
Resolver = Callable[[str, int], list[str]]

TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_BYTES = 1024 * 1024


class OutboundError(Exception):
    """A call out did not happen or did not complete; ``reason`` says why (for logs and the
    operator's delivery log, never shown to a student)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class AddressRefused(OutboundError):
    """The URL is not one the server may call (its address is private, or it does not resolve)."""


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """A checked URL: the name asked for and the address the request will connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return urlunsplit((parts.scheme, f"{literal}:{self.port}", parts.path, parts.query, ""))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


@dataclass
class OutboundGuard:
    """Checks and makes outbound HTTP requests. One per process, shared by every caller."""

    allow_private: bool = False
    resolver: Resolver = system_resolver
    #: For tests: an httpx transport to send through instead of the network.
    transport: httpx.BaseTransport | None = None
    timeout: float = TIMEOUT_SECONDS
    max_bytes: int = MAX_RESPONSE_BYTES

    def check(self, url: str) -> Target:
        """Resolve the URL's host once and check every address; raise :class:`AddressRefused`."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise AddressRefused(url, "only http and https URLs with a host are called")
        if parts.username is not None or parts.password is not None:
            raise AddressRefused(url, "URLs with credentials are not called")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise AddressRefused(url, "the port is not a number from 0 to 65535") from None
        host = parts.hostname
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = self.resolver(host, port)
            except (OSError, UnicodeError):
                addresses = []
        if not addresses:
            raise AddressRefused(url, f"{host} does not resolve")
        if not self.allow_private:
            private = [a for a in addresses if not is_public(a)]
            if private:
                raise AddressRefused(url, f"{host} is a private or local address ({private[0]})")
        return Target(url, parts.scheme, host, port, addresses[0])

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one request to the checked address; the body is read (up to ``max_bytes``).
        Raises :class:`OutboundError` for a refused address, a failed connection, a timeout
        or an oversized answer; an HTTP error status is returned, not raised."""
        target = self.check(url)
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        # identity: the size bound then holds for what is read (no decompression bombs).
        request_headers = {
            **(headers or {}),
            "host": target.host_header,
            "accept-encoding": "identity",
        }
        try:
            with (
                httpx.Client(
                    transport=self.transport,
                    timeout=self.timeout,
                    follow_redirects=False,
                    trust_env=False,
                ) as client,
                client.stream(
                    method,
                    target.pinned_url,
                    headers=request_headers,
                    content=content,
                    data=data,
                    extensions=extensions,
                ) as response,
            ):
                body = bytearray()
                # A transport that answered from memory has no stream left to read.
                chunks = [response.content] if response.is_stream_consumed else response.iter_raw()
                for chunk in chunks:
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise OutboundError(url, f"the answer exceeds {self.max_bytes} bytes")
        except httpx.HTTPError as exc:
            raise OutboundError(url, f"{type(exc).__name__}: {exc}"[:300]) from None
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=bytes(body),
            request=response.request,
        )
