"""Tests for bot.media.netguard: which addresses count as internal, and the resolver's verdict."""

from __future__ import annotations

import socket

import pytest

from bot.media import netguard
from bot.media.netguard import GuardedResolver, Refused, check_literal, is_public, origin_of

INTERNAL = [
    "127.0.0.1",  # loopback
    "10.0.0.5",  # private
    "172.16.3.4",
    "192.168.1.1",
    "169.254.169.254",  # link-local: the cloud metadata endpoint
    "0.0.0.0",  # unspecified (Linux connects it to loopback)
    "224.0.1.1",  # multicast
    "240.0.0.1",  # reserved
    "100.64.0.1",  # carrier-grade NAT
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 around 169.254.169.254
    "not an address",
]


@pytest.mark.parametrize("address", INTERNAL)
def test_internal_addresses(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert is_public(address)


def test_literals() -> None:
    assert check_literal("93.184.216.34") is None
    assert check_literal("cdn.example.com") is None  # a name: judged after resolution
    assert check_literal("127.0.0.1") is not None
    assert check_literal("::1") is not None
    assert check_literal("127.1") is not None  # legacy shorthand that sockets accept


def test_origins_are_normalised() -> None:
    assert origin_of("https://Gateway.Example.:443/v1") == ("https", "gateway.example", 443)
    assert origin_of("http://gateway.example/v1") == ("http", "gateway.example", 80)
    assert origin_of("ftp://gateway.example/") is None


class _Answers:
    """A resolver stand-in answering one fixed list of addresses."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict[str, object]]:
        return [
            {
                "hostname": host,
                "host": h,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for h in self.hosts
        ]

    async def close(self) -> None:
        return None


async def test_the_resolver_judges_the_resolved_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public-looking name that resolves (or rebinds) to an internal address is refused."""
    monkeypatch.setattr(netguard, "DefaultResolver", lambda: _Answers("93.184.216.34", "10.0.0.1"))
    resolver = GuardedResolver()
    with pytest.raises(Refused):
        await resolver.resolve("rebind.example", 443)
    assert resolver.refused is not None
    resolver.trusted_host = ("rebind.example", 443)  # the provider's own origin: anything goes
    assert len(await resolver.resolve("rebind.example", 443)) == 2


async def test_the_resolver_passes_public_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard, "DefaultResolver", lambda: _Answers("93.184.216.34"))
    resolver = GuardedResolver()
    assert [r["host"] for r in await resolver.resolve("cdn.example", 443)] == ["93.184.216.34"]
    assert resolver.refused is None
