"""Record every stack's resource URNs in tests/fixtures/urns/<stack>.txt (`make urns`).

tests/test_urns.py fails when a recorded URN is no longer produced: `pulumi up` would delete
that resource, or replace it when a new URN took its place. Run this after a deliberate change
of that kind and commit the diff, so the review sees what would be deleted or replaced.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")


def main(stacks: list[str]) -> int:
    target = ROOT / "tests" / "fixtures" / "urns"
    target.mkdir(parents=True, exist_ok=True)
    for stack in stacks or STACKS:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / stack
            proc = subprocess.run(
                [sys.executable, "-m", "synth", stack, "--out", str(out)], cwd=ROOT, capture_output=True, text=True
            )
            if proc.returncode != 0:
                sys.stderr.write(proc.stdout + proc.stderr)
                return proc.returncode
            urns = sorted(r["urn"] for r in json.loads((out / "resources.json").read_text()))
        (target / f"{stack}.txt").write_text("\n".join(urns) + "\n")
        print(f"{stack}: {len(urns)} URNs -> {(target / f'{stack}.txt').relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
