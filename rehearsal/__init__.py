"""Behaviour rehearsal: judges that play a synthesis output folder against behaviour.

Form checks (schemas, chart values keys, lint) cannot see what an operator builds from a custom
resource, which flows NetworkPolicies really allow, what the engine refuses, where a route
really goes, or whether an alert can fire. Each judge here reads only a synthesis folder
(`build/STACK`, as written by `python -m synth`), so a mutated copy of that folder proves the
judge can fail. Judges prefer real parts (np-guard's analyzer, Traefik, nginx/php-fpm, Next.js,
Prometheus and the Debian exporters) to models; a model cites the upstream file and tag it follows.

    python -m rehearsal JUDGE BUILD_DIR [BUILD_DIR ...]   # JUDGE: one of rehearsal.registry.JUDGES, or all

Several folders: one process, one section per folder (`rehearsal: DIR`, see rehearsal.__main__).

Exit codes: 0 nothing found, 1 findings (one line each), 2 the judge cannot run (what is
missing and how to install it). Each judge prints a last line counting what it checked.
"""
