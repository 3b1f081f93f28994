"""Zero-cost scores: the kernels on hand-made spike codes, the fast kernel against a pairwise
reference, determinism, and bad input."""
import math
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from snnbench.data import load_dataset
from snnbench.errors import ConfigError
from snnbench.model.jobs import run_job
from snnbench.protocols import get_protocol
from snnbench.scores import KernelAccumulator, hd_kernel, sahd_kernel, score_cell, scoring_batches
from snnbench.snn import get_profile
from snnbench.space import Cell

CODES = torch.tensor([[1, 0, 1, 0],
                      [1, 1, 1, 1],
                      [0, 0, 0, 0],
                      [1, 0, 0, 0]], dtype=torch.float32)


def test_hd_kernel_by_hand():
    # N_A = 4; Hamming distances: d01 = 2, d02 = 2, d03 = 1, d12 = 4, d13 = 3, d23 = 1
    expected = 4 - torch.tensor([[0, 2, 2, 1], [2, 0, 4, 3], [2, 4, 0, 1], [1, 3, 1, 0]])
    assert torch.equal(hd_kernel(CODES), expected)


def test_sahd_kernel_by_hand_with_all_zero_and_all_one_codes():
    k = sahd_kernel(CODES)
    r = [0.5, 1.0, 0.0, 0.25]
    d = [[0, 2, 2, 1], [2, 0, 4, 3], [2, 4, 0, 1], [1, 3, 1, 0]]
    for i in range(4):
        for j in range(4):
            expected_d = 4 * (r[i] * (1 - r[j]) + (1 - r[i]) * r[j])
            want = 4 - 0.5 * d[i][j] / (expected_d + 1e-3)
            assert math.isclose(float(k[i, j]), want, rel_tol=1e-12)
    # the all-one and the all-zero codes: expected distance 0 on the diagonal, guarded by 1e-3
    assert torch.isfinite(k).all()
    assert float(k[1, 1]) == 4.0 and float(k[2, 2]) == 4.0
    assert math.isclose(float(k[1, 2]), 4 - 0.5 * 4 / (4 + 1e-3), rel_tol=1e-12)
    eq9 = sahd_kernel(CODES, form="eq9")
    assert math.isclose(float(eq9[0, 1]), 4 - 0.5 * 2 / (0.5 + 1e-3), rel_tol=1e-12)


def test_kernels_are_symmetric_with_n_units_on_the_diagonal():
    codes = (torch.rand(16, 300, generator=torch.Generator().manual_seed(0)) < 0.2).float()
    for k in (hd_kernel(codes).double(), sahd_kernel(codes)):
        assert torch.equal(k, k.T)
        assert torch.all(torch.diagonal(k) == 300)


def _reference_kernels(calls, alpha=0.5):
    """Pairwise loops over samples, in exact Python integers and floats."""
    b = calls[0].shape[1]
    hd = [[0] * b for _ in range(b)]
    sahd = [[0.0] * b for _ in range(b)]
    for call in calls:
        for step in call:
            codes = [[int(v) for v in row] for row in step.reshape(b, -1).tolist()]
            n = len(codes[0])
            for i in range(b):
                for j in range(b):
                    d = sum(a != c for a, c in zip(codes[i], codes[j]))
                    hd[i][j] += n - d
                    ri, rj = sum(codes[i]) / n, sum(codes[j]) / n
                    sahd[i][j] += n - alpha * d / (n * (ri * (1 - rj) + (1 - ri) * rj) + 1e-3)
    return hd, sahd


def test_fast_kernel_equals_pairwise_reference_to_the_last_integer():
    g = torch.Generator().manual_seed(4)
    calls = [(torch.rand(3, 6, 2, 5, 5, generator=g) < p).float() for p in (0.05, 0.3, 0.9)]
    acc = KernelAccumulator()
    for call in calls:
        acc.add(call)
    hd, sahd = _reference_kernels(calls)
    assert acc.hd_kernel_sum().tolist() == hd
    assert np.allclose(acc.sahd.numpy(), np.array(sahd), rtol=1e-12, atol=1e-9)
    assert acc.calls == 9


