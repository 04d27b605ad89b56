"""Typed clients for the calls one service makes to another: pydantic in and out, explicit
parameters, one failure policy (``base.py``), and every endpoint declared as data so that a
contract test checks it against the callee's own OpenAPI document."""

from services.common.clients.base import Endpoint, PeerClient, all_endpoints

__all__ = ["Endpoint", "PeerClient", "all_endpoints"]
