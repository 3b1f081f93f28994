"""Batch and convenience reads of the shipped tables (snnbench/table/lookup.py): query_many equals
query cell by cell, find_best respects its budgets, bench[cell] and iteration, `in` without parsing,
query --model predicts the cells a table scored but did not train, and none of it imports torch
(a fresh interpreter)."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench.cli import main
from snnbench.errors import ArchitectureNotInTable, ConfigError

TABLES = Path(__file__).resolve().parents[2] / "tables"
NAMES = ("digits-fw", "digits-bw", None)  # None: the shipped view over every shipped table


@pytest.fixture(scope="module", params=NAMES, ids=["fw", "bw", "shipped"])
def bench(request):
    for name in ("digits-fw.h5", "digits-bw.h5"):
        if not (TABLES / name).is_file():
            pytest.skip(f"tables/{name} is not in this checkout")
    with snnbench.open(request.param) as b:
        yield b


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _probe(bench, n=40):
    """Cells to ask for: trained and scored-only, each repeated once."""
    rng = np.random.default_rng(0)
    picked = list(rng.choice(bench.cells(trained_only=True), n // 2)) + list(rng.choice(bench.cells(), n // 2))
    return picked + picked[:5]


def test_query_many_equals_query_cell_by_cell(bench):
    cells = _probe(bench)
    frame = bench.query_many(cells)
    assert list(frame["hash"]) == cells
    for row, cell in zip(frame.to_dict("records"), cells):
        rec = bench.query(cell)
        for key in frame.columns:
            # in the shipped view, a column of another table (fmnist-fw's seed 2) is NaN for the
            # cells a table without it answers
            expected = rec[key] if key in rec else float("nan")
            assert _same(row[key], expected), (cell, key, row[key], expected)
        assert set(rec) - set(frame.columns) <= {"table", "per_seed"}


def test_query_many_takes_texts_and_cells_and_keeps_the_order(bench):
    cells = _probe(bench, 10)
    texts = [bench.query(h)["text"] for h in cells]
    assert list(bench.query_many(texts, columns=["hash"])["hash"]) == cells
    assert list(bench.query_many([snnbench.space.Cell.from_text(t) for t in texts])["hash"]) == cells


def test_query_many_says_which_cell_is_missing_or_marks_it(bench):
    absent = "0123456789abcdef"  # the hash of no cell
    with pytest.raises((ArchitectureNotInTable, KeyError)):
        bench.query_many([bench.cells()[0], absent])
    frame = bench.query_many([bench.cells()[0], absent], missing="nan")
    assert list(frame["in_table"]) == [True, False] and math.isnan(frame["valid_acc"][1])
    assert frame["valid_acc"].dtype.kind == "f" and frame["n_params"][0] == bench.query(bench.cells()[0])["n_params"]
    assert list(frame["hash"]) == [bench.cells()[0], absent]
    assert list(bench.query_many(h for h in bench.cells()[:3])["hash"]) == bench.cells()[:3]  # any iterable
    with pytest.raises(ConfigError):
        bench.query_many(bench.cells()[0])  # one cell is not a list of cells
    with pytest.raises(ConfigError, match="unknown column"):
        bench.query_many(bench.cells()[:2], columns=["no_such_column"])


def test_find_best_respects_its_budget_and_is_the_best_within_it(bench):
    frame = bench.to_dataframe()
    trained = frame[frame["trained"]]
    limit = float(trained["n_params"].median())
    best = bench.find_best("valid_acc", max_params=limit)
    within = trained[trained["n_params"] <= limit]
    assert best["n_params"] <= limit and best["trained"]
    assert best["valid_acc"] == within["valid_acc"].max()
    assert best["n_candidates"] == len(within)
    tied = within[within["valid_acc"] == within["valid_acc"].max()]
    assert best["hash"] == tied.sort_values(["n_params", "hash"])["hash"].iloc[0]  # ties: fewer parameters
    sops_limit = float(trained["sops"].quantile(0.25))
    cheap = bench.find_best("test_acc", max_sops=sops_limit, max_params=limit)
    assert cheap["sops"] <= sops_limit and cheap["n_params"] <= limit
    assert bench.find_best()["valid_acc"] == trained["valid_acc"].max()


def test_find_best_refuses_an_impossible_budget_in_one_sentence(bench):
    with pytest.raises(ConfigError, match="no trained cell .* max_params=10 .*least n_params"):
        bench.find_best(max_params=10)
    with pytest.raises(ConfigError, match="unknown budget"):
        bench.find_best(max_flops=10)
    with pytest.raises(ConfigError, match="metric"):
        bench.find_best("text")


def test_getitem_iteration_and_in(bench):
    cells = bench.cells()
    assert list(iter(bench)) == cells
    h = bench.cells(trained_only=True)[0]
    assert bench[h]["valid_acc"] == bench.query(h)["valid_acc"]
    assert h in bench and bench.query(h)["text"] in bench
    assert "0123456789abcdef" not in bench and "not a cell" not in bench
    with pytest.raises(KeyError):  # UnknownHashError
        bench["0123456789abcdef"]
    if bench.space == "fw":
        with pytest.raises(ArchitectureNotInTable):
            bench["0302 0030 3003 0000"]  # a bw cell
        assert "0302 0030 3003 0000" not in bench


def test_the_query_command_reads_no_space_index_for_a_cell_of_a_shipped_table():
    if not (TABLES / "digits-bw.h5").is_file():
        pytest.skip("the shipped tables are not in this checkout")
    code = ("import sys, snnbench\nfrom snnbench.cli import main\nfrom snnbench.space import space_index\n"
            "h = snnbench.open('digits-bw').cells(trained_only=True)[0]\n"
            "try:\n    main(['query', h], prog_name='snnbench')\nexcept SystemExit as e:\n    assert not e.code\n"
            "print('INDEX', space_index.cache_info().currsize, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "INDEX 0 False"


LIGHT = r"""
import sys
import snnbench
from snnbench.space import SearchSpace, space_index
with snnbench.open() as view:
    bw_hash = snnbench.open("digits-bw").cells(trained_only=True)[0]
    view.query(bw_hash)
    assert [r["table"] for r in view.query_all(bw_hash)][0] == "digits-bw.h5"
    assert bw_hash in view
    view.query_many(view.cells()[:1000])
    view.find_best(max_params=40000)
    from snnbench.shipped import open_shipped
    open_shipped("digits").protocol  # one dataset's tables share one protocol
    print(space_index.cache_info().currsize)  # the bw lookup needed no space index
