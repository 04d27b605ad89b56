"""The cross-scope matrix as one table: a community in another street (STREET_B) holds one
record of every resource, and every role of street A — its street admin, a community admin,
a grid worker, a unit's contact — and a resident reach none of it. Every read, change,
action and delete on one of its records answers 404 or 403 (a create that names it may also
be a 422 naming the field), never 2xx; every list, with and without filters pointing at that
community, leaves it out. Each cell of the table is a test of its own.

Public by rule, and so not in the table (README, "Who sees what"): a published activity (a
resident finds and joins activities anywhere, so signing up is not refused either), and the
shared facilities residents can find (``/assessment/facilities``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from services.common.clock import clock
from tests.factories import (
    HOME,
    PDF,
    STREET_B,
    YEAR,
    active_agreement,
    activity,
    agreement_body,
    make_cell,
    populate,
    report,
    roster,
    unit,
    uploaded,
    volunteer,
)
from tests.support import Api, unique


@dataclass
class World:
    """Everything of the other street's community, by name: ids, codes and a point."""

    ids: dict[str, str] = field(default_factory=dict)
    point: tuple[float, float] = (0.0, 0.0)
    own_admin: object = None  # the street admin of STREET_B: the control row

    def __getitem__(self, key: str) -> str:
        return self.ids[key]


@pytest.fixture(scope="module")
async def world(client, tokens, community_maker, spot_maker) -> World:
    api = Api(client, tokens)
    admin = api.admin
    w = World()
    community = await community_maker(STREET_B, "花园路矩阵社区")
    lat, lng = spot_maker()
    cell = await make_cell(api, community, lat, lng, size=0.004)
    w.point = (lat + 0.002, lng + 0.002)
    building, households, residents = await populate(api, cell, w.point)
    w.ids.update(
        community=community,
        cell=cell["code"],
        building=building,
        household=households[0],
        resident=residents[0],
    )
    username = unique("sb")
    r = await admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "street-b-pass",
            "role": "street_admin",
            "scope": [STREET_B],
        },
    )
    assert r.status_code == 201, r.text
    w.own_admin = await api.login(username, "street-b-pass")
    content, _ = roster(community, 1)
    job = await w.own_admin.post(
        "/api/v1/registry/imports",
        data={"kind": "residents"},
        files={"file": ("r.csv", content, "text/csv")},
    )
    assert job.status_code == 202, job.text
    w.ids["import_job"] = job.json()["id"]

    photo = await uploaded(admin)
    case = await report(admin, w.point, photos=[photo])
    w.ids.update(file=photo, case=case["id"])
    visit = await admin.post(
        "/api/v1/grid/visits",
        json={"household_id": households[0], "visited_at": clock.now().isoformat()},
    )
    assert visit.status_code == 201, visit.text
    w.ids["visit"] = visit.json()["id"]

    person, vol = await volunteer(api, community)
    team = await admin.post(
        "/api/v1/volunteer/teams",
        json={"community_code": community, "name": "矩阵服务队", "kind": "general"},
    )
    assert team.status_code == 201, team.text
    event = await activity(api, community, start_in=timedelta(minutes=30))
    signup = await person.post(f"/api/v1/volunteer/activities/{event['id']}/signups")
    assert signup.status_code == 201, signup.text
    entry = await admin.post(
        "/api/v1/volunteer/hours/adjustments",
        json={
            "volunteer_id": vol["id"],
            "hours": "1.5",
            "service_date": clock.today().isoformat(),
            "reason": "补录线下服务",
        },
    )
    assert entry.status_code == 201, entry.text
    w.ids.update(
        volunteer=vol["id"], team=team.json()["id"], activity=event["id"], entry=entry.json()["id"]
    )

    the_unit, contact, agreement = await active_agreement(api, community, by=admin)
    evidence = await uploaded(contact, PDF, "evidence.pdf")
    record = await contact.post(
        f"/api/v1/assessment/agreements/{agreement['id']}/records",
        json={
            "pledge_id": agreement["pledges"][0]["id"],
            "day": f"{YEAR}-02-01",
            "quantity": 1,
            "description": "义诊",
            "evidence": [evidence],
        },
    )
    assert record.status_code == 201, record.text
    meeting = await admin.post(
        "/api/v1/assessment/meetings",
        json={"community_code": community, "day": f"{YEAR}-02-02", "minutes": "联席会议纪要"},
    )
    assert meeting.status_code == 201, meeting.text
    snapshot = await admin.post(
        "/api/v1/assessment/scores/publish", json={"area": community, "period": str(YEAR)}
    )
    assert snapshot.status_code in (200, 201), snapshot.text
    username = unique("cb")
    r = await admin.post(
        "/api/v1/users",
        json={
            "username": username,
            "password": "community-b-pass",
            "role": "community_admin",
            "scope": [community],
        },
    )
    assert r.status_code == 201, r.text
    community_b = await api.login(username, "community-b-pass")
    application = await community_b.post(
        "/api/v1/assessment/applications",
        json={"community_code": community, "year": YEAR, "statement": "申报示范社区"},
    )
    assert application.status_code == 201, application.text
    contact_account = (await contact.get("/api/v1/me")).json()
    w.ids.update(
        unit=the_unit["id"],
        agreement=agreement["id"],
        pledge=agreement["pledges"][0]["id"],
        record=record.json()["id"],
        evidence=evidence,
        meeting=meeting.json()["id"],
        application=application.json()["id"],
        contact_user=contact_account["id"],
    )
    return w