def test_score_is_deterministic_for_a_fixed_seed():
    profile = get_profile("digits", width=4)
    images = torch.randn(64, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    batches = scoring_batches(images, 16, 2, seed=3)
    cell = Cell.from_text("0302 0030 3003 0000")
    a = score_cell(cell, profile, batches, seed=1)
    b = score_cell(cell, profile, batches, seed=1)
    assert (a.hd, a.sahd, a.firing_rates) == (b.hd, b.sahd, b.firing_rates)
    c = score_cell(cell, profile, batches, seed=2)
    assert c.hd != a.hd
    assert math.isfinite(a.hd) and math.isfinite(a.sahd) and 0 < a.firing_rate < 1
    assert len(a.per_batch["hd"]) == 2 and a.n_params > 0


SHIPPED = Path(__file__).resolve().parents[2] / "tables"


def _shipped_scores(name: str, space: str, n: int) -> dict:
    """{hash: (hd, sahd, sahd_eq9)} of the first n cells of a space in a shipped table (scoring seed 0)."""
    with h5py.File(SHIPPED / name, "r") as f:
        rows = np.flatnonzero(f["cells/space"][()] == space.encode())[:n]
        hashes = [f["cells/hash"][r].decode() for r in rows]
        values = zip(*(f[f"scores/{field}"][()][rows, 0] for field in ("hd", "sahd", "sahd_eq9")))
        return dict(zip(hashes, values))


def test_a_score_job_normalises_only_the_images_it_draws_and_scores_as_before():
    """A score job draws its mini-batches from the uint8 split and normalises those images alone; the
    batches equal those drawn from the whole split normalised first (how jobs did it before), bit for
    bit, and so do the scores; they are also the shipped table's scores of these cells."""
    protocol = get_protocol("digits-cpu")
    dataset = load_dataset("digits")
    whole_split = dataset.normalize(dataset.train.images)
    for seed in (0, 3):
        before = scoring_batches(whole_split, protocol.score_batch, protocol.score_repeat, seed)
        drawn = scoring_batches(dataset.train.images, protocol.score_batch, protocol.score_repeat, seed)
        after = [dataset.normalize(images) for images in drawn]
        assert all(torch.equal(a, b) and a.dtype == b.dtype for a, b in zip(before, after))
    before = scoring_batches(whole_split, protocol.score_batch, protocol.score_repeat, 0)
    shipped = _shipped_scores("digits-fw.h5", "fw", 2) | _shipped_scores("digits-bw.h5", "bw", 2)
    for cell_hash, recorded in shipped.items():
        old = score_cell(Cell.from_hash(cell_hash), protocol.network_profile(), before, seed=0, eq9=True)
        job = run_job("score", cell_hash, protocol.to_json(), 0, device="cpu")
        assert (job["hd"], job["sahd"], job["sahd_eq9"]) == (old.hd, old.sahd, old.sahd_eq9)
        assert (job["firing_rate"], job["firing_rates"]) == (old.firing_rate, old.firing_rates)
        for name, value in zip(("hd", "sahd", "sahd_eq9"), recorded):  # to 1e-12 across machines (README)
            assert math.isclose(job[name], value, rel_tol=1e-12), (cell_hash, name)


def test_batch_smaller_than_two_is_refused():
    with pytest.raises(ConfigError):
        scoring_batches(torch.zeros(10, 1, 8, 8), 1, 2, 0)
    with pytest.raises(ConfigError):
        score_cell(Cell.from_text("0001 0000 0000 0000"), get_profile("digits"), [torch.zeros(1, 1, 8, 8)])


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("args, message", [
    (["score", "0302 0030 3003 0000", "--dataset", "mnist"], "unknown dataset"),
    (["score", "0302 0030 3003 0000", "--batch", "1"], "at least 2"),
    (["score", "0200 0003 0000 0000"], "not an architecture"),
])
def test_score_cli_bad_input_is_one_line_and_exit_2(args, message):
    r = _cli(*args)
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_score_cli_scores_one_cell_and_resumes_a_space_run(tmp_path):
    r = _cli("score", "0302 0030 3003 0000", "--dataset", "digits")
    assert r.returncode == 0 and "SAHD" in r.stdout and "HD" in r.stdout
    out = tmp_path / "scores.jsonl"
    assert _cli("score", "--space", "fw", "--limit", "2", "--out", str(out)).returncode == 0
    assert _cli("score", "--space", "fw", "--limit", "3", "--out", str(out)).returncode == 0
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and len({l.split('"cell_hash": "')[1][:16] for l in lines}) == 3
    # another protocol into the same file is refused
    r = _cli("score", "--space", "fw", "--limit", "3", "--width", "4", "--out", str(out))
    assert r.returncode == 2 and "protocol" in r.stderr