s = SearchSpace("bw")
s.neighbours(bw_hash)
s.encode([bw_hash], "path")
print("torch" in sys.modules, "spikingjelly" in sys.modules)
"""


def test_querying_never_imports_torch_nor_builds_the_space_index():
    if not (TABLES / "digits-bw.h5").is_file():
        pytest.skip("the shipped tables are not in this checkout")
    out = subprocess.run([sys.executable, "-c", LIGHT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "False", "False"]


def test_query_model_predicts_a_cell_the_table_scored_but_did_not_train(tmp_path):
    table = TABLES / "digits-fw.h5"
    if not table.is_file():
        pytest.skip("tables/digits-fw.h5 is not in this checkout")
    model = tmp_path / "fw.json"
    fit = CliRunner().invoke(main, ["surrogate", "fit", str(table), "--out", str(model), "--members", "2",
                                    "--estimators", "20"])
    assert fit.exit_code == 0, fit.output
    with snnbench.open(table) as b:
        untrained = sorted(set(b.cells()) - set(b.cells(trained_only=True)))[0]
        trained = b.cells(trained_only=True)[0]
    out = CliRunner().invoke(main, ["query", untrained, "--table", str(table), "--model", str(model), "--json"])
    assert out.exit_code == 0, out.output
    rec = json.loads(out.output)
    assert rec["trained"] is False and rec["valid_acc"] is None
    assert 0 < rec["predicted_valid_acc"] <= 100 and rec["predicted_by"] == str(model)
    text = CliRunner().invoke(main, ["query", untrained, "--table", str(table), "--model", str(model)]).output
    assert "a surrogate's prediction, not a measurement" in text
    measured = json.loads(CliRunner().invoke(main, ["query", trained, "--table", str(table), "--model", str(model),
                                                    "--json"]).output)
    assert measured["trained"] and not any(k.startswith("predicted_") for k in measured)