@pytest.fixture(scope="module")
async def callers(client, tokens, world) -> dict:
    """The roles of street A; the resident is a volunteer of street A's demo community."""
    api = Api(client, tokens)
    resident, _ = await volunteer(api, HOME)
    return {
        "street_b_admin": world.own_admin,
        "street_admin": api.street,
        "community_admin": api.community,
        "grid_worker": api.grid,
        "unit_contact": api.unit,
        "resident": resident,
    }


ROLES = ("street_admin", "community_admin", "grid_worker", "unit_contact", "resident")

REFUSED = {403, 404}
REFUSED_OR_FIELD = {403, 404, 422}  # a create that names the record in its body


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # formatted with the world's ids
    body: object = None
    params: dict | None = None
    refused: frozenset[int] = frozenset(REFUSED)

    def format(self, w: World) -> tuple[str, object, dict | None]:
        def fill(value):
            if isinstance(value, str):
                return value.format(**w.ids, year=YEAR, lat=w.point[0], lng=w.point[1])
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        return fill(self.path), fill(self.body), fill(self.params)


def create(path: str, body: dict, **kw) -> Call:
    return Call("POST", path, body, refused=frozenset(REFUSED_OR_FIELD), **kw)


R, G, V, A = "/api/v1/registry", "/api/v1/grid", "/api/v1/volunteer", "/api/v1/assessment"
PERIOD = {"area": "{community}", "period": "{year}"}
TODAY = f"{YEAR}-01-02"

