"""Security scan: checkov (`--framework kubernetes`, offline) over every stack's synthesized
manifests. Any finding not accepted in policies/checkov-suppressions.yaml fails, and so does a
suppression that is unknown to checkov or matches nothing (stale).

checkov runs from its own virtualenv (.venv-checkov, built by `make test` from
requirements-checkov.txt), once, over a folder holding every stack's manifests (hard links) and
two more directories: a workload built only from the shared helpers (tests/programs/
shared_workload.py: what every component inherits) and a deliberately careless Deployment
(the scan must be able to fail). Findings are split back per directory. One process rather than
one per stack: checkov's start-up alone is ~2.3 s of CPU and several seconds of wall time,
more than scanning a stack (~1.4 s)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPORT, ROOT, STACKS, Synth, run_synth

CHECKOV_VENV = ROOT / ".venv-checkov"
CHECKOV = CHECKOV_VENV / "bin" / "checkov"
SUPPRESSIONS = ROOT / "policies" / "checkov-suppressions.yaml"
CHECK_ID = re.compile(r"^CKV2?_K8S_\d+$")
ENTRY_KEYS = {"check", "resource", "namespace", "reason"}
SCAN_TIMEOUT = 240

CARELESS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: careless
  namespace: saas-app
spec:
  selector:
    matchLabels: {app: careless}
  template:
    metadata:
      labels: {app: careless}
    spec:
      hostNetwork: true
      containers:
        - name: web
          image: nginx:latest
          securityContext:
            privileged: true
"""


@dataclass(frozen=True)
class Finding:
    check: str
    resource: str  # checkov's id: Kind.namespace.name
    file: str

    @property
    def namespace(self) -> str:
        parts = self.resource.split(".")
        return parts[1] if len(parts) >= 3 else ""


@dataclass
class Scan:
    name: str
    findings: list[Finding]
    files: int
    seconds: float


def _suppressions() -> list[dict[str, Any]]:
    return list(yaml.safe_load(SUPPRESSIONS.read_text())["suppressions"])


