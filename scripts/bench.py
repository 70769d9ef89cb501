"""`make bench`: per stack, the median wall time of `python -m synth STACK` over 5 runs beside
the median time of the bare SDK imports that stack needs (its floor), and the ratio."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")
RUNS = 5


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"{'stack':<8} {'synth (s)':>10} {'imports (s)':>12} {'ratio':>6}  imports")
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            synth = [sys.executable, "-m", "synth", stack, "--out", f"{tmp}/{stack}", "--quiet"]
            listed = subprocess.run([*synth, "--list-sdk-imports"], cwd=ROOT, check=True, capture_output=True, text=True)
            modules = json.loads(listed.stdout.strip().splitlines()[-1])
            floor_cmd = [sys.executable, "-c", "import " + ", ".join(modules)]
            synth_s = statistics.median(timed(synth) for _ in range(RUNS))
            floor_s = statistics.median(timed(floor_cmd) for _ in range(RUNS))
            print(f"{stack:<8} {synth_s:>10.2f} {floor_s:>12.2f} {synth_s / floor_s:>6.1f}  {', '.join(modules)}")


if __name__ == "__main__":
    main()
