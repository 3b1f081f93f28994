"""Bad input anywhere on the command line: for every case of the table below, `snnbench` exits with 2,
prints exactly one line `error: ...` and no traceback, and leaves every input byte-identical with no
new file beside it (issue 17). The fixtures are copies of the shipped fw table (intact and damaged in
several ways) and a small surrogate (intact and damaged)."""
import hashlib
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from snnbench.cli import main

REPO = Path(__file__).resolve().parents[2]
FW_TABLE = REPO / "tables" / "digits-fw.h5"
CELL = "0302 0030 3003 0000"
BUILD = ["build", "--space", "fw", "--dataset", "digits", "--quiet", "--epochs", "1", "--width", "4"]


def _table_copy(folder, name, **attrs):
    path = folder / name
    shutil.copy(FW_TABLE, path)
    if attrs:
        with h5py.File(path, "r+") as f:
            for key, value in attrs.items():
                f.attrs[key] = value
    return path


def _model_copy(folder, model, name, change):
    """A copy of the model's folder whose MODEL.json is changed by `change(meta)`."""
    dest = folder / name
    shutil.copytree(model.parent, dest)
    meta = json.loads((dest / model.name).read_text())
    change(meta)
    (dest / model.name).write_text(json.dumps(meta))
    return dest / model.name


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    """The fixture folder: tables t.h5 (intact), t.png and t.json (the same table under other names),
    damaged tables, a score file with a non-object line, a text file, a model and damaged models."""
    from snnbench.surrogate import Surrogate, SurrogateParams
    import snnbench
    d = tmp_path_factory.mktemp("fx")
    _table_copy(d, "t.h5")
    _table_copy(d, "t.png")
    _table_copy(d, "t.json")
    _table_copy(d, "seeds_dup.h5", seeds=np.array([0, 0]))
    _table_copy(d, "seeds_str.h5", seeds="0,1")
    _table_copy(d, "space_zz.h5", space="zz")
    data = bytearray(FW_TABLE.read_bytes())
    for at in [i for i in range(len(data)) if data.startswith(b'{"augmentation"', i)]:
        data[at] ^= 1  # damaged attributes: protocol_json (and train_protocol_json) no longer JSON
    (d / "flip_1k.h5").write_bytes(bytes(data))
    hash_int = _table_copy(d, "hash_int.h5")
    with h5py.File(hash_int, "r+") as f:
        n = len(f["cells/hash"])
        del f["cells/hash"]
        f["cells/hash"] = np.arange(n, dtype=np.int64)
    chunk = _table_copy(d, "chunk.h5")  # one damaged gzip chunk in train/test_acc
    with h5py.File(chunk, "r") as f:
        info = f["train/test_acc"].id.get_chunk_info(0)
    data = bytearray(chunk.read_bytes())
    data[info.byte_offset + info.size // 2] ^= 0xFF
    chunk.write_bytes(bytes(data))
    (d / "one.jsonl").write_text("1\n")
    (d / "notes.txt").write_text("notes\n")
    with snnbench.open(FW_TABLE) as bench:
        frame, protocol = bench.to_dataframe(), bench.protocol
    model = d / "m" / "m.json"
    Surrogate(SurrogateParams(n_members=1, n_estimators=3)).fit_table(frame, protocol).save(model)
    changes = {
        "members_str": lambda m: m.update(members="x"),
        "members_int": lambda m: m.update(members=5),
        "members_entry_str": lambda m: m.update(members=["x"]),
        "score_feat_int": lambda m: m.update(score_features=5),
        "params_list": lambda m: m.update(params=[1]),
        "params_badtype": lambda m: m["params"].update(nthread="x"),
        "member_path": lambda m: m["members"][0].update(file="../m/m.member0.json"),
        "train_hashes_int": lambda m: m.update(train_hashes=5),
        "target_bogus": lambda m: m.update(target="bogus"),
        "names_int": lambda m: m.update(feature_names=3),
    }
    for name, change in changes.items():
        _model_copy(d, model, name, change)
    return d


def _cases():
    """(id, argument list with {d} for the fixture folder, fragment expected in the message)."""
    long_name = "x" * 300
    return [
        # build: options checked before anything is created
        ("build.sample_huge", BUILD + ["--sample", "100000", "--seeds", "0", "--out", "{d}/b.h5"], "7012"),
        ("build.score_sample_huge", BUILD + ["--sample", "1", "--score-sample", "1000000", "--out", "{d}/b.h5"], "7012"),
        ("build.sample_zero", BUILD + ["--sample", "0", "--out", "{d}/b.h5"], "--sample"),
        ("build.seeds_huge", BUILD + ["--sample", "1", "--seeds", str(10 ** 20), "--out", "{d}/b.h5"], "--seeds"),
        ("build.seeds_negative", BUILD + ["--sample", "1", "--seeds", "-1", "--out", "{d}/b.h5"], "--seeds"),
        ("build.sample_seed_huge", BUILD + ["--sample", "1", "--sample-seed", str(2 ** 64), "--out", "{d}/b.h5"], "seed"),
        ("build.max_retries_neg", BUILD + ["--sample", "1", "--max-retries", "-1", "--out", "{d}/b.h5"], "--max-retries"),
        ("build.checkpoint_nan", BUILD + ["--sample", "1", "--checkpoint-seconds", "nan", "--out", "{d}/b.h5"], "nan"),
        ("build.checkpoint_inf", BUILD + ["--sample", "1", "--checkpoint-seconds", "inf", "--out", "{d}/b.h5"], "inf"),
        ("build.checkpoint_jobs0", BUILD + ["--sample", "1", "--checkpoint-jobs", "0", "--out", "{d}/b.h5"], "checkpoint"),
        ("build.workers0", BUILD + ["--sample", "1", "--workers", "0", "--out", "{d}/b.h5"], "--workers"),
        ("build.device_bogus", BUILD + ["--sample", "1", "--device", "bogus", "--out", "{d}/b.h5"], "bogus"),
        ("build.out_existing_table", BUILD[:5] + ["--graph", "skip-idle", "--sample", "1", "--scores-only", "--out",
                                                  "{d}/t.h5"], "--force"),
        ("build.out_other_protocol", BUILD + ["--sample", "1", "--out", "{d}/t.h5"], "--force"),
        ("build.out_not_h5", BUILD + ["--sample", "1", "--out", "{d}/b.txt"], ".h5"),
        ("build.out_folder", BUILD + ["--sample", "1", "--out", "{d}/m"], ""),
        ("build.journal_is_table", BUILD + ["--sample", "1", "--journal", "{d}/t.h5", "--out", "{d}/b.h5"], "journal"),
        ("build.protocol_dataset", BUILD[:5] + ["--protocol", "paper-cifar10", "--sample", "1", "--out", "{d}/b.h5"], "cifar10"),
        ("build.name_too_long", BUILD + ["--sample", "1", "--out", "{d}/" + long_name + ".h5"], "too long"),
        ("build.force_and_extend", BUILD + ["--sample", "1", "--force", "--extend", "--out", "{d}/b.h5"], "--force"),
        ("build.no_args", ["build"], "--space"),
        ("build.space_bad", BUILD[:1] + ["--space", "xx", "--dataset", "digits", "--out", "{d}/b.h5"], "--space"),
        # score
        ("score.device_bogus", ["score", CELL, "--device", "bogus"], "bogus"),
        ("score.protocol_dataset", ["score", CELL, "--protocol", "paper-cifar10", "--dataset", "digits"], "cifar10"),
        ("score.out_dev_full", ["score", "--space", "fw", "--limit", "1", "--out", "/dev/full"], "/dev/full"),
        ("score.out_table", ["score", "--space", "fw", "--limit", "1", "--out", "{d}/t.h5"], "t.h5"),
        ("score.out_non_object", ["score", "--space", "fw", "--limit", "1", "--out", "{d}/one.jsonl"], "one.jsonl"),
        ("score.seed_negative", ["score", CELL, "--seed", "-1"], "--seed"),
        ("score.seed_huge", ["score", CELL, "--seed", str(2 ** 64)], "--seed"),
        ("score.limit0", ["score", "--space", "fw", "--limit", "0", "--out", "{d}/s.jsonl"], "--limit"),
        # tables: damaged or mistyped
        ("query.flip_1k", ["query", "378f9e446064fa8f", "--table", "{d}/flip_1k.h5"], "flip_1k.h5"),
        ("info.flip_1k", ["info", "{d}/flip_1k.h5"], "flip_1k.h5"),
        ("query.seeds_str", ["query", "378f9e446064fa8f", "--table", "{d}/seeds_str.h5"], "seeds"),
        ("info.seeds_str", ["info", "{d}/seeds_str.h5"], "seeds"),
        ("query.seeds_dup", ["query", "378f9e446064fa8f", "--table", "{d}/seeds_dup.h5"], "seeds"),
        ("query.space_zz", ["query", "378f9e446064fa8f", "--table", "{d}/space_zz.h5"], "space"),
        ("query.hash_int", ["query", "378f9e446064fa8f", "--table", "{d}/hash_int.h5"], "cells/hash"),
        ("info.hash_int", ["info", "{d}/hash_int.h5"], "cells/hash"),
        ("query.table_name_too_long", ["query", "378f9e446064fa8f", "--table", "{d}/" + long_name + ".h5"], "too long"),
        ("query.seed_fraction", ["query", "378f9e446064fa8f", "--table", "{d}/t.h5", "--seed", "1.5"], "--seed"),
        ("show.very_long", ["show", "0" * 100_000], "malformed"),
        # outputs that would be inputs, or that cannot be written
        ("correlate.confidence_nan", ["correlate", "{d}/t.h5", "--boot", "10", "--confidence", "nan"], "--confidence"),
        ("correlate.plot_is_input", ["correlate", "{d}/t.h5", "--boot", "0", "--plot", "{d}/t.h5"], "t.h5"),
        ("correlate.plot_png_is_input", ["correlate", "{d}/t.png", "--boot", "0", "--plot", "{d}/t.png"], "t.png"),
        ("correlate.plot_dev_full", ["correlate", "{d}/t.h5", "--boot", "0", "--plot", "/dev/full"], "/dev/full"),
        ("correlate.plot_existing_file", ["correlate", "{d}/t.h5", "--boot", "0", "--plot", "{d}/notes.txt"], "notes.txt"),
        ("surrogate.fit_out_is_input", ["surrogate", "fit", "{d}/t.json", "--members", "1", "--estimators", "2",
                                        "--out", "{d}/t.json"], "t.json"),
        ("surrogate.fit_bad_scores", ["surrogate", "fit", "{d}/t.h5", "--with-scores", "bogus", "--out", "{d}/s.json"], "bogus"),
        ("manifest.out_is_input", ["manifest", "{d}/t.h5", "--out", "{d}/t.h5"], "t.h5"),
        ("manifest.damaged_table", ["manifest", "{d}/chunk.h5", "--out", "{d}/M.json"], "fails verify"),
        ("manifest.journal_is_table", ["manifest", "{d}/t.h5", "--journal", "{d}/t.h5", "--out", "{d}/M.json"],
         "journal"),
        ("search.budget_nan", ["search", "{d}/t.h5", "--budget-hours", "nan", "--algo", "rs", "--runs", "1"], "--budget-hours"),
        ("search.budget_inf", ["search", "{d}/t.h5", "--budget-hours", "inf", "--algo", "rs", "--runs", "1"], "--budget-hours"),
        ("search.plot_is_input", ["search", "{d}/t.h5", "--budget-hours", "0.1", "--algo", "rs", "--runs", "1",
                                  "--plot", "{d}/t.h5"], "t.h5"),
        ("run_algo.budget_nan", ["run-algo", "{d}/t.h5", "--budget-hours", "nan", "--algo", "rs"], "--budget-hours"),
        ("run_algo.budget_inf", ["run-algo", "{d}/t.h5", "--budget-hours", "inf", "--algo", "rs"], "--budget-hours"),
        # damaged surrogate files
        *[(f"predict.{name}", ["predict", CELL, "--model", f"{{d}}/{name}/m.json"], f"{name}/m.json")
          for name in ("members_str", "members_int", "members_entry_str", "score_feat_int", "params_list",
                       "params_badtype", "member_path", "train_hashes_int", "target_bogus", "names_int")],
        ("query.model_members_str", ["query", "ecb7cd2184de4ce5", "--table", "{d}/t.h5", "--model",
                                     "{d}/members_str/m.json"], "members_str"),
        ("surrogate.usage", ["surrogate", "fit"], "snnbench surrogate fit --help"),
    ]


def _digest(folder: Path) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(fx, case):
    _name, args, fragment = case
    before = _digest(fx)
    result = CliRunner().invoke(main, [a.replace("{d}", str(fx)) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.exit_code, result.stdout[-500:], result.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    assert fragment in lines[0], lines[0]
    assert len(lines[0]) < 1000
    assert _digest(fx) == before  # inputs byte-identical, nothing new beside them
