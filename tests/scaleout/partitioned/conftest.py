"""The tests of this directory run on the partitioned layout (docs/partitions.md), one converted
copy of the test database per module; the rest of the suite keeps the plain one."""

import pytest

from tests.scaleout.partitioned.fixtures import business, other_business, partitioned_module, shard_cluster

__all__ = ["business", "other_business", "partitioned_module", "shard_cluster"]


@pytest.fixture(autouse=True, scope="module")
def _on_the_partitioned_layout(partitioned_module):
    return partitioned_module
