"""Shared fixtures. Threads: one per process and passive waiting, on machines with 2 shared cores."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
# CPU determinism across machines: the shipped tables were trained on an AVX2 machine; capping
# torch's and oneDNN's instruction sets to AVX2 makes a newer CPU take the same kernels (and the
# same float rounding) when a test retrains a recorded cell.
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")
os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

# ----------------------------------------------------------------------------- the small fw table
from small_fw import copy_table, small_fw_spec  # noqa: E402


@pytest.fixture(scope="session")
def small_fw_table(tmp_path_factory) -> Path:
    """Path of a small digits fw table built once per session by the real builder (two single-thread
    worker processes): 12 cells trained with seeds 0 and 1 under digits-cpu with epochs=2, width=8,
    and 52 cells scored with seed 0 (the 12 trained ones and 40 scored only). Its journal lies beside
    it, at str(path) + '.journal.sqlite'. Read it, never write to it."""
    from snnbench.build import Build
    out = tmp_path_factory.mktemp("small_fw_table") / "digits_fw.h5"
    reuse = os.environ.get("SNNBENCH_REUSE_SMALL_FW_TABLE")
    if reuse:  # a development shortcut: a table this fixture built in an earlier session (with its journal)
        return copy_table(reuse, out.parent, out.name)
    spec = small_fw_spec(out)
    summary = Build(spec, workers=2, progress=False, command="tests/conftest.py small_fw_table").run()
    assert summary.complete, summary.line()
    return out
