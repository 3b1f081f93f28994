"""The table as a reader sees it: snnbench.open / Bench, plain h5py, `snnbench query|info|verify`,
and one clear line with exit code 2 for every bad input, with the file left untouched."""
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench.cli import main
from snnbench.errors import ArchitectureNotInTable, ConfigError, InvalidCellError, TableFormatError, UnknownHashError
from snnbench.space import ATTRIBUTE_NAMES, Cell, space_hashes
from snnbench.table import SCHEMA_VERSION, cell_columns, verify_table

from small_fw import SMALL_FW_TABLE


@pytest.fixture(scope="module")
def bench(small_fw_table):
    with snnbench.open(small_fw_table) as b:
        yield b


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(path):
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns


def assert_one_line_exit_2(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.output


# ----------------------------------------------------------------------------- the Python API
def test_open_gives_a_bench_with_the_recorded_metadata(bench):
    m = bench.metadata
    assert m["format"] == "snnbench-table" and m["schema_version"] == SCHEMA_VERSION
    assert m["snnbench_version"] == snnbench.__version__
    assert bench.space == "fw" and m["dataset"] == "digits" and len(m["dataset_fingerprint"]) == 16
    assert bench.protocol.hash == m["protocol_hash"] and bench.protocol.epochs == 2 and bench.protocol.width == 8
    assert bench.seeds == [0, 1] and bench.score_seeds == [0]
    assert m["selection"]["sample"] == 12 and m["selection"]["sample_seed"] == 0
    assert m["complete"] == 1 and m["build"]["jobs_done"] == m["build"]["jobs_total"] == 52 + 12 * 2
    assert m["build"]["where"] and m["created"]


def test_cells_are_sorted_unique_hashes_of_the_space(bench):
    cells = bench.cells()
    assert len(bench) == len(cells) == SMALL_FW_TABLE["score_sample"]
    assert cells == sorted(set(cells))
    assert set(cells) <= set(space_hashes("fw"))
    assert len(bench.cells(trained_only=True)) == SMALL_FW_TABLE["sample"]


def test_untrained_cells_are_present_with_scores_and_marked_untrained(bench):
    trained = set(bench.cells(trained_only=True))
    untrained = [h for h in bench.cells() if h not in trained]
    assert len(untrained) == 40
    for h in untrained[:5]:
        rec = bench.query(h)
        assert rec["trained"] is False and rec["n_seeds"] == 0 and rec["per_seed"] == {}
        assert np.isfinite(rec["hd"]) and np.isfinite(rec["sahd"]) and rec["n_params"] > 0
        assert np.isnan(rec["valid_acc"]) and np.isnan(rec["valid_acc_s0"])
        assert bench.curves(h) == {}


def test_a_cell_is_found_by_hash_text_matrix_or_cell(bench):
    h = bench.cells(trained_only=True)[0]
    by_hash = bench.query(h)
    cell = Cell.from_text(by_hash["text"])
    assert by_hash["hash"] == h and by_hash["text"] == cell.canonical_text
    for spec in (h.upper(), cell.canonical_text, cell.canonical_matrix, cell):
        assert bench.query(spec) == by_hash
    assert h in bench and cell in bench and cell.canonical_text in bench
    assert "0000 0000 0000 0000" not in bench and "nonsense" not in bench


def test_query_mean_over_seeds_and_per_seed(bench):
    h = bench.cells(trained_only=True)[0]
    rec = bench.query(h)
    assert rec["trained"] is True and rec["n_seeds"] == 2 and set(rec["per_seed"]) == {0, 1}
    valid = [rec["per_seed"][s]["valid_acc"] for s in (0, 1)]
    assert rec["valid_acc"] == pytest.approx(np.mean(valid))
    assert rec["valid_acc_std"] == pytest.approx(np.std(valid))
    assert [rec["valid_acc_s0"], rec["valid_acc_s1"]] == valid
    one = bench.query(h, seed=1)
    assert one["seed"] == 1 and "per_seed" not in one
    assert one["valid_acc"] == rec["per_seed"][1]["valid_acc"]
    assert one["test_acc"] == rec["per_seed"][1]["test_acc"]
    for key in ("hd", "sahd", "sahd_eq9", "n_params", *ATTRIBUTE_NAMES):
        assert one[key] == rec[key]


def test_query_at_an_epoch_gives_that_epochs_accuracy_and_time(bench):
    h = bench.cells(trained_only=True)[1]
    curves = bench.curves(h)
    assert set(curves) == {0, 1}
    for seed in (0, 1):
        assert len(curves[seed]["valid_acc"]) == 2 and len(curves[seed]["epoch_time"]) == 2
        first = bench.query(h, seed=seed, epoch=1)
        assert first["valid_acc"] == pytest.approx(curves[seed]["valid_acc"][0], rel=1e-6)
        assert first["train_time"] == pytest.approx(curves[seed]["epoch_time"][0], rel=1e-6)
        assert np.isnan(first["test_acc"]) and first["epochs"] == 1
        last = bench.query(h, seed=seed, epoch=2)
        assert last == bench.query(h, seed=seed)


def test_bad_seed_or_epoch_is_a_config_error(bench):
    h = bench.cells()[0]
    with pytest.raises(ConfigError, match="seed 7"):
        bench.query(h, seed=7)
    with pytest.raises(ConfigError, match="epoch"):
        bench.query(h, epoch=3)


def test_missing_cells_raise_typed_errors(bench):
    absent = next(h for h in space_hashes("fw") if h not in set(bench.cells()))
    with pytest.raises(ArchitectureNotInTable, match="not in this table"):
        bench.query(absent)
    with pytest.raises(UnknownHashError):
        bench.query("0123456789abcdef")
    with pytest.raises(InvalidCellError):
        bench.query("0000 0000 0000 0000")


def test_to_dataframe_has_the_contract_columns_and_agrees_with_query(bench):
    df = bench.to_dataframe()
    expected = ["hash", "text", "space", *ATTRIBUTE_NAMES, "hd", "sahd", "sahd_eq9", "n_params", "firing_rate_init",
                "trained", "n_seeds", "valid_acc", "test_acc", "valid_acc_std", "test_acc_std", "train_time", "epochs",
                "firing_rate", "sops", "energy_pj", "valid_acc_s0", "test_acc_s0", "valid_acc_s1", "test_acc_s1"]
    assert set(expected) <= set(df.columns)
    assert list(df["hash"]) == bench.cells() and len(df) == len(bench)
    assert int(df["trained"].sum()) == 12
    for h in bench.cells()[::7]:
        rec = bench.query(h)
        row = df[df["hash"] == h].iloc[0]
        for key in expected:
            if isinstance(rec[key], float) and np.isnan(rec[key]):
                assert np.isnan(row[key]), key
            else:
                assert row[key] == pytest.approx(rec[key]) if isinstance(rec[key], float) else row[key] == rec[key], key


def test_sample_is_seeded_and_distinct(bench):
    a = bench.sample(5, rng=3)
    assert a == bench.sample(5, rng=3) and len(set(a)) == 5 and set(a) <= set(bench.cells())
    assert set(bench.sample(12, rng=0, trained_only=True)) == set(bench.cells(trained_only=True))


def test_batch_index_finds_rows_and_marks_missing(bench):
    cells = bench.cells()
    rows = bench.index(cells + ["0123456789abcdef", "zz"])
    assert list(rows[:-2]) == list(range(len(cells))) and list(rows[-2:]) == [-1, -1]


def test_a_table_is_readable_with_plain_h5py(small_fw_table, bench):
    """The recipe of docs/TABLE_FORMAT.md, without snnbench."""
    h = bench.cells(trained_only=True)[2]
    with h5py.File(small_fw_table, "r") as f:
        assert f.attrs["format"] == "snnbench-table"
        hashes = f["cells/hash"][:]
        row = int(np.searchsorted(hashes, h.encode()))
        assert hashes[row].decode() == h
        t = int(f["cells/train_row"][row])
        seeds = list(f.attrs["seeds"])
        valid = f["train/valid_acc"][t]
        curve = f["train/curves/valid_acc"][t, seeds.index(1)]
        assert f["train/cell_row"][t] == row
    rec = bench.query(h)
    assert list(valid) == [rec["valid_acc_s0"], rec["valid_acc_s1"]]
    assert curve[-1] == pytest.approx(rec["valid_acc_s1"], rel=1e-6)


# ----------------------------------------------------------------------------- verify
@pytest.mark.parametrize("name", ["digits-fw.h5", "digits-bw.h5"])
def test_cell_columns_are_the_shipped_tables_cell_columns(name):
    """The columns a build computes once per build (cells/*, attributes/*) are, value and type, those
    the per-cell writer put in the shipped tables."""
    with h5py.File(Path(__file__).resolve().parents[2] / "tables" / name, "r") as f:
        columns = cell_columns([h.decode() for h in f["cells/hash"][()]])
        assert set(columns) == {f"cells/{c}" for c in ("hash", "text", "matrix", "space")} | {
            f"attributes/{a}" for a in ATTRIBUTE_NAMES}
        for path, values in columns.items():
            stored = f[path][()]
            assert values.dtype == stored.dtype and np.array_equal(values, stored), path


def test_verify_accepts_a_built_table(small_fw_table):
    assert verify_table(small_fw_table) == []
    result = run_cli("verify", small_fw_table)
    assert result.exit_code == 0 and result.stdout.startswith("OK")


def test_verify_reports_an_inconsistent_table(small_fw_table, tmp_path):
    bad = tmp_path / "tampered.h5"
    shutil.copy(small_fw_table, bad)
    with h5py.File(bad, "r+") as f:
        hashes = f["cells/hash"][:]
        hashes[[0, 1]] = hashes[[1, 0]]
        f["cells/hash"][:] = hashes
        protocol = json.loads(f.attrs["protocol_json"])
        protocol["lr"] = 0.5
        f.attrs["protocol_json"] = json.dumps(protocol)
    problems = verify_table(bad)
    assert any("not sorted" in p for p in problems)
    assert any("do not match their canonical texts" in p for p in problems)
    assert any("protocol_hash" in p for p in problems)
    result = run_cli("verify", bad)
    assert result.exit_code == 1 and "problem" in result.stderr


def test_info_summarises_a_table(small_fw_table):
    result = run_cli("info", small_fw_table)
    assert result.exit_code == 0
    assert "52 (12 trained" in result.stdout and "digits-cpu" in result.stdout and "complete" in result.stdout


# ----------------------------------------------------------------------------- the query command
def test_query_command_prints_the_record_and_json(small_fw_table, bench):
    h = bench.cells(trained_only=True)[0]
    text = bench.query(h)["text"]
    human = run_cli("query", h, "--table", small_fw_table)
    assert human.exit_code == 0 and h in human.stdout and "valid acc" in human.stdout
    as_json = run_cli("query", text, "--table", small_fw_table, "--json")
    assert as_json.exit_code == 0
    rec = json.loads(as_json.stdout)
    assert rec["hash"] == h and rec["valid_acc"] == pytest.approx(bench.query(h)["valid_acc"])
    seeded = json.loads(run_cli("query", h, "--table", small_fw_table, "--json", "--seed", 1, "--epoch", 1).stdout)
    assert seeded["seed"] == 1 and seeded["test_acc"] is None


def test_unknown_valid_cell_says_not_in_this_table_with_the_surrogate_hint(small_fw_table, bench):
    absent = next(h for h in space_hashes("fw") if h not in set(bench.cells()))
    before = snapshot(small_fw_table)
    assert_one_line_exit_2(run_cli("query", absent, "--table", small_fw_table), "not in this table", "--model")
    bw_cell = "0302 0030 3003 0000"
    assert_one_line_exit_2(run_cli("query", bw_cell, "--table", small_fw_table), "not in this table", "bw cell")
    assert snapshot(small_fw_table) == before


def test_hash_of_no_cell_and_non_architecture_text_are_one_line_errors(small_fw_table):
    before = snapshot(small_fw_table)
    result = run_cli("query", "0123456789abcdef", "--table", small_fw_table)
    assert_one_line_exit_2(result, "not the hash of any cell")
    assert "--model" not in result.stderr  # no hint: nothing could predict a cell that does not exist
    assert_one_line_exit_2(run_cli("query", "0000 0000 0000 0000", "--table", small_fw_table), "not an architecture")
    assert_one_line_exit_2(run_cli("query", "hello world", "--table", small_fw_table), "malformed cell text")
    assert snapshot(small_fw_table) == before


def _bad_tables(small_fw_table, tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("these are my notes, not a table\n")
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(10)
    truncated = tmp_path / "truncated.h5"
    data = small_fw_table.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    newer = tmp_path / "newer.h5"
    shutil.copy(small_fw_table, newer)
    with h5py.File(newer, "r+") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    return {"not HDF5": (text, "not an snnbench table"), "foreign HDF5": (foreign, "not an snnbench table"),
            "truncated": (truncated, "truncated"), "newer schema": (newer, "newer")}


def test_bad_table_files_are_one_line_errors_and_stay_untouched(small_fw_table, tmp_path):
    for name, (path, fragment) in _bad_tables(small_fw_table, tmp_path).items():
        before = snapshot(path)
        with pytest.raises(TableFormatError, match=fragment):
            snnbench.open(path)
        h = "0123456789abcdef"
        for args in (("query", h, "--table", path), ("info", path), ("verify", path)):
            assert_one_line_exit_2(run_cli(*args), fragment)
        assert snapshot(path) == before, name


def test_build_refuses_to_overwrite_a_file_that_is_not_a_table(small_fw_table, tmp_path):
    for name, (path, _) in _bad_tables(small_fw_table, tmp_path).items():
        before = snapshot(path)
        result = run_cli("build", "--space", "fw", "--dataset", "digits", "--sample", 2, "--epochs", 1,
                         "--width", 8, "--quiet", "--out", path)
        assert_one_line_exit_2(result, "refusing to overwrite")
        assert snapshot(path) == before, name
        assert not (tmp_path / (path.name + ".journal.sqlite")).exists()


def test_an_absent_cell_is_predicted_when_a_surrogate_model_is_given(small_fw_table, bench, tmp_path):
    pytest.importorskip("snnbench.surrogate")
    model = tmp_path / "model.json"
    fit = run_cli("surrogate", "fit", small_fw_table, "--out", model, "--members", 1, "--estimators", 5)
    assert fit.exit_code == 0, fit.output
    absent = next(h for h in space_hashes("fw") if h not in set(bench.cells()))
    result = run_cli("query", absent, "--table", small_fw_table, "--model", model, "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["hash"] == absent and record["in_table"] is False and 0 <= record["predicted_acc"] <= 100
