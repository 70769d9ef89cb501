#!/usr/bin/env python3
"""Refresh the vendored upstream data files listed in upstream/sources.json.

Needs internet access (run it on a workstation, not in CI). Every entry is downloaded from its
recorded `url` (the raw file at the pinned commit) and compared with the vendored copy:

    python scripts/refresh-upstream.py           # download and overwrite what changed
    python scripts/refresh-upstream.py --check   # only report differences, exit 1 if any

To move a pin, edit the entries' `ref`, `commit` and `url` in sources.json first. Entries with
`built_by` (the RabbitMQ operator manifests) are rebuilt by that script from the repository at
the tag; here they are only compared, object by object, with the published release asset.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "upstream"


def _objects(data: bytes) -> list[str]:
    """The YAML documents as canonical JSON, in a stable order (formatting and comments ignored)."""
    import yaml

    return sorted(json.dumps(doc, sort_keys=True) for doc in yaml.safe_load_all(data) if doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a file differs")
    args = parser.parse_args()
    entries = json.loads((UPSTREAM / "sources.json").read_text())
    changed = 0
    for entry in entries:
        target = UPSTREAM / entry["path"]
        with urllib.request.urlopen(entry["url"], timeout=60) as response:  # noqa: S310 - https URLs from sources.json
            data = response.read()
        if entry.get("built_by"):
            # Rebuilt from the repository by a script (no byte copy of the release asset):
            # compare the objects, never overwrite; rerun the script to move the pin.
            same = target.exists() and _objects(target.read_bytes()) == _objects(data)
            changed += 0 if same else 1
            if not same:
                print(f"differs: {entry['path']} (objects differ from {entry['url']}; see {entry['built_by']})")
            continue
        if target.exists() and target.read_bytes() == data:
            continue
        changed += 1
        print(f"{'differs' if args.check else 'updated'}: {entry['path']} ({entry['repository']}@{entry['ref']})")
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
    print(f"{len(entries)} files checked, {changed} {'differ' if args.check else 'updated'}")
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
