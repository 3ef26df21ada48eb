"""Which network addresses a download may reach: public ones, and the origins the bot trusts.

A provider's result link (and every redirect after it) is chosen by someone
else, and whatever it answers is posted publicly. So a download must never
reach loopback, private, link-local, unspecified, multicast or reserved
addresses, in IPv4 or IPv6 form (IPv4-mapped, 6to4, Teredo and NAT64 addresses
are judged by the IPv4 address they carry).

The check sits in the connector's resolver (:class:`GuardedResolver`), so it
judges the addresses aiohttp is about to connect to, after name resolution:
a host name that resolves to a public address for one lookup and to 127.0.0.1
for the next (DNS rebinding) is judged on the lookup actually used. IP-literal
hosts never reach a resolver, so :func:`check_literal` judges them before the
request. The provider's own origin is exempt: operators run local gateways.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

log = logging.getLogger(__name__)

Origin = tuple[str, str, int]  # scheme, host, port
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits


class Refused(OSError):
    """Raised inside the connector when every safe address is ruled out.

    An ``OSError`` because aiohttp wraps resolver ``OSError`` s in its own
    connection error; :attr:`GuardedResolver.refused` keeps the reason.
    """


def origin_of(url: str | URL) -> Origin | None:
    """``(scheme, host, port)`` of an http(s) URL, normalised; None for anything else."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        scheme = parsed.scheme.lower()
        host = parsed.raw_host
        port = parsed.port
    except (ValueError, TypeError):
        return None
    if scheme not in ("http", "https") or not host or port is None:
        return None
    return scheme, host.lower().rstrip("."), port


def origins(urls: Iterable[str]) -> frozenset[Origin]:
    """The origins of ``urls`` (base URLs with paths are fine); invalid entries are skipped."""
    return frozenset(o for url in urls if (o := origin_of(url)) is not None)


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 transition address stands for, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # (server, client): the client is where traffic ends up
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str | IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address (safe to fetch from)."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:  # fe80::1%eth0: link-local by definition
            return False
        inner = _embedded_v4(ip)
        if inner is not None and not is_public(inner):
            return False
    internal = (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
        or ip.is_multicast
        or ip.is_reserved
    )
    return ip.is_global and not internal


def check_literal(host: str) -> str | None:
    """Why an IP-literal ``host`` may not be fetched, or None (also None for host names).

    aiohttp connects to IP literals without asking the resolver, so they are judged here.
    """
    looks_numeric = ":" in host or host.replace(".", "").isdigit()
    if not looks_numeric:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "the link's address is not a valid IP address"
    return None if is_public(ip) else "the link points at an internal network address"


class GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then refuses internal addresses.

    ``trusted_host`` is the ``(host, port)`` the current request may reach whatever
    its addresses (the provider's origin); the downloader sets it for each hop.
    Pair with ``use_dns_cache=False`` so every new connection is resolved here.
    """

    def __init__(self) -> None:
        self._inner = DefaultResolver()
        self.trusted_host: tuple[str, int] | None = None
        self.refused: str | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """The addresses of ``host``; raises :class:`Refused` when any is internal."""
        results = await self._inner.resolve(host, port, family)
        if self.trusted_host == (host.lower().rstrip("."), port):
            return results
        internal = [r["host"] for r in results if not is_public(r["host"])]
        if internal:
            # One internal record is enough to refuse: a public host has no business
            # resolving to the inside, and filtering would hide an attack in the log.
            log.warning("download refused: %s resolves to internal address(es)", host)
            self.refused = "the link points at an internal network address"
            raise Refused(self.refused)
        return results

    async def close(self) -> None:
        """Release the wrapped resolver."""
        await self._inner.close()
