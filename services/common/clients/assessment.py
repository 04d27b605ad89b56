"""What other services ask of the assessment service: nothing yet. The module is here so
that a first call is added the same way as every other (an ``Endpoint`` and a method)."""

from __future__ import annotations

from services.common.clients.base import PeerClient

SERVICE = "assessment"


class AssessmentClient(PeerClient):
    service = SERVICE
