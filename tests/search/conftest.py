"""Fixtures the search tests share: the small real fw table open (module scope), its dataframe by
hash, and a small surrogate fitted on it."""
import pytest

import snnbench
from snnbench.surrogate import Surrogate, SurrogateParams


@pytest.fixture(scope="module")
def bench(small_fw_table):
    with snnbench.open(small_fw_table) as b:
        yield b


@pytest.fixture(scope="module")
def frame(bench):
    return bench.to_dataframe().set_index("hash", drop=False)


@pytest.fixture(scope="module")
def model(frame, bench):
    return Surrogate(SurrogateParams(n_members=2, n_estimators=30)).fit_table(frame, bench.protocol)
