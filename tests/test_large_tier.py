"""Every behaviour judge on the large tier, once: the Redis Cluster cache (tests/test_redis_cluster.py)
and MaxScale over three servers (tests/test_maxscale.py) are judged in one `python -m rehearsal
all` of the shared large-tier synthesis (tests/large_tier.py)."""

from __future__ import annotations

import pytest

from rehearsal.registry import JUDGES
from tests.conftest import Synth
from tests.large_tier import large_tier
from tests.rehearsal_helpers import assert_passes

# Reads the run's one `rehearsal all` of the stacks and the large tier, started in the background.
pytestmark = pytest.mark.background("judged")


@pytest.fixture(scope="session")
def large() -> Synth:
    return large_tier()


def test_every_judge_passes_on_the_large_tier(large: Synth) -> None:
    """Redis Cluster (issue 21 item 5) and MaxScale over three servers (item 3) included: the
    operators judge models the cluster's and MaxScale's pods, the network judge their flows, the
    engine their ordering, and the others play the rest as on every stack."""
    assert len(large.object("MaxScale", "mariadb-maxscale", "saas-data")["spec"]["servers"]) == 3
    assert large.objects("RedisCluster", "saas-data")
    for judge in JUDGES:
        assert_passes(judge, large.out)