ON_A_RECORD: dict[str, Call] = {
    # registry: the community, its building, household, resident, unit, import job
    "area:get": Call("GET", R + "/areas/{community}"),
    "area:patch": Call("PATCH", R + "/areas/{community}", {"name": "改名社区"}),
    "area:children": Call("GET", R + "/areas/{community}/children"),
    "area:stats": Call("GET", R + "/areas/{community}/stats"),
    "area:children_stats": Call("GET", R + "/areas/{community}/children/stats"),
    "area:recount": Call("POST", R + "/areas/{community}/recount"),
    "building:get": Call("GET", R + "/buildings/{building}"),
    "building:patch": Call("PATCH", R + "/buildings/{building}", {"name": "改名楼"}),
    "building:delete": Call("DELETE", R + "/buildings/{building}"),
    "household:get": Call("GET", R + "/households/{household}"),
    "household:patch": Call("PATCH", R + "/households/{household}", {"door_no": "909"}),
    "resident:get": Call("GET", R + "/residents/{resident}"),
    "resident:patch": Call("PATCH", R + "/residents/{resident}", {"name": "改名"}),
    "resident:move_out": Call(
        "POST",
        R + "/residents/{resident}/move-out",
        {"moved_out_on": TODAY, "reason": "迁出"},
    ),
    "resident:reveal": Call("POST", R + "/residents/{resident}/reveal", {"reason": "核实身份"}),
    "unit:get": Call("GET", R + "/units/{unit}"),
    "unit:patch": Call("PATCH", R + "/units/{unit}", {"contact_name": "改名"}),
    "import:get": Call("GET", R + "/imports/{import_job}"),
    "import:errors": Call("GET", R + "/imports/{import_job}/errors.xlsx"),
    "building:create": create(
        R + "/buildings",
        {"community_code": "{community}", "name": "新楼", "lat": "{lat}", "lng": "{lng}"},
    ),
    "household:create": create(R + "/households", {"building_id": "{building}", "door_no": "1"}),
    "unit:create": create(R + "/units", unit("{community}")),
    # grid: the cell, the case, the visit's household
    "cell:get": Call("GET", G + "/cells/{cell}"),
    "cell:patch": Call("PATCH", G + "/cells/{cell}", {"name": "改名网格"}),
    "cell:delete": Call("DELETE", G + "/cells/{cell}"),
    "cell:members": Call("PUT", G + "/cells/{cell}/members", {"workers": []}),
    "cell:coverage": Call("GET", G + "/cells/{cell}/coverage", params={"period": "{year}"}),
    "case:get": Call("GET", G + "/cases/{case}"),
    "case:transition": Call("POST", G + "/cases/{case}/transitions", {"action": "accept"}),
    "case:kpis": Call("GET", G + "/cases/kpis", params=PERIOD),
    "visit:create": create(
        G + "/visits", {"household_id": "{household}", "visited_at": TODAY + "T10:00:00+08:00"}
    ),
    # volunteer: the volunteer, hours, team, the activity's sign-ups and attendance
    "volunteer:hours": Call("GET", V + "/volunteers/{volunteer}/hours"),
    "volunteer:approve": Call("POST", V + "/volunteers/{volunteer}/approve"),
    "volunteer:reject": Call("POST", V + "/volunteers/{volunteer}/reject"),
    "hours:adjust": create(
        V + "/hours/adjustments",
        {"volunteer_id": "{volunteer}", "hours": "1", "service_date": TODAY, "reason": "补录"},
    ),
    "hours:approve": Call("POST", V + "/hours/adjustments/{entry}/approve"),
    "hours:reject": Call("POST", V + "/hours/adjustments/{entry}/reject"),
    "team:members": Call("PUT", V + "/teams/{team}/members", {"volunteer_ids": []}),
    "team:create": create(
        V + "/teams", {"community_code": "{community}", "name": "新队", "kind": "general"}
    ),
    "signups:list": Call("GET", V + "/activities/{activity}/signups"),
    "activity:checkin_token": Call("GET", V + "/activities/{activity}/checkin-token"),
    "activity:cancel": Call("POST", V + "/activities/{activity}/cancel"),
    "activity:finish": Call("POST", V + "/activities/{activity}/finish"),
    "attendance:check_in": Call(
        "POST",
        V + "/activities/{activity}/attendance",
        {"action": "check_in", "lat": 34.75, "lng": 113.65},
        refused=frozenset({403, 404, 409}),  # a public activity: "you did not sign up"
    ),
    "stats:registration_rate": Call("GET", V + "/stats/registration-rate", params=PERIOD),
    "stats:party_members": Call("GET", V + "/stats/party-members", params={"area": "{community}"}),
    # assessment: the agreement, its record, the meeting, the snapshot, the application
    "agreement:get": Call("GET", A + "/agreements/{agreement}"),
    "agreement:sign": Call("POST", A + "/agreements/{agreement}/sign", {"party": "community"}),
    "agreement:amend": Call(
        "POST", A + "/agreements/{agreement}/amend", agreement_body("{unit}", "{community}")
    ),
    "agreement:terminate": Call(
        "POST", A + "/agreements/{agreement}/terminate", {"reason": "终止协议"}
    ),
    "agreement:create": create(A + "/agreements", agreement_body("{unit}", "{community}")),
    "records:list": Call("GET", A + "/agreements/{agreement}/records"),
    "records:create": Call(
        "POST",
        A + "/agreements/{agreement}/records",
        {"pledge_id": "{pledge}", "day": TODAY, "quantity": 1, "description": "便民服务"},
    ),
    "record:confirm": Call("POST", A + "/records/{record}/confirm", {}),
    "record:dispute": Call("POST", A + "/records/{record}/dispute", {"note": "存疑"}),
    "meeting:create": create(
        A + "/meetings", {"community_code": "{community}", "day": TODAY, "minutes": "纪要"}
    ),
    "snapshot:scores": Call("GET", A + "/scores", params=PERIOD),
    "snapshot:xlsx": Call("GET", A + "/scores.xlsx", params=PERIOD),
    "snapshot:unit_scores": Call("GET", A + "/unit-scores", params=PERIOD),
    "snapshot:publish": create(A + "/scores/publish", {"area": "{community}", "period": "{year}"}),
    "application:get": Call("GET", A + "/applications/{application}"),
    "application:transition": Call(
        "POST", A + "/applications/{application}/transitions", {"action": "recommend"}
    ),
    "application:create": create(
        A + "/applications",
        {"community_code": "{community}", "year": "{year}", "statement": "申报"},
    ),
    # gateway: the case's photo, the record's evidence, the unit contact's account
    "file:photo": Call("GET", "/api/v1/files/{file}"),
    "file:evidence": Call("GET", "/api/v1/files/{evidence}"),
    "user:get": Call("GET", "/api/v1/users/{contact_user}"),
    "file:lookup": Call("POST", "/api/v1/files/lookup", {"ids": ["{file}", "{evidence}"]}),
}

