#!/usr/bin/env bash
# Offline plan of a change: synthesize every stack on the base tree and on this tree, diff them.
#
#   scripts/offline-plan.sh BASE_DIR [OUT_DIR]
#
# BASE_DIR is a checkout of the base branch. Both trees run with this tree's virtualenv
# (.venv, `make venv`), so a plan never needs credentials. Writes OUT_DIR/base/<stack>,
# OUT_DIR/head/<stack> (synth outputs), OUT_DIR/<stack>.plan and OUT_DIR/summary.md, and
# appends the Markdown summary to $GITHUB_STEP_SUMMARY (or prints it). Exits non-zero when
# this tree's synth of a stack fails (invalid config 1, mandatory policy 2, program 3, arguments 4),
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

reason() {  # synth's exit codes (python -m synth --help)
  case $1 in
    1) echo "invalid configuration" ;;
    2) echo "a mandatory policy is violated" ;;
    3) echo "the program failed" ;;
    4) echo "bad arguments" ;;
    *) echo "unexpected" ;;
  esac
}

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
  # PLAN_SYNTH_ARGS: extra arguments for this tree's synth (tests point it at a broken program).
  read -r -a extra <<<"${PLAN_SYNTH_ARGS:-}"
  "$python" -m synth "$stack" --quiet --out "$head_out" --diff "$base_out" "${extra[@]}" >"$plan" 2>&1
  code=$?
  [ "$code" -ne 0 ] && status=$code
  # The counts first (a long plan is cut below), then what failed and why, then the changes;
  # deploy-readiness warnings (values the example stacks leave to the user) folded away.
  counts=$(grep -E '^[0-9]+ to add, [0-9]+ to change, [0-9]+ to remove$' "$plan" | tail -n 1)
  changes=$out/$stack.changes
  grep -vE '^warning: |^[0-9]+ to add, [0-9]+ to change, [0-9]+ to remove$|^synth [a-z0-9-]+: ' "$plan" >"$changes" || true
  {
    echo
    echo "### $stack $([ "$code" -eq 0 ] && echo "(synth ok)" || echo "(synth FAILED, exit $code: $(reason "$code"))")"
    echo
    [ -n "$counts" ] && echo "**$counts**" && echo
    if [ "$code" -ne 0 ]; then
      # Which rule or key failed and why: the lines synth prints for it
      # (`[mandatory] <rule> on <resource>: <why>`, `saas-platform:<key>: <why>`, `error: ...`).
      grep -E '^  \[mandatory\] |^  [a-z0-9_-]+:[^ ]+: |^error: ' "$plan" | head -n 50 | sed 's/^ *//; s/^/- /'
      echo
    fi
    echo '```diff'
    head -n "$max_lines" "$changes"
    [ "$(wc -l <"$changes")" -gt "$max_lines" ] && echo "... (truncated: full plan in the offline-plan artifact)"
    echo '```'
    warned=$(grep -c '^warning: ' "$plan" || true)
    if [ "$warned" -gt 0 ]; then
      echo
      echo "<details><summary>$warned value(s) to set before a real deploy of $stack</summary>"
      echo
      grep '^warning: ' "$plan" | sed 's/^warning: /- /'
      echo
      echo "</details>"
    fi
  } >>"$summary"
done
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$summary" >>"$GITHUB_STEP_SUMMARY"; else cat "$summary"; fi
exit "$status"
