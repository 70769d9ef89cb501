"""`python -m synth STACK [--out DIR] [--diff OTHER_DIR]`

Runs the program for STACK under Pulumi mocks (no CLI, no plugins, no credentials) and writes
DIR/resources.json, DIR/manifests/, DIR/helm/, DIR/outputs.json and DIR/policy-report.json.

Exit codes: 0 ok, 1 invalid configuration (one line per problem), 2 a mandatory policy is
violated, 3 the program failed or registered something the engine would refuse.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

EXIT_OK, EXIT_CONFIG, EXIT_POLICY, EXIT_PROGRAM = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth", description=__doc__.split("\n\n")[1])
    parser.add_argument("stack", help="stack name: dev, staging, prod (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, help="output directory (default build/<stack>)")
    parser.add_argument("--diff", type=Path, metavar="OTHER_DIR", help="print what changed since OTHER_DIR")
    parser.add_argument("--stack-file", type=Path, help="read config from this file instead of Pulumi.<stack>.yaml")
    parser.add_argument("--program", type=Path, help="run this program instead of __main__.py (tests)")
    parser.add_argument("--quiet", action="store_true", help="print only errors and the summary line")
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

    out = options.out or run.ROOT / "build" / options.stack
    try:
        synthesis = run.synthesize(options.stack, stack_file=options.stack_file, program_file=options.program)
    except (ConfigError, stackfile.StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        print("error: no resource was registered", file=sys.stderr)
        return EXIT_CONFIG
    except run.SynthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_PROGRAM
    except Exception:  # noqa: BLE001 - a bug in the program, not bad input: show where
        import traceback

        traceback.print_exc()
        print("error: the program failed (a bug, not a configuration problem)", file=sys.stderr)
        return EXIT_PROGRAM

    sys.path.insert(0, str(run.ROOT / "policies"))
    from saas_policies.offline import evaluate

    findings = evaluate(run.resource_records(synthesis), policy_config(synthesis.environment))
    run.write(synthesis, findings, out)

    mandatory = [f for f in findings if f["level"] == "mandatory"]
    if not options.quiet:
        print(run.tree(synthesis))
        for finding in findings:
            print(f"  [{finding['level']}] {finding['policy']}: {finding['message']}")
    print(
        f"synth {options.stack}: {len(synthesis.registrations)} resources, "
        f"{len(mandatory)} mandatory and {len(findings) - len(mandatory)} advisory policy findings -> {out}"
    )
    if options.diff:
        print(plan.render(plan.diff(options.diff, out)))
    if options.list_sdk_imports:
        import json

        print(json.dumps(synthesis.sdk_imports))
    if options.list_imports:
        import json

        print(json.dumps(run.imported_modules()))
    return EXIT_POLICY if mandatory else EXIT_OK


def policy_config(environment: str) -> dict[str, dict[str, str]]:
    """The per-policy config the engine would get from `--policy-pack-config policies/config/<env>.json`."""
    import json

    from synth.run import ROOT

    path = ROOT / "policies" / "config" / f"{environment}.json"
    return json.loads(path.read_text()) if path.is_file() else {}


if __name__ == "__main__":
    sys.exit(main())
