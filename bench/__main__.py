"""``make bench``: every benchmark, each stage in its own process so that its peak memory
is its own. Figures are printed and written to bench/results/<name>.json.

    python -m bench                 all of them
    python -m bench registry        one suite
    BENCH_QUICK=1 python -m bench   smaller data, for a smoke run
    BENCH_CITY_SCALES=0.1,1.0       the sizes of the city suite (1.0 is seed 002's city)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.common import write_result

QUICK = os.environ.get("BENCH_QUICK") == "1"
ROWS = "10000" if QUICK else "100000"
RESIDENTS = "50000" if QUICK else "1000000"
CASES = "20000" if QUICK else "200000"
# Two sizes of the city, so that the suite can say how each figure grows with the size.
CITY_SCALES = os.environ.get("BENCH_CITY_SCALES", "0.005,0.01" if QUICK else "0.1,1.0")

SUITES: dict[str, list[list[str]]] = {
    "registry": [
        ["bench.registry", "import", "sqlite", "csv", ROWS],
        ["bench.registry", "import", "postgres", "csv", ROWS],
        ["bench.registry", "import", "postgres", "xlsx", ROWS],
        ["bench.registry", "stats", "sqlite", RESIDENTS],
        ["bench.registry", "stats", "postgres", RESIDENTS],
    ],
    "grid": [
        ["bench.grid", "locate", "sqlite", "6000"],
        ["bench.grid", "locate", "postgres", "6000"],
        ["bench.grid", "sync", "sqlite", "500"],
        ["bench.grid", "sync", "postgres", "500"],
        ["bench.grid", "kpis", "sqlite", CASES],
        ["bench.grid", "kpis", "postgres", CASES],
    ],
    "volunteer": [
        ["bench.volunteer", "signups", "sqlite", "500", "50"],
        ["bench.volunteer", "signups", "postgres", "500", "50"],
        ["bench.volunteer", "rate", "sqlite", RESIDENTS, "100000" if not QUICK else "5000"],
        ["bench.volunteer", "rate", "postgres", RESIDENTS, "100000" if not QUICK else "5000"],
    ],
    "gateway": [
        ["bench.gateway", "postgres", "5" if QUICK else "10", "100" if QUICK else "500"],
    ],
    "assessment": [
        ["bench.assessment", "scores", "sqlite", RESIDENTS],
        ["bench.assessment", "scores", "postgres", RESIDENTS],
    ],
    "city": [["bench.city", "run", scale] for scale in CITY_SCALES.split(",")],
}


def summary(name: str, stages: list[dict]) -> dict:
    """What a suite works out from all its stages together: the city's growth between its
    two sizes, and a province's figures from it."""
    if name == "city":
        from bench.city import growth

        return {"growth": growth(stages)}
    return {}


def run_stage(args: list[str]) -> dict:
    print(f"-- {' '.join(args[1:])}", flush=True)
    env = {**os.environ, "GONGJIAN_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=env, check=False
    )
    lines = [line for line in done.stdout.strip().splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(done.stderr[-3000:], file=sys.stderr)
        return {"stage": " ".join(args[1:]), "error": f"exit {done.returncode}"}
    figures = json.loads(lines[-1])
    print("   " + json.dumps(figures, ensure_ascii=False), flush=True)
    return figures


def main(argv: list[str]) -> None:
    names = argv or list(SUITES)
    for name in names:
        stages = [run_stage(args) for args in SUITES[name]]
        # A smoke run never overwrites the figures of a full one.
        figures = {"quick": QUICK, "stages": stages, **summary(name, stages)}
        path = write_result(f"{name}-quick" if QUICK else name, figures)
        print(f"== {name}: written to {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
