"""Schemathesis over the gateway's merged OpenAPI document: no input gives a 5xx, and every
answer is one the document promises (a documented status, its content type, its schema).

Every operation gets a bounded, derandomised set of generated requests as a platform admin
and as a grid worker: valid and invalid input with generated ids (mostly 404s and 422s), and
valid and invalid input aimed at records this test made (a community, a cell with a building,
households and residents, a case, a unit with an agreement, an activity, a file), so that the
answers of real records are checked against their schemas too.

The session's own app is served over real HTTP by uvicorn on the session's event loop (the
loop its database connections belong to) while Hypothesis runs in a worker thread, and
schemathesis sends and checks each request with its own transport. The run makes records
and may set holidays, indicators or publish scores, so it runs after every other test
(``runs_last``, tests/conftest.py), through accounts of its own; DELETEs run last of all, so
that the records aimed at stay there for every other operation.
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import active_agreement, activity, populate, report, setup_cell
from tests.support import unique

pytestmark = pytest.mark.runs_last

# Examples per operation and caller. 121 operations: about 1,500 requests, 40 s of CPU;
# on this shared 2-core machine (load 5-9) about 2 minutes on SQLite, 3 on PostgreSQL.
MAX_EXAMPLES = {"admin": 8, "grid_worker": 5}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PATH_PARAMETER = re.compile(r"{(\w+)}")


@dataclass
class Account:
    username: str
    password: str
    token: str = ""


@dataclass
class Run:
    base_url: str
    known: dict[str, str]
    accounts: dict[str, Account]
    findings: list[str] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    restored: Counter = field(default_factory=Counter)

    def restore(self, session: requests.Session) -> None:
        """Generated requests may take the grid worker off their cell (their tokens are then
        revoked, as they should be) or log an account out: put the worker back on the cell
        and log in again, so that every operation is tried by a caller who may."""
        for name, account in self.accounts.items():
            me = session.get(f"{self.base_url}/api/v1/me", headers=_bearer(account.token))
            if me.status_code != 401:
                continue
            self.restored[name] += 1
            if name == "grid_worker":
                r = session.put(
                    f"{self.base_url}/api/v1/grid/cells/{self.known['cell_code']}/members",
                    json={"workers": [self.known["user_id"]]},
                    headers=_bearer(self.accounts["admin"].token),
                )
                assert r.status_code == 200, r.text
            r = session.post(
                f"{self.base_url}/api/v1/auth/token",
                json={"username": account.username, "password": account.password},
            )
            assert r.status_code == 200, r.text
            account.token = r.json()["access_token"]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _operation_test(strategy, run: Run, session: requests.Session, caller: str):
    @settings(
        max_examples=MAX_EXAMPLES[caller],
        deadline=None,
        derandomize=True,
        database=None,
        # No shrinking: the first failing request is reported as is (with a curl line), and
        # the run stays bounded.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=strategy)
    def check(case):
        token = run.accounts[caller].token
        response = case.call(base_url=run.base_url, session=session, headers=_bearer(token))
        run.statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)

    return check


def _known_path_parameters(path: str, known: dict[str, str]) -> dict[str, str] | None:
    """The ids of this test's own records for ``path``'s parameters (``code`` is a cell's
    under /grid/, a community's elsewhere), or None when one is not known."""
    values = {}
    for name in PATH_PARAMETER.findall(path):
        key = "cell_code" if name == "code" and "/grid/" in path else name
        if key not in known:
            return None
        values[name] = known[key]
    return values or None


def _strategy(operation, known: dict[str, str]):
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(mode) for mode in modes]
    fixed = _known_path_parameters(operation.path, known)
    if fixed:
        strategies += [operation.as_strategy(mode, path_parameters=fixed) for mode in modes]
    return st.one_of(strategies)


def _fuzz(schema, run: Run) -> None:
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    for operation in operations:
        strategy = _strategy(operation, run.known)
        for caller in run.accounts:
            check = _operation_test(strategy, run, session, caller)
            try:
                check()
            except (Exception, BaseExceptionGroup) as exc:  # every operation's, in one report
                run.findings.append(f"[{caller}] {operation.label}\n{str(exc)[:3000]}")
            run.restore(session)


async def _platform_admin(api) -> Account:
    account = Account(unique("fuzz"), "fuzz-pass-1")
    r = await api.admin.post(
        "/api/v1/users",
        json={"username": account.username, "password": account.password, "role": "platform_admin"},
    )
    assert r.status_code == 201, r.text
    account.token = (await api.login(account.username, account.password)).token
    return account


async def _own_records(api, grid, cell, point) -> dict[str, str]:
    community = cell["community_code"]
    building_id, households, residents = await populate(api, cell, point)
    case = await report(grid, point)
    unit, _, agreement = await active_agreement(api, community)
    event = await activity(api, community)
    upload = await api.admin.post(
        "/api/v1/files", files={"file": ("a.pdf", PDF, "application/pdf")}
    )
    assert upload.status_code == 201, upload.text
    return {
        "code": community,
        "cell_code": cell["code"],
        "building_id": building_id,
        "household_id": households[0],
        "resident_id": residents[0],
        "case_id": case["id"],
        "unit_id": unit["id"],
        "agreement_id": agreement["id"],
        "activity_id": event["id"],
        "file_id": upload.json()["id"],
        "user_id": (await grid.get("/api/v1/me")).json()["id"],
    }


async def test_no_generated_request_gets_a_5xx_or_an_answer_the_document_does_not_promise(
    app, client, api, new_community, spot, worker
):
    schema = schemathesis.openapi.from_dict((await client.get("/openapi.json")).json())
    cell, grid, point = await setup_cell(api, new_community, spot, worker)
    accounts = {
        "admin": await _platform_admin(api),
        "grid_worker": Account(grid.username, "grid-pass-1", grid.token),  # tests/conftest.py
    }

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    run = Run(
        base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        known=await _own_records(api, grid, cell, point),
        accounts=accounts,
    )
    started = time.perf_counter()
    try:
        await asyncio.to_thread(_fuzz, schema, run)
    finally:
        server.should_exit = True
        await serving
        sock.close()

    print(
        f"\nschemathesis: {sum(run.statuses.values())} requests in "
        f"{time.perf_counter() - started:.0f} s, by status {sorted(run.statuses.items())}, "
        f"accounts restored {dict(run.restored)}"
    )
    report_ = "\n\n".join(run.findings)
    assert not run.findings, f"{len(run.findings)} operations failed:\n\n{report_}"
