"""`python -m synth STACK [--out DIR] [--diff OTHER_DIR] [--stack-file FILE]`

Runs the program for STACK under Pulumi mocks (no CLI, no plugins, no credentials) and writes
DIR/resources.json, DIR/manifests/, DIR/helm/, DIR/outputs.json, DIR/policy-report.json and
DIR/footprint.json.

Exit codes: 0 ok, 1 invalid configuration (one line per problem), 2 a mandatory policy is
violated, 3 the program failed or registered something the engine would refuse, 4 bad
command-line arguments (a --diff folder that is not a synth output, an --out that is a file).

The output folder is replaced only by a complete synthesis: the new one is written beside it
and swapped in (in a folder that also holds other files, only synth's own entries are replaced;
the rest is never touched). When configuration or the program fails, the previous output is removed, so a
stale build/STACK is never mistaken for the current one. OTHER_DIR is read whole before
anything is written, so it may be DIR itself.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_CONFIG, EXIT_POLICY, EXIT_PROGRAM, EXIT_USAGE = 0, 1, 2, 3, 4


def main(argv: list[str] | None = None) -> int:
    # The cyclic collector stays off while the program imports the SDKs: each import only adds
    # objects that live until exit, yet every few hundred allocations the collector walked the
    # whole growing heap again (pulumi_aws and pulumi_cloudflare are ~2,500 modules of classes):
    # 0.2 s of a dev synthesis, 1.1 s of prod's. synth/run.py turns it back on once the
    # imports are done, after freezing what they allocated. `make bench` prints, beside its
    # plain floor, a bare one that imports this way too (scripts/bench.py).
    gc.disable()
    try:
        return _main(argv)
    finally:
        gc.enable()


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth", description=__doc__.split("\n\n")[1])
    parser.add_argument("stack", help="stack name: dev, staging, prod (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, help="output directory (default build/<stack>)")
    parser.add_argument("--diff", type=Path, metavar="OTHER_DIR", help="print what changed since OTHER_DIR (may be the output directory)")
    parser.add_argument("--stack-file", type=Path, help="read config from this file instead of Pulumi.<stack>.yaml")
    parser.add_argument("--program", type=Path, help="run this program instead of __main__.py (tests)")
    parser.add_argument("--quiet", action="store_true", help="print only errors, mandatory policy failures, warnings and the summary")
    parser.add_argument(
        "--list-sdk-imports", action="store_true", help="print the Pulumi SDK packages the program imported (JSON)"
    )
    parser.add_argument(
        "--list-imports",
        action="store_true",
        help="print every module the synthesis imported outside this project, in import order (JSON; make bench's floor)",
    )
    options = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    from components.config import ConfigError
    from synth import diff as plan
    from synth import run, stackfile

    out = (options.out or run.ROOT / "build" / options.stack).absolute()
    # Everything that can be refused without running the program is refused first.
    base = None
    try:
        _check_output_folder(out)
        if options.diff:
            base = plan.load(options.diff)  # read whole now: `out` may be this very folder
    except (plan.BaseError, OutputFolderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    try:
        synthesis = run.synthesize(options.stack, stack_file=options.stack_file, program_file=options.program)
    except (ConfigError, stackfile.StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("error: no resource was registered", file=sys.stderr)
        _discard(out)
        return EXIT_CONFIG
    except run.SynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        _discard(out)
        return EXIT_PROGRAM
    except Exception:  # noqa: BLE001 - a bug in the program, not bad input: show where
        import traceback

        traceback.print_exc()
        print("error: the program failed (a bug, not a configuration problem)", file=sys.stderr)
        _discard(out)
        return EXIT_PROGRAM

    sys.path.insert(0, str(run.ROOT / "policies"))
    from saas_policies.offline import evaluate

    from synth import capacity, readiness

    records = run.resource_records(synthesis)
    findings = evaluate(records, policy_config(synthesis.environment))
    footprint: dict[str, Any] = {}

    def write(folder: Path) -> None:
        written = run.write(synthesis, findings, folder)
        # Computed from the written manifests and chart values: what the cluster would run.
        footprint.update(capacity.write(folder, written.manifests, written.releases) or {})

    _replace_folder(out, write)

    mandatory = [f for f in findings if f["level"] == "mandatory"]
    labels = {r["urn"]: plan._label(r) for r in records}
    if not options.quiet:
        print(run.tree(synthesis))
    for finding in findings if not options.quiet else mandatory:
        # Which rule, on what, and why: enough to act on without opening policy-report.json.
        where = labels.get(finding["urn"], "the stack")
        print(f"  [{finding['level']}] {finding['policy']} on {where}: {finding['message']}")
    if not options.quiet and footprint:
        print(capacity.render(footprint))
    deploy_warnings = synthesis.unset_secrets + readiness.warnings(synthesis.stack, synthesis.config, synthesis.secret_keys)
    for warning in deploy_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"synth {options.stack}: {len(synthesis.registrations)} resources, "
        f"{len(mandatory)} mandatory and {len(findings) - len(mandatory)} advisory policy findings -> {_shown(out)}"
    )
    if base is not None:
        print(plan.render(plan.diff(base, out)))
    if not options.quiet:
        print(next_steps(options.stack, out, mandatory, deploy_warnings, options.diff is not None))
    if options.list_sdk_imports:
        import json

        print(json.dumps(synthesis.sdk_imports))
    if options.list_imports:
        import json

        print(json.dumps(run.imported_modules()))
    return EXIT_POLICY if mandatory else EXIT_OK


def next_steps(stack: str, out: Path, mandatory: list[dict[str, Any]], deploy_warnings: list[str], diffed: bool) -> str:
    """What a reader does next, given what this run found."""
    target = f"-s {stack}"
    lines = ["next steps:"]
    if mandatory:
        lines.append(f"  fix the {len(mandatory)} mandatory policy finding(s) above (docs/policies.md lists every rule)")
    if deploy_warnings:
        lines.append(f"  set the {len(deploy_warnings)} value(s) the warnings above name (README: first-deploy checklist)")
    if not diffed:
        lines.append(f"  after a change: python -m synth {stack} --diff {_shown(out)}   (the offline plan: old -> new values)")
    lines.append(f"  inspect: {_shown(out)}/manifests, {_shown(out)}/helm, {_shown(out)}/footprint.json")
    lines.append(f"  deploy: pulumi preview {target}, then pulumi up {target} (docs/operations.md)")
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """A path relative to the working directory when it is under it (what the user typed)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class OutputFolderError(Exception):
    pass


