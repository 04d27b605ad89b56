"""Who is calling: the ``Principal`` read from a verified JWT, the role → permission table,
and the scope rule (a staff account reaches every record whose code starts with one of its
scope prefixes). Every service verifies the token itself; none trusts the gateway blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from services.common.clock import clock
from services.common.errors import Forbidden, Unauthorized
from services.common.ids import new_id
from services.common.settings import Settings

ROLES = (
    "platform_admin",
    "district_admin",
    "street_admin",
    "community_admin",
    "grid_worker",
    "unit_contact",
    "resident",
)
STAFF_ROLES = tuple(role for role in ROLES if role != "resident")

# Who may create whom: an admin creates accounts of a lower rank only.
ROLE_RANK = {
    "platform_admin": 50,
    "district_admin": 45,
    "street_admin": 40,
    "community_admin": 30,
    "grid_worker": 20,
    "unit_contact": 10,
    "resident": 0,
}

ALL = "*"

# What a street office does: its accounts, its registry, its grid, its volunteers and
# co-building, and recommending model communities.
_STREET = frozenset(
    {
        "users:write",
        "audit:read",
        "pii:read",
        "registry:read",
        "registry:write",
        "registry:import",
        "grid:read",
        "grid:write",
        "grid:dispatch",
        "grid:handle",
        "grid:verify",
        "volunteer:read",
        "volunteer:manage",
        "assessment:read",
        "assessment:manage",
        "assessment:recommend",
    }
)

# The default grants of each role. An account may hold extra permissions on top.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "platform_admin": frozenset({ALL}),
    # 区: what a street does, over its streets, and the district's step of the model-community
    # flow (approving what a street recommended).
    "district_admin": _STREET | {"assessment:approve"},
    "street_admin": _STREET,
    "community_admin": frozenset(
        {
            "users:write",
            "pii:read",
            "registry:read",
            "registry:write",
            "registry:import",
            "grid:read",
            "grid:write",
            "grid:dispatch",
            "grid:handle",
            "grid:verify",
            "volunteer:read",
            "volunteer:manage",
            "assessment:read",
            "assessment:manage",
            "assessment:submit",
        }
    ),
    "grid_worker": frozenset(
        {
            "registry:read",
            "grid:read",
            "grid:visit",
            "grid:report",
            "grid:handle",
            "grid:verify",
            "grid:sync",
            "volunteer:read",
            "files:write",
        }
    ),
    # A unit's contact reads the volunteer figures and their own unit's party members'
    # reports (volunteer:unit), never the community's volunteers.
    "unit_contact": frozenset(
        {"assessment:read", "assessment:unit", "volunteer:unit", "files:write"}
    ),
    "resident": frozenset({"volunteer:self", "grid:report", "files:write"}),
}


# Every permission the platform checks. A grant of anything else is refused, by name.
KNOWN_PERMISSIONS: frozenset[str] = frozenset(
    {
        "users:write",
        "users:scope",
        "audit:read",
        "pii:read",
        "files:write",
        "files:lookup",
        "registry:read",
        "registry:write",
        "registry:import",
        "registry:admin",
        "registry:assign_cells",
        "grid:read",
        "grid:write",
        "grid:calendar",
        "grid:dispatch",
        "grid:handle",
        "grid:verify",
        "grid:visit",
        "grid:report",
        "grid:sync",
        "volunteer:read",
        "volunteer:manage",
        "volunteer:self",
        "assessment:read",
        "assessment:manage",
        "assessment:configure",
        "assessment:recommend",
        "assessment:approve",
        "assessment:submit",
        "assessment:unit",
    }
)

# Which extra permissions (beyond the role's own) each role may grant to the accounts it
# creates, by the new account's role. Personal data, audit and account management are never
# handed down by a street or a community: only a platform admin grants those.
EXTRA_GRANTS: dict[str, dict[str, frozenset[str]]] = {
    "platform_admin": {
        role: KNOWN_PERMISSIONS - {"users:scope", "registry:assign_cells", "files:lookup"}
        for role in (
            "district_admin",
            "street_admin",
            "community_admin",
            "grid_worker",
            "unit_contact",
        )
    },
    # A district hands its streets nothing beyond their role, and down the line what a
    # street would.
    "district_admin": {
        "street_admin": frozenset(),
        "community_admin": frozenset({"assessment:recommend", "grid:calendar"}),
        "grid_worker": frozenset({"grid:dispatch", "volunteer:manage"}),
        "unit_contact": frozenset(),
    },
    "street_admin": {
        "community_admin": frozenset({"assessment:recommend", "grid:calendar"}),
        "grid_worker": frozenset({"grid:dispatch", "volunteer:manage"}),
        "unit_contact": frozenset(),
    },
    "community_admin": {
        "grid_worker": frozenset({"grid:dispatch"}),
        "unit_contact": frozenset(),
    },
}


def grant_refusals(
    granter_roles: Iterable[str], role: str, wanted: Iterable[str]
) -> dict[str, str]:
    """Each wanted extra permission that may not be granted, and why: ``unknown`` (no such
    permission) or ``not_grantable`` (not by these roles, to that role)."""
    allowed: set[str] = set()
    for granter in granter_roles:
        allowed |= EXTRA_GRANTS.get(granter, {}).get(role, frozenset())
    refused = {}
    for permission in wanted:
        if permission not in KNOWN_PERMISSIONS:
            refused[permission] = "unknown"
        elif permission not in allowed:
            refused[permission] = "not_grantable"
    return refused


def permissions_for(roles: Iterable[str], extra: Iterable[str] = ()) -> frozenset[str]:
    perms: set[str] = set(extra)
    for role in roles:
        perms |= ROLE_PERMISSIONS.get(role, frozenset())
    return frozenset(perms)


@dataclass(frozen=True)
class Principal:
    user_id: str
    roles: tuple[str, ...] = ()
    scope: tuple[str, ...] = ()
    permissions: frozenset[str] = field(default_factory=frozenset)
    unit_id: str | None = None
    resident_id: str | None = None
    kind: str = "user"  # "user", or "service" for service-to-service calls
    # The account's display name when the token was issued: what a change history shows.
    name: str | None = None

    def has(self, permission: str) -> bool:
        return ALL in self.permissions or permission in self.permissions

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def unrestricted(self) -> bool:
        """Reaches every code (a platform admin, or a trusted service)."""
        return ALL in self.scope

    @property
    def rank(self) -> int:
        return max((ROLE_RANK.get(r, 0) for r in self.roles), default=0)

    def reaches(self, code: str | None) -> bool:
        if self.unrestricted:
            return True
        if not code:
            return False
        return any(code.startswith(prefix) for prefix in self.scope)

    def covers(self, prefix: str) -> bool:
        """True when everything under ``prefix`` is inside this principal's scope (used to
        check that an admin hands out only scope it holds itself)."""
        return self.reaches(prefix)


def issue_access_token(
    settings: Settings,
    *,
    user_id: str,
    roles: Iterable[str],
    scope: Iterable[str],
    permissions: Iterable[str],
    unit_id: str | None = None,
    resident_id: str | None = None,
    ttl_s: int | None = None,
    kind: str = "user",
    name: str | None = None,
) -> tuple[str, int]:
    now = clock.now()
    ttl = ttl_s if ttl_s is not None else settings.access_token_ttl_s
    claims: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "sub": user_id,
        "typ": "access" if kind == "user" else "service",
        "roles": list(roles),
        "scope": list(scope),
        "perms": sorted(permissions),
        # To the microsecond (RFC 7519 allows a fraction): a login made right after a
        # revocation must count, and one made right before must not.
        "iat": now.timestamp(),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": new_id(),
    }
    if unit_id:
        claims["unit"] = unit_id
    if resident_id:
        claims["resident"] = resident_id
    if name:
        claims["name"] = name
    token = jwt.encode(claims, settings.secret_key, algorithm=settings.jwt_algorithm)
    return token, ttl


class Revocations:
    """Who must log in again: per account, the instant before which its access tokens no
    longer count (a revoked refresh family, a logout, a changed scope). Every process keeps
    one, fed by the ``auth.revoked`` events the gateway publishes (services.common.events),
    so a revocation takes effect within the seconds an event takes, not the 15 minutes a
    token lives."""

    def __init__(self) -> None:
        self._not_before: dict[str, float] = {}

    def revoke(self, user_id: str, not_before: float) -> None:
        self._not_before[user_id] = max(self._not_before.get(user_id, 0.0), not_before)

    def revoked(self, user_id: str, issued_at: float) -> bool:
        return issued_at < self._not_before.get(user_id, 0.0)

    def forget_before(self, instant: float) -> None:
        """Entries older than any token still alive can go."""
        self._not_before = {u: t for u, t in self._not_before.items() if t >= instant}


revocations = Revocations()


def decode_access_token(token: str, settings: Settings) -> Principal:
    try:
        # Expiry is checked against our clock below, so that tests can move time.
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[settings.jwt_algorithm],
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub", "iat"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise Unauthorized("auth.token_invalid") from None
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= clock.now().timestamp():
        raise Unauthorized("auth.token_expired")
    if claims.get("typ") not in ("access", "service"):
        raise Unauthorized("auth.token_invalid")
    if revocations.revoked(str(claims["sub"]), float(claims["iat"])):
        raise Unauthorized("auth.token_revoked")
    return Principal(
        user_id=str(claims["sub"]),
        roles=tuple(claims.get("roles") or ()),
        scope=tuple(claims.get("scope") or ()),
        permissions=frozenset(claims.get("perms") or ()),
        unit_id=claims.get("unit"),
        resident_id=claims.get("resident"),
        kind="user" if claims["typ"] == "access" else "service",
        name=claims["name"] if isinstance(claims.get("name"), str) else None,
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def principal_from_request(request: Request) -> Principal:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("auth.required")
    principal = decode_access_token(token, request.app.state.settings)
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    return principal_from_request(request)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(*permissions: str) -> Callable[..., Any]:
    """A dependency: the caller must be authenticated and hold one of ``permissions``."""

    async def check(principal: PrincipalDep) -> Principal:
        if not any(principal.has(p) for p in permissions):
            raise Forbidden()
        return principal

    check.__name__ = "require_" + "_or_".join(p.replace(":", "_") for p in permissions)
    return check
