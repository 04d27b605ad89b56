"""One clock: "now" and "today" are read in services/common/clock.py and nowhere else, so that
tests can move time and every day is counted in the deployment's zone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = re.compile(r"datetime\.now\(|date\.today\(|utcnow\(")
CLOCK = ROOT / "services" / "common" / "clock.py"


def test_no_time_is_read_past_the_clock():
    offenders = []
    for folder in ("services", "gateway", "bench", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == CLOCK or path == Path(__file__).resolve():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if FORBIDDEN.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "read the time through services.common.clock:\n" + "\n".join(offenders)