def suppressed_by(finding: Finding, entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    for entry in entries:
        if entry["check"] != finding.check:
            continue
        if not fnmatch.fnmatchcase(finding.resource, entry.get("resource", "*")):
            continue
        if not fnmatch.fnmatchcase(finding.namespace, entry.get("namespace", "*")):
            continue
        return entry
    return None


def _json_documents(text: str) -> list[dict[str, Any]]:
    """checkov prints one JSON report per scanned directory (or a list of them), back to back."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while index < len(text.rstrip()):
        while text[index].isspace():
            index += 1
        value, index = decoder.raw_decode(text, index)
        documents.extend(value if isinstance(value, list) else [value])
    return documents


def _run_checkov(root: Path, targets: dict[str, Path]) -> dict[str, Scan]:
    """One checkov process over `root`; findings split back per target directory inside it.
    (checkov given several --directory flags rescans the first one: hence one root.)"""
    started = time.monotonic()
    proc = subprocess.run(
        [str(CHECKOV), "--framework", "kubernetes", "--skip-download", "--quiet", "--compact",
         "--output", "json", "--directory", str(root)],
        capture_output=True, text=True, timeout=SCAN_TIMEOUT,
        # --skip-download: no external checks or guideline mapping are fetched.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    assert proc.returncode in (0, 1), f"checkov failed on {root}: {proc.stderr[-2000:]}"
    findings: dict[str, set[Finding]] = {name: set() for name in targets}
    for report in _json_documents(proc.stdout):
        assert report.get("summary", {}).get("parsing_errors", 0) == 0, f"checkov could not parse {root}"
        for failed in report.get("results", {}).get("failed_checks", []):
            where = Path(failed["file_abs_path"]).resolve()
            owner = next(name for name, directory in targets.items() if where.is_relative_to(directory.resolve()))
            findings[owner].add(Finding(failed["check_id"], failed["resource"], failed["file_path"]))
    seconds = time.monotonic() - started
    return {
        name: Scan(name, sorted(findings[name], key=lambda f: (f.resource, f.check)),
                   len(list(directory.rglob("*.yaml"))), seconds)
        for name, directory in targets.items()
    }


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


@pytest.fixture(scope="session")
def scans(synthesized: dict[str, Synth], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scan]:
    assert CHECKOV.is_file(), "checkov is not installed: run `make test` (it builds .venv-checkov)"
    work = tmp_path_factory.mktemp("checkov")
    sample = run_synth("dev", work / "sample", "--program", str(ROOT / "tests/programs/shared_workload.py"))
    assert sample.returncode == 0, sample.stdout + sample.stderr
    root = work / "scanned"
    for stack in STACKS:  # hard links where they can be: the session's folders stay as they are
        shutil.copytree(synthesized[stack].out / "manifests", root / stack, copy_function=_link_or_copy)
    shutil.copytree(work / "sample" / "manifests", root / "shared-helpers")
    (root / "careless").mkdir()
    (root / "careless" / "Deployment-careless.yaml").write_text(CARELESS)
    started = time.monotonic()
    results = _run_checkov(root, {name: root / name for name in (*STACKS, "shared-helpers", "careless")})
    REPORT.append(f"checkov: one run, {time.monotonic() - started:.1f} s wall ("
                  + ", ".join(f"{s.name}: {s.files} manifests" for s in results.values()) + ")")
    return results


def _unsuppressed(scan: Scan) -> list[str]:
    entries = _suppressions()
    return [f"{f.check} {f.resource} ({f.file})" for f in scan.findings if suppressed_by(f, entries) is None]


@pytest.mark.parametrize("stack_name", STACKS)
def test_no_unsuppressed_checkov_finding(scans: dict[str, Scan], stack_name: str) -> None:
    scan = scans[stack_name]
    # Namespaces and NetworkPolicies have no checkov checks, so a stack of them alone shows no
    # finding at all; the scan must at least have had manifests to read.
    assert scan.files > 0, f"no manifest to scan in {stack_name}"
    assert _unsuppressed(scan) == []


def test_shared_pod_defaults_pass_checkov(scans: dict[str, Scan]) -> None:
    scan = scans["shared-helpers"]
    # Proof the sample was scanned (checkov's resource count is the whole run's): what it reports
    # on it are exactly the accepted findings of the shared pod defaults (checkov-suppressions.yaml).
    assert scan.findings, "checkov scanned nothing in the shared-helpers sample"
    assert _unsuppressed(scan) == []


def test_checkov_catches_a_careless_workload(scans: dict[str, Scan]) -> None:
    caught = {line.split()[0] for line in _unsuppressed(scans["careless"])}
    # latest tag, privileged, host network, no probes, no requests: none of them is accepted.
    assert {"CKV_K8S_14", "CKV_K8S_16", "CKV_K8S_19", "CKV_K8S_8", "CKV_K8S_12"} <= caught


def _known_check_ids() -> set[str]:
    checks = next(CHECKOV_VENV.glob("lib/python3*/site-packages/checkov/kubernetes"))
    ids: set[str] = set()
    for source in checks.rglob("*"):
        if source.suffix in (".py", ".yaml", ".json") and source.is_file():
            ids.update(re.findall(r"\bCKV2?_K8S_\d+\b", source.read_text(errors="ignore")))
    return ids


def test_suppressions_are_well_formed_and_known() -> None:
    entries = _suppressions()
    assert entries, "the suppressions file lists nothing"
    known = _known_check_ids()
    assert len(known) > 50, "could not read checkov's check ids"
    for entry in entries:
        assert set(entry) <= ENTRY_KEYS and "check" in entry, f"unknown keys in {entry}"
        assert CHECK_ID.match(entry["check"]), f"not a checkov Kubernetes check id: {entry['check']}"
        assert entry["check"] in known, f"unknown check id (not in this checkov): {entry['check']}"
        assert len(str(entry.get("reason", "")).split()) >= 8, f"{entry['check']}: say why it is accepted"


def test_no_stale_suppression(scans: dict[str, Scan]) -> None:
    findings = [f for name, scan in scans.items() if name != "careless" for f in scan.findings]
    stale = [e["check"] for e in _suppressions()
             if not any(suppressed_by(f, [e]) is e for f in findings)]
    assert stale == [], f"suppressions that match no finding any more (delete them): {stale}"


def test_suppression_matching_honours_resource_and_namespace() -> None:
    finding = Finding("CKV_K8S_11", "Deployment.saas-app.frontend", "x.yaml")
    assert suppressed_by(finding, [{"check": "CKV_K8S_11", "reason": "r"}])
    assert suppressed_by(finding, [{"check": "CKV_K8S_11", "resource": "Deployment.*.frontend", "reason": "r"}])
    assert not suppressed_by(finding, [{"check": "CKV_K8S_11", "namespace": "saas-data", "reason": "r"}])
    assert not suppressed_by(finding, [{"check": "CKV_K8S_12", "reason": "r"}])
