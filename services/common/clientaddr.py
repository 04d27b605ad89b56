"""Who is asking: the client's address as the rate limits and the logs count it. Behind a
reverse proxy every request comes from the proxy's address; the proxy's X-Forwarded-For
says who it forwarded for, but a client can write that header too, so it is believed only
when the peer is a configured trusted proxy, and read from the right."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=32)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip())


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(scope: Scope, trusted: list[str] | tuple[str, ...]) -> str:
    client = scope.get("client")
    peer = client[0] if client else "-"
    networks = trusted_networks(tuple(trusted))
    if not networks or not _trusted(peer, networks):
        return peer
    forwarded: list[str] = []
    for key, value in scope.get("headers", []):
        if key == b"x-forwarded-for":
            forwarded.extend(p.strip() for p in value.decode("latin-1").split(","))
    # Walk back from the nearest hop: the first address no trusted proxy vouches for.
    for hop in reversed([h for h in forwarded if h]):
        if not _trusted(hop, networks):
            return hop
    return peer
