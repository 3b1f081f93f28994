"""More seeds for the better cells of a table: `snnbench table better` chooses them from the finished
runs, and a build with --extend and --extra-seeds / --extra-cells adds their runs to the same table
(through its journal: the table stays verifiable, its other runs untouched)."""
import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench.build import Build
from snnbench.build.extra import better_cells, extra_runs
from snnbench.cli import main
from snnbench.errors import ConfigError

from small_fw import SMALL_FW_TABLE, copy_table, small_fw_spec


@pytest.fixture
def table(small_fw_table, tmp_path):
    return copy_table(small_fw_table, tmp_path)


def test_the_better_half_is_ranked_by_the_mean_over_the_build_seeds(table):
    with snnbench.open(table) as bench:
        frame = bench.to_dataframe().set_index("hash")
    trained = frame[frame.trained]
    means = trained[["valid_acc_s0", "valid_acc_s1"]].mean(axis=1)
    expected = sorted(trained.index, key=lambda h: (-means[h], h))[:6]
    assert better_cells(table) == expected and len(expected) == SMALL_FW_TABLE["sample"] // 2
    assert better_cells(table, 1 / 12) == expected[:1] and better_cells(table, 0.3) == expected[:4]  # rounded up
    with pytest.raises(ConfigError, match="fraction"):
        better_cells(table, 0)


def test_a_table_missing_runs_has_no_better_half_yet(table, tmp_path):
    spec = small_fw_spec(tmp_path / "partial.h5", seeds=(0, 1, 2))  # seed 2 was never run: the table is partial
    from snnbench.build import write_table_from_journal
    write_table_from_journal(spec, journal=str(table) + ".journal.sqlite")
    with pytest.raises(ConfigError, match="lacks 12 of the 36 runs"):
        better_cells(tmp_path / "partial.h5")


def test_extra_seeds_for_the_better_half_extend_the_table(table, tmp_path):
    best = better_cells(table)[:3]
    cells_file = tmp_path / "better.txt"
    result = CliRunner().invoke(main, ["table", "better", str(table), "--fraction", "0.25", "--out", str(cells_file)])
    assert result.exit_code == 0, result.output
    assert cells_file.read_text().split() == best
    # the same list again is fine; another list is refused and the file kept
    assert CliRunner().invoke(main, ["table", "better", str(table), "--fraction", "0.25", "--out",
                                     str(cells_file)]).exit_code == 0
    refused = CliRunner().invoke(main, ["table", "better", str(table), "--out", str(cells_file)])
    assert refused.exit_code == 2 and "lists other cells" in refused.output
    assert cells_file.read_text().split() == best

    with snnbench.open(table) as bench:
        before = bench.to_dataframe().set_index("hash")
    spec = small_fw_spec(table, appended_runs=extra_runs(best, (2,)))
    summary = Build(spec, workers=1, progress=False, extend=True, command="tests/build/test_extra.py").run()
    assert summary.complete and summary.jobs_run == 3, summary.line()
    with snnbench.open(table) as bench:
        assert list(bench.seeds) == [0, 1, 2]
        after = bench.to_dataframe().set_index("hash")
        assert bench.query(best[0])["n_seeds"] == 3
    assert set(after.index[after.n_seeds == 3]) == set(best)
    assert np.isnan(after.loc[~after.index.isin(best), "valid_acc_s2"]).all()
    for column in ("valid_acc_s0", "valid_acc_s1", "hd", "sahd"):
        assert after[column].equals(before[column])
    verified = CliRunner().invoke(main, ["verify", str(table)])
    assert verified.exit_code == 0, verified.output
    # the choice stays on the build's seeds: the added runs do not move cells in or out
    assert better_cells(table, 0.25) == best
    shown = CliRunner().invoke(main, ["info", str(table)])
    assert "training 0, 1 (every trained cell); 2 (3 cells)" in shown.output and '"appended_runs": "3 runs"' in shown.output
    # the reports keep to the build's seeds where the extra seed covers part of the cells only
    assert after.attrs["extra_seeds"] == [2]
    from snnbench import analysis
    reliability = analysis.seed_reliability(after.reset_index(), n_boot=0).set_index(["space", "cells"])
    assert reliability.loc[("fw", "all"), ["n_cells", "seeds"]].tolist() == [12, "0,1"]
    spread = analysis.seed_spread(after.reset_index()).set_index(["space", "cells"])
    assert spread.loc[("fw", "all"), "n_pairs"] == 12
    ceiling = analysis.noise_ceiling(after.reset_index(), n_boot=0)
    assert "seed pairs (mean)" not in set(ceiling.score)  # the pairs with seed 2 cover 3 cells only


