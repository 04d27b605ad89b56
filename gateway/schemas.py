"""The gateway's wire format."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.common.auth import STAFF_ROLES
from services.common.schemas import Timestamp
from services.common.validators import FileIdStr, ScopeCodeStr


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class WeChatLoginRequest(BaseModel):
    code: str = Field(min_length=1, max_length=256, description="wx.login() code")


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=16, max_length=256)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")


def _password_policy(value: str) -> str:
    if len(value) < 8 or value.isdigit():
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError("password_weak", "8+ characters, not all digits")
    return value


StaffRole = Literal[STAFF_ROLES]  # type: ignore[valid-type]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: Annotated[str, AfterValidator(_password_policy)] = Field(max_length=256)
    display_name: str = Field(default="", max_length=64)
    role: StaffRole
    scope: list[ScopeCodeStr] = Field(default_factory=list, max_length=50)
    unit_id: str | None = Field(default=None, max_length=36)
    extra_permissions: list[str] = Field(default_factory=list, max_length=20)


class ScopeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: list[ScopeCodeStr] = Field(min_length=1, max_length=200)


class UserOut(BaseModel):
    id: str
    username: str | None
    display_name: str
    roles: list[str]
    scope: list[str]
    unit_id: str | None = None
    resident_id: str | None = None
    active: bool
    created_at: Timestamp


class LinkedVolunteer(BaseModel):
    id: str
    number: str
    status: str


class MeOut(UserOut):
    permissions: list[str]
    kind: Literal["staff", "resident"]
    volunteer: LinkedVolunteer | None = None


class FileLookupIn(BaseModel):
    """Which of these uploads exist, whose they are and where they belong (for services)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[FileIdStr] = Field(max_length=100)


class FileState(BaseModel):
    id: str
    owner_id: str
    attached_area: str | None


class FileLookupOut(BaseModel):
    items: list[FileState]


class FileOut(BaseModel):
    id: str
    url: str
    sha256: str
    content_type: str
    size: int
