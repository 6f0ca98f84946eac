"""SSRF guard for fetching user-configured URLs (feeds): public addresses only, no https->http.

A configured feed, or a redirect it sends, must not make Earshot fetch from the machine itself,
the private network or a cloud metadata endpoint. The check runs on the addresses a host name
resolves to, at connect time, and the connection goes to the address that was checked, so a
name that resolves to a private address (DNS rebinding) is caught as well as a literal IP.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from collectors.errors import BadConfiguration
from collectors.redact import redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

# Ranges the stdlib does not flag as non-global in every Python version, named for the message.
_EXTRA_BLOCKED = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT; Alibaba Cloud's metadata lives here
    ipaddress.ip_network("fd00:ec2::/32"),  # AWS IMDS over IPv6
)


class BlockedAddress(BadConfiguration):
    """A URL or redirect leads to a non-public address, or downgrades https to http."""


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address (not loopback, private, metadata...)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or not address.is_global:
        return False
    return not any(address in network for network in _EXTRA_BLOCKED)


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, via the system resolver."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _origin(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class NetGuard:
    """Which (host, port) origins may be private, and how host names are resolved."""

    allowed_origins: frozenset[tuple[str, int]] = frozenset()
    resolve: Resolver = field(default=system_resolver)

    @classmethod
    def allowing(cls, urls: Iterable[str], resolve: Resolver = system_resolver) -> NetGuard:
        """A guard that lets exactly the origins of ``urls`` be private (``allow_private: true``)."""
        origins = frozenset(origin for url in urls if (origin := _origin(url)) is not None)
        return cls(allowed_origins=origins, resolve=resolve)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host:port``; BlockedAddress if any is not public."""
        name = host.strip("[]").lower()
        try:
            literal: IPAddress | None = ipaddress.ip_address(name.split("%")[0])
        except ValueError:
            literal = None
        resolved = [name] if literal is not None else list(self.resolve(name, port))
        if (name, port) in self.allowed_origins:
            return resolved
        for text in resolved:
            address = ipaddress.ip_address(text.split("%")[0])
            if not is_public(address):
                shown = name if literal is not None else f"{name} (resolves to {address})"
                raise BlockedAddress(
                    f"refused to connect to {shown}:{port}: not a public address; "
                    "set options.allow_private: true to allow a configured private host"
                )
        if not resolved:
            raise BlockedAddress(f"{name}:{port} did not resolve to any address")
        return resolved

    def check_redirect(self, response: httpx.Response) -> None:
        """Refuse a redirect from https to http before it is followed (an httpx response hook)."""
        if not response.has_redirect_location:
            return
        source = response.request.url
        target = source.join(response.headers["location"])
        if source.scheme == "https" and target.scheme != "https":
            raise BlockedAddress(
                f"{redact_url(str(source))}: refused a redirect from https to {target.scheme}"
            )


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses the guard vetted."""

    def __init__(self, guard: NetGuard) -> None:
        self.guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve, vet every address, then connect to the first vetted address that answers."""
        last: Exception | None = None
        for address in self.guard.addresses(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as error:
                last = error
        raise last if last is not None else httpcore.ConnectError(f"{host}: no address")


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections go through a NetGuard (no proxies: they resolve names)."""

    def __init__(self, guard: NetGuard, *, retries: int = 0) -> None:
        super().__init__(retries=retries)
        limits = httpx.Limits()
        # httpx has no public hook for the network backend; building the pool ourselves keeps
        # everything else (TLS with SNI for the original host name, limits) as httpx sets it.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=retries,
            network_backend=_GuardedBackend(guard),
        )
