"""Entry point the Pulumi engine runs for `pulumi preview --policy-pack policies`.

It only builds the PolicyPack (which starts the analyzer gRPC server and never returns); the
rules live in the importable `saas_policies` package so synth and the tests run the same code.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from saas_policies import PACK_NAME, POLICIES  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
