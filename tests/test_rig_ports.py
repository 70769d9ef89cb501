"""rehearsal/ports.py: ports chosen below the ephemeral range and reserved per process, so two
rehearsal processes side by side (the test run's stacks and metrics round) never share one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from rehearsal import ports
from tests.conftest import ROOT

# Each process reserves 400 ports and keeps them (and itself) until told to exit: at random from
# the range alone, two such sets would share about a dozen ports.
RESERVE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from rehearsal.ports import free_ports
    print(json.dumps(sorted(free_ports([f"p{i}" for i in range(400)]).values())), flush=True)
    sys.stdin.read()
""")


def test_two_processes_never_reserve_the_same_port() -> None:
    procs = [subprocess.Popen([sys.executable, "-c", RESERVE, str(ROOT)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        chosen = [json.loads(proc.stdout.readline()) for proc in procs]  # type: ignore[union-attr]
    finally:
        for proc in procs:
            proc.communicate("", timeout=30)
    assert all(len(set(ports)) == 400 for ports in chosen)
    assert not set(chosen[0]) & set(chosen[1])
    low, high = ports.PORT_RANGE.start, ports.PORT_RANGE.stop
    assert all(low <= port < high for ports in chosen for port in ports)
    # Below the kernel's ephemeral range: no outgoing connection's source port can take one.
    first_ephemeral = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
    assert high <= first_ephemeral