LISTS: dict[str, Call] = {
    "areas": Call("GET", R + "/areas", params={"limit": 100}),
    "areas?parent": Call("GET", R + "/areas", params={"parent": STREET_B, "limit": 100}),
    "areas?under": Call("GET", R + "/areas", params={"under": "{community}", "limit": 100}),
    "buildings": Call("GET", R + "/buildings", params={"limit": 100}),
    "buildings?community": Call("GET", R + "/buildings", params={"community": "{community}"}),
    "buildings?cell": Call("GET", R + "/buildings", params={"cell": "{cell}"}),
    "households": Call("GET", R + "/households", params={"limit": 100}),
    "households?community": Call("GET", R + "/households", params={"community": "{community}"}),
    "households?building": Call("GET", R + "/households", params={"building_id": "{building}"}),
    "residents": Call("GET", R + "/residents", params={"limit": 100}),
    "residents?community": Call("GET", R + "/residents", params={"community": "{community}"}),
    "residents?household": Call("GET", R + "/residents", params={"household_id": "{household}"}),
    "units": Call("GET", R + "/units", params={"limit": 100}),
    "units?community": Call("GET", R + "/units", params={"community": "{community}"}),
    "audit_log": Call("GET", R + "/audit-log", params={"limit": 100}),
    "audit_log?subject": Call("GET", R + "/audit-log", params={"subject_id": "{resident}"}),
    "cell_counts?cells": Call("GET", R + "/cell-counts", params={"cells": "{cell}"}),
    "registry_sync?cells": Call(
        "GET", R + "/sync", params={"cells": "{cell}", "until": "2100-01-01T00:00:00+08:00"}
    ),
    "cells": Call("GET", G + "/cells", params={"limit": 100}),
    "cells?community": Call("GET", G + "/cells", params={"community": "{community}"}),
    "visits": Call("GET", G + "/visits", params={"limit": 100}),
    "visits?cell": Call("GET", G + "/visits", params={"cell": "{cell}"}),
    "visits?household": Call("GET", G + "/visits", params={"household_id": "{household}"}),
    "cases": Call("GET", G + "/cases", params={"limit": 100}),
    "cases?community": Call("GET", G + "/cases", params={"community": "{community}"}),
    "cases?cell": Call("GET", G + "/cases", params={"cell": "{cell}"}),
    "grid_sync": Call("GET", G + "/sync"),
    "locate": Call("GET", G + "/locate", params={"lat": "{lat}", "lng": "{lng}"}),
    "volunteers": Call("GET", V + "/volunteers", params={"limit": 100}),
    "volunteers?community": Call("GET", V + "/volunteers", params={"community": "{community}"}),
    "teams": Call("GET", V + "/teams", params={"limit": 100}),
    "teams?community": Call("GET", V + "/teams", params={"community": "{community}"}),
    "agreements": Call("GET", A + "/agreements", params={"limit": 100}),
    "agreements?community": Call("GET", A + "/agreements", params={"community": "{community}"}),
    "agreements?unit": Call("GET", A + "/agreements", params={"unit_id": "{unit}"}),
    "meetings": Call("GET", A + "/meetings", params={"limit": 100}),
    "meetings?community": Call("GET", A + "/meetings", params={"community": "{community}"}),
    "applications": Call("GET", A + "/applications", params={"limit": 100}),
    "applications?year": Call("GET", A + "/applications", params={"year": "{year}"}),
    "users": Call("GET", "/api/v1/users", params={"limit": 100}),
}

