"""Pure logic of a roster's way from the parser to the writer."""

from __future__ import annotations

import base64
import pickle
import subprocess
import sys
from datetime import date

from services.common.pii import PiiCipher
from services.common.validators import parse_id_number
from services.registry.imports.pipeline import _packed, _unpacked
from services.registry.imports.rows import SEALED_COLUMNS, Context, RosterResident, parse_chunk
from services.registry.personal import seal_id_number, seal_phone
from tests.support import make_id_number

CIPHER = PiiCipher(base64.b64encode(b"k" * 32).decode(), "index-key")
HEADER = ["姓名", "身份证号", "手机号", "社区代码", "楼栋", "门牌号", "与户主关系", "标签"]


def _context() -> Context:
    return Context(
        scope=[],
        unrestricted=True,
        communities={"410105001001"},
        tags_by_name={"党员": "party_member"},
        cipher=CIPHER,
        today=date(2026, 12, 8),
        max_cell_chars=100,
    )


def test_the_sealed_columns_are_in_the_order_the_sealing_gives_them():
    citizen = parse_id_number(make_id_number(date(1980, 1, 2)))
    sealed = {**seal_id_number(CIPHER, citizen), **seal_phone(CIPHER, "13812345678")}
    assert tuple(sealed) == SEALED_COLUMNS


def test_a_batch_crosses_from_the_parsing_process_as_it_was_parsed():
    rows = [
        [
            "黄博然",
            make_id_number(),
            "13812345678",
            "410105001001",
            "3号 楼",
            "1单元101",
            "户主",
            "党员",
        ],
        ["坏一", "123", "", "410105001001", "3号楼", "", "", ""],
        ["欧阳娜", make_id_number(), "", "410105001001", "", "", "", ""],
    ]
    index = {h: i for i, h in enumerate(HEADER)}
    batch = parse_chunk("residents", rows, 1, index, _context())
    crossed = _unpacked(pickle.loads(pickle.dumps(_packed(batch))))
    assert crossed == [
        batch[0].__class__(p.row, p.values, p.data, p.problems, p.place if p.problems else None)
        for p in batch
    ]
    good = crossed[0].data
    assert isinstance(good, RosterResident)
    assert good.building_key == ("410105001001", "3号楼") and good.tags == ["party_member"]
    assert [q.field for q in crossed[1].problems] == ["身份证号"]


def test_the_parsing_process_starts_without_the_writer_or_the_models():
    """The parsing process imports what parsing needs: its start is the writer's wait for
    the first batch."""
    code = (
        "import sys, services.registry.imports.pipeline; "
        "print(sorted(m for m in sys.modules if m.startswith('services.registry')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for heavy in ("writing", "models", "repository", "jobs", "service."):
        assert heavy not in loaded, loaded
