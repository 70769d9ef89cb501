#!/usr/bin/env bash
# Offline plan of a change: synthesize every stack on the base tree and on this tree, diff them.
#
#   scripts/offline-plan.sh BASE_DIR [OUT_DIR]
#
# BASE_DIR is a checkout of the base branch. Both trees run with this tree's virtualenv
# (.venv, `make venv`), so a plan never needs credentials. Writes OUT_DIR/base/<stack>,
# OUT_DIR/head/<stack> (synth outputs), OUT_DIR/<stack>.plan and OUT_DIR/summary.md, and
# appends the Markdown summary to $GITHUB_STEP_SUMMARY (or prints it). Exits non-zero when
# this tree's synth of a stack fails (invalid config 1, mandatory policy 2, refused program 3),
# after the summary.
set -uo pipefail

# Paths given on the command line are relative to the caller's directory.
base_dir=$(cd "${1:?usage: scripts/offline-plan.sh BASE_DIR [OUT_DIR]}" && pwd) || exit 1
if [ -n "${2:-}" ]; then mkdir -p "$2" && out=$(cd "$2" && pwd); fi
cd "$(dirname "$0")/.."
out=${out:-$PWD/build/plan}
python=$PWD/.venv/bin/python
read -r -a stacks <<<"${PLAN_STACKS:-dev staging prod}"   # PLAN_STACKS: a subset (tests)
max_lines=200   # per stack in the summary; the full plan is in the artifact
status=0

mkdir -p "$out"
summary=$out/summary.md
echo "## Offline plan (synth under mocks, no credentials)" >"$summary"
for stack in "${stacks[@]}"; do
  base_out=$out/base/$stack head_out=$out/head/$stack plan=$out/$stack.plan
  rm -rf "$base_out" "$head_out"
  # A base that violates a policy still wrote its outputs (exit 2) and is a fine base. One
  # that does not know this stack yet, or does not synthesize: then everything is new.
  (cd "$base_dir" && "$python" -m synth "$stack" --quiet --out "$base_out") >"$out/$stack.base.log" 2>&1
  if [ ! -f "$base_out/resources.json" ]; then
    mkdir -p "$base_out" && echo "[]" >"$base_out/resources.json"
  fi
  "$python" -m synth "$stack" --quiet --out "$head_out" --diff "$base_out" >"$plan" 2>&1
  code=$?
  [ "$code" -ne 0 ] && status=$code
  {
    echo
    echo "### $stack $([ "$code" -eq 0 ] && echo "(synth ok)" || echo "(synth FAILED, exit $code)")"
    echo
    echo '```diff'
    head -n "$max_lines" "$plan"
    [ "$(wc -l <"$plan")" -gt "$max_lines" ] && echo "... (truncated: full plan in the offline-plan artifact)"
    echo '```'
  } >>"$summary"
done
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$summary" >>"$GITHUB_STEP_SUMMARY"; else cat "$summary"; fi
exit "$status"