def test_extra_seeds_and_extra_cells_go_together(tmp_path):
    cells = tmp_path / "c.txt"
    cells.write_text("0303 0030 0003 0000\n")
    base = ["build", "--space", "fw", "--dataset", "digits", "--sample", "2", "--out", str(tmp_path / "x.h5"), "--dry-run"]
    for extra in (["--extra-seeds", "2"], ["--extra-cells", str(cells)]):
        result = CliRunner().invoke(main, base + extra)
        assert result.exit_code == 2 and "together" in result.output
    bad = CliRunner().invoke(main, base + ["--extra-seeds", "x", "--extra-cells", str(cells)])
    assert bad.exit_code == 2 and "--extra-seeds" in bad.output


def test_the_base_build_run_again_over_a_table_whose_extra_seed_was_interrupted_finishes_it(table, tmp_path):
    # The table holds the extra seed of 3 cells in part (as a checkpoint written mid-build leaves it):
    # its journal lacks the 2 runs that never finished, which is no loss. The base build's command run
    # again with --extend (runners/fmnist.sh all does) finishes them; a journal that lacks a run the
    # table holds is still refused.
    import shutil
    from snnbench.build import write_table_from_journal
    from snnbench.errors import JournalError
    best = better_cells(table)[:3]
    journal = str(table) + ".journal.sqlite"
    full = small_fw_spec(table, appended_runs=extra_runs(best, (2,)))
    Build(small_fw_spec(tmp_path / "scratch.h5", journal=journal, appended_runs=extra_runs(best[:1], (2,))),
          workers=1, progress=False, command="tests/build/test_extra.py").run()
    assert write_table_from_journal(full, force=True) is False  # partial: 1 of the 3 extra runs
    with snnbench.open(table) as bench:
        assert bench.metadata["n_train_runs"] == 25 and bench.metadata["complete"] == 0
    pristine = tmp_path / "pristine.sqlite"
    shutil.copy(journal, pristine)

    base = Build(small_fw_spec(table), workers=1, progress=False, extend=True, command="tests/build/test_extra.py")
    summary = base.run()
    assert summary.complete and summary.jobs_run == 2, summary.line()  # the extra seed's 2 left, nothing else
    with snnbench.open(table) as bench:
        assert bench.query(best[2])["n_seeds"] == 3 and bench.metadata["n_train_runs"] == 27
    assert CliRunner().invoke(main, ["verify", str(table)]).exit_code == 0
    shown = CliRunner().invoke(main, ["info", str(table)]).output
    assert len(shown) < 3000
    # the extended table gives the base build's cells: recorded as its sample (12 trained, 52 scored,
    # the same draws) with the 3 extra runs, not as lists of cells
    with snnbench.open(table) as bench:
        selection = bench.metadata["selection"]
    assert {k: selection[k] for k in ("mode", "sample", "score_sample")} == {"mode": "sample", "sample": 12,
                                                                             "score_sample": 52}
    assert "scored_cells" not in selection and "cells" not in selection and len(selection["appended_runs"]) == 3

    # the journal as it was before the rerun lacks the 2 runs the table now holds: refused, table kept
    before = table.read_bytes()
    shutil.copy(pristine, journal)
    with pytest.raises(JournalError, match="lacks 2 of the 79 results"):
        Build(full, workers=1, progress=False, extend=True).run()
    assert table.read_bytes() == before


def test_a_staged_score_sample_is_recorded_as_its_last_stage(table, tmp_path):
    # runners/fmnist.sh scores the bw space in stages: the same build with a larger --score-sample and
    # --extend each time. The table records the last stage's sample (the cells it gives are the same),
    # not a list of every cell scored; cells no sample gives stay listed (a scores-only table lists them as its cells).
    from snnbench.table.verify import verify_table
    journal = str(table) + ".journal.sqlite"
    out = tmp_path / "staged.h5"
    for n in (20, 30):
        summary = Build(small_fw_spec(out, journal=journal, scores_only=True, score_sample=n), workers=1,
                        progress=False, extend=True).run()
        assert summary.complete and summary.jobs_run == 0  # the small table scored these 52 already
    with snnbench.open(out) as bench:
        selection, cells = bench.metadata["selection"], set(bench.cells())
    assert selection == small_fw_spec(out, scores_only=True, score_sample=30).selection()  # mode sample, 30
    assert cells == set(small_fw_spec(out, scores_only=True, score_sample=30).score_cells()) and len(cells) == 30
    assert verify_table(out) == []
    # another draw (sample seed 1) added: no sample gives the union, so it is listed
    other = small_fw_spec(out, journal=journal, scores_only=True, score_sample=31, sample_seed=1)
    assert Build(other, workers=1, progress=False, extend=True).run().complete
    with snnbench.open(out) as bench:
        selection, union = bench.metadata["selection"], set(bench.cells())
    assert union > cells and selection["mode"] == "cells" and sorted(selection["cells"]) == sorted(union)
    assert verify_table(out) == []