# What a list must not name: every record of the other street's community (the public
# activity aside), its code included.
HIDDEN = (
    "community",
    "cell",
    "building",
    "household",
    "resident",
    "unit",
    "import_job",
    "case",
    "visit",
    "file",
    "volunteer",
    "team",
    "entry",
    "agreement",
    "record",
    "evidence",
    "meeting",
    "application",
    "contact_user",
)


async def send(caller, call: Call, w: World):
    path, body, params = call.format(w)
    kwargs = {"params": params} if params else {}
    if call.method in ("POST", "PUT", "PATCH"):
        kwargs["json"] = body if body is not None else {}
    return await getattr(caller, call.method.lower())(path, **kwargs)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(ON_A_RECORD))
async def test_a_record_of_another_street_is_out_of_reach(world, callers, role, name):
    call = ON_A_RECORD[name]
    r = await send(callers[role], call, world)
    assert r.status_code in call.refused, f"{role} {call.method} {call.path}: {r.text[:300]}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", list(LISTS))
async def test_a_list_never_names_another_streets_records(world, callers, role, name):
    r = await send(callers[role], LISTS[name], world)
    if r.status_code in REFUSED:
        return  # the role may not list these at all
    assert r.status_code == 200, r.text[:300]
    text = json.dumps(r.json(), ensure_ascii=False)
    named = [key for key in HIDDEN if world[key] in text]
    assert not named, f"{role} {name} names {named}: {text[:300]}"


# --- the control row: the other street's own admin reaches all of it, so a refusal above is
# the scope's doing, not a call the platform would refuse anyway

READS = [name for name, call in ON_A_RECORD.items() if call.method == "GET"]
# lists whose answer may rightly name none of it even for its own street: the grid worker's
# sync, and an audit log with no full read in it yet
SILENT_LISTS = {"grid_sync", "audit_log", "audit_log?subject", "users", "cell_counts?cells"}


@pytest.mark.parametrize("name", READS)
async def test_the_other_streets_admin_reads_each_record(world, callers, name):
    r = await send(callers["street_b_admin"], ON_A_RECORD[name], world)
    assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize("name", sorted(set(LISTS) - SILENT_LISTS))
async def test_the_other_streets_admin_finds_them_in_each_list(world, callers, name):
    r = await send(callers["street_b_admin"], LISTS[name], world)
    assert r.status_code == 200, r.text[:300]
    text = json.dumps(r.json(), ensure_ascii=False)
    assert any(world[key] in text for key in HIDDEN), text[:300]