def _is_synth_output(folder: Path) -> bool:
    return (folder / "resources.json").is_file()


# What a synthesis writes into its output folder; anything else there is left alone.
SYNTH_ENTRIES = ("resources.json", "outputs.json", "policy-report.json", "footprint.json", "manifests", "helm")


def _check_output_folder(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise OutputFolderError(f"--out {out}: is a file, not a folder; choose a folder (new, empty or a previous output)")


def _owns_whole(out: Path) -> bool:
    """Whether every entry of `out` is synth's own, so the folder can be swapped whole."""
    return all(entry.name in SYNTH_ENTRIES for entry in out.iterdir())


def _discard(out: Path) -> None:
    """A failed run removes the previous output: what is left must never pass for this config.
    Only synth's own entries go; a file of yours in the folder stays."""
    if not (out.is_dir() and _is_synth_output(out)):
        return
    for name in SYNTH_ENTRIES:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    if not any(out.iterdir()):
        out.rmdir()
    print(f"error: removed the previous output {_shown(out)} (it no longer matches the configuration)", file=sys.stderr)


def _replace_folder(out: Path, write: Any) -> None:
    """Write into a fresh folder beside `out`, then move it in: a folder of synth's own is
    swapped whole (it is either the previous complete output or the new one, never a mix);
    in a folder that also holds other files only synth's entries are replaced."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.new-", dir=out.parent))
    try:
        fresh.chmod(0o755)  # mkdtemp makes it private; the output is a plain build folder
        write(fresh)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    if out.exists() and not _owns_whole(out):
        for entry in sorted(fresh.iterdir()):
            target = out / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            entry.rename(target)
        fresh.rmdir()
        return
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        out.rename(old / "previous")
    fresh.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def policy_config(environment: str) -> dict[str, dict[str, str]]:
    """The per-policy config the engine would get from `--policy-pack-config policies/config/<env>.json`."""
    import json

    from synth.run import ROOT

    path = ROOT / "policies" / "config" / f"{environment}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


if __name__ == "__main__":
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`python -m synth dev | head`): the output folder is complete;
        # say nothing more (the Python docs' recipe: stdout to /dev/null, exit 1).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    # Everything is written and closed: leave without the interpreter's teardown, which would
    # deallocate module by module the ~150k (dev) to ~450k (with the cloud SDKs) objects the
    # imports made, and collect them (0.2 s for dev, 0.9 s for prod: as long as the rest of a
    # prod synthesis). Nothing registers exit work that synth needs (outputs are files).
    sys.stderr.flush()
    os._exit(status)
