"""`snnbench correlate --across`: the cells two tables both trained, ranked against each other
(the paper's transfer across datasets; also two network graphs on one dataset)."""
import json
import shutil

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from snnbench import analysis
from snnbench.cli import main
from snnbench.errors import ConfigError
from snnbench.table import open_table


def _with_accuracies(src, dest, valid, test):
    """A copy of a table whose trained cells (in /train row order) get these accuracies for every seed."""
    shutil.copy(src, dest)
    with h5py.File(dest, "r+") as f:
        seeds = f["train/valid_acc"].shape[1]
        f["train/valid_acc"][...] = np.repeat(np.asarray(valid, float)[:, None], seeds, axis=1)
        f["train/test_acc"][...] = np.repeat(np.asarray(test, float)[:, None], seeds, axis=1)
    return dest


@pytest.fixture(scope="module")
def known_pair(small_fw_table, tmp_path_factory):
    folder = tmp_path_factory.mktemp("across")
    with h5py.File(small_fw_table, "r") as f:
        m = f["train/valid_acc"].shape[0]
    rng = np.random.default_rng(7)
    a_valid, a_test = rng.permutation(m) + 50.0, rng.permutation(m) + 40.0
    b_valid = a_valid.copy()
    b_valid[:4] = b_valid[:4][::-1]  # a few swaps: a tau below 1 that scipy knows
    b_test = rng.permutation(m) + 30.0
    a = _with_accuracies(small_fw_table, folder / "a.h5", a_valid, a_test)
    b = _with_accuracies(small_fw_table, folder / "b.h5", b_valid, b_test)
    return a, b, (a_valid, a_test, b_valid, b_test)


def test_across_gives_scipys_tau_and_rho_over_common_cells(known_pair):
    a, b, (a_valid, a_test, b_valid, b_test) = known_pair
    with open_table(a) as ta, open_table(b) as tb:
        report = analysis.correlate_across(ta.to_dataframe(), tb.to_dataframe(), n_boot=50)
    rows = report["rows"].set_index("target")
    assert report["n_common"] == len(a_valid)
    assert rows.loc["valid_acc", "tau"] == pytest.approx(stats.kendalltau(a_valid, b_valid)[0])
    assert rows.loc["valid_acc", "rho"] == pytest.approx(stats.spearmanr(a_valid, b_valid)[0])
    assert rows.loc["test_acc", "tau"] == pytest.approx(stats.kendalltau(a_test, b_test)[0])
    assert rows.loc["test_acc", "diff"] == pytest.approx(np.mean(b_test - a_test))
    assert rows.loc["valid_acc", "tau_lo"] <= rows.loc["valid_acc", "tau"] <= rows.loc["valid_acc", "tau_hi"]
    # every seed got the same value: no seed noise, a ceiling of 1
    assert rows.loc["valid_acc", "noise_sd"] == 0
    # scipy.stats.kendalltau divides by two square roots: 1 to the last bit or two
    assert np.allclose(report["ceiling_a"]["tau"], 1, rtol=0, atol=1e-12)


def test_across_command_prints_json_and_the_scatter(known_pair, tmp_path):
    a, b, (a_valid, _, b_valid, _) = known_pair
    out = tmp_path / "transfer.png"
    r = CliRunner().invoke(main, ["correlate", "--across", str(a), str(b), "--boot", "20", "--json", "--plot", str(out)])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output.splitlines()[0])
    valid = [row for row in report["rows"] if row["target"] == "valid_acc"][0]
    assert valid["tau"] == pytest.approx(stats.kendalltau(a_valid, b_valid)[0])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = CliRunner().invoke(main, ["correlate", "--across", str(a), str(b), "--boot", "0"])
    assert text.exit_code == 0 and "cells trained in both: 12" in text.output and "noise ceiling of b" in text.output


def test_across_plot_draws_equal_accuracy_only_where_the_ranges_overlap():
    from snnbench.analysis.plots import shared_range
    # two protocols on one dataset: the accuracies overlap, the identity line spans the overlap
    assert shared_range([90.0, 95.0, 99.0], [92.0, 96.0, 98.5]) == (92.0, 98.5)
    # digits (about 95-99 %) against Fashion-MNIST (about 72-80 %): no common range, no line
    assert shared_range([94.0, 97.0, 99.0], [72.0, 76.0, 79.5]) is None
    # ... also where one poor digits cell lies inside Fashion-MNIST's range (the shipped fw tables)
    digits = [71.7] + [93.0 + 0.05 * i for i in range(120)]
    assert shared_range(digits, [70.0 + 0.08 * i for i in range(121)]) is None


@pytest.fixture(scope="module")
def other_cells_table(small_fw_table, tmp_path_factory):
    """A fw table trained (1 epoch, width 4) on three cells that small_fw_table did not train,
    built with `build --cells FILE`."""
    folder = tmp_path_factory.mktemp("other_cells")
    with open_table(small_fw_table) as t:
        frame = t.to_dataframe()
    trained = set(analysis.trained_rows(frame)["hash"])
    untrained = [h for h in frame["hash"] if h not in trained][:3]
    listing = folder / "cells.txt"
    listing.write_text("# three cells\n" + "\n".join(untrained) + "\n")
    out = folder / "other.h5"
    r = CliRunner().invoke(main, ["build", "--space", "fw", "--dataset", "digits", "--cells", str(listing),
                                  "--seeds", "0", "--epochs", "1", "--width", "4", "--device", "cpu", "--quiet",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, untrained


def test_build_takes_an_explicit_cell_list_and_records_it(other_cells_table):
    out, cells = other_cells_table
    with open_table(out) as t:
        frame = t.to_dataframe()
        selection = t.metadata["selection"]
    assert sorted(analysis.trained_rows(frame)["hash"]) == sorted(cells)
    assert selection["mode"] == "cells" and selection["cells"] == sorted(cells)
    assert CliRunner().invoke(main, ["verify", str(out)]).exit_code == 0


def test_build_cell_list_with_a_bad_line_is_one_line_exit_2(tmp_path):
    listing = tmp_path / "cells.txt"
    listing.write_text("0303 0030 0003 0000\n0303 0030\n")
    r = CliRunner().invoke(main, ["build", "--space", "fw", "--dataset", "digits", "--cells", str(listing),
                                  "--out", str(tmp_path / "t.h5")])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "line 2" in r.output
    assert not (tmp_path / "t.h5").exists()


def test_across_refuses_tables_with_no_common_trained_cell(small_fw_table, other_cells_table):
    r = CliRunner().invoke(main, ["correlate", "--across", str(small_fw_table), str(other_cells_table[0])])
    assert r.exit_code == 2 and r.output.strip() == "error: the two tables have no trained cell in common"
    with open_table(small_fw_table) as a, open_table(other_cells_table[0]) as b:
        with pytest.raises(ConfigError):
            analysis.correlate_across(a.to_dataframe(), b.to_dataframe())


def test_across_refuses_tables_of_different_spaces(small_fw_table, tmp_path):
    bw = shutil.copy(small_fw_table, tmp_path / "as_bw.h5")
    with h5py.File(bw, "r+") as f:
        f.attrs["space"] = "bw"
    r = CliRunner().invoke(main, ["correlate", "--across", str(small_fw_table), str(bw)])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "different spaces" in r.output


def test_correlate_needs_one_table_or_across():
    r = CliRunner().invoke(main, ["correlate"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1
