"""The shipped tables (tables/digits-fw.h5, tables/digits-bw.h5) and their MANIFEST.json: verify passes
on both and checks them against the manifest; a CPU-trained cell retrains to exactly its recorded
numbers; `snnbench query` / `snnbench info` / `snnbench.open()` without a table use them. Also the
plumbing behind them: the manifest writer and writing a table from a journal without running jobs.

A test of a shipped table is skipped only when that table file is absent (a checkout without the
tables); the tables are committed, so CI runs them all."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import snnbench
from snnbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
TABLES = ROOT / "tables"
# the shipped tables by dataset; SHIPPED: every one, in the default lookup's order (a test of one
# this checkout lacks skips)
SHIPPED_BY_DATASET = {"digits": ("digits-fw.h5", "digits-bw.h5"),
                      "fashion-mnist": ("fmnist-fw.h5", "fmnist-bw.h5")}
DIGITS_SHIPPED = SHIPPED_BY_DATASET["digits"]
SHIPPED = DIGITS_SHIPPED + SHIPPED_BY_DATASET["fashion-mnist"]
LENT_MACHINE = "lent-16core-h200-host:cpu"  # where jobs ran on the lent 16-core machine (another CPU)


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def present(names=SHIPPED) -> list:
    """Those of `names` that are in this checkout's tables/."""
    return [name for name in names if (TABLES / name).is_file()]


def shipped(name: str) -> Path:
    path = TABLES / name
    if not path.is_file():
        pytest.skip(f"tables/{name} is not in this checkout")
    return path


@pytest.fixture(autouse=True)
def default_lookup(monkeypatch):
    """Tables found as a user finds them: no $SNNBENCH_TABLE, no $SNNBENCH_TABLES_DIR."""
    monkeypatch.delenv("SNNBENCH_TABLE", raising=False)
    monkeypatch.delenv("SNNBENCH_TABLES_DIR", raising=False)


def assert_one_line_exit_2(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


# ----------------------------------------------------------------------------- verify and the manifest
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_table_verifies_and_matches_its_manifest(name):
    path = shipped(name)
    assert (TABLES / "MANIFEST.json").is_file(), "tables/MANIFEST.json is missing: run runners/manifest.sh"
    result = run_cli("verify", path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {path}") and "matches MANIFEST.json" in result.stdout
    entry = next(t for t in json.loads((TABLES / "MANIFEST.json").read_text())["tables"] if t["file"] == name)
    runner = "runners/digits.sh" if name.startswith("digits") else "runners/fmnist.sh"
    assert entry["runner"] == runner and (ROOT / entry["runner"]).is_file()
    assert entry["build"]["jobs_in_journal"] == entry["build"]["jobs"] and entry["build"]["cpu_hours"] > 0


def test_verify_rejects_a_table_that_is_not_the_one_the_manifest_lists(tmp_path):
    source = shipped("digits-fw.h5")
    table = tmp_path / "digits-fw.h5"
    shutil.copy(source, table)
    manifest = json.loads((TABLES / "MANIFEST.json").read_text())
    manifest["tables"] = [t for t in manifest["tables"] if t["file"] == "digits-fw.h5"]
    entry = manifest["tables"][0]

    def verify_with(**changes):
        (tmp_path / "MANIFEST.json").write_text(json.dumps({**manifest, "tables": [{**entry, **changes}]}))
        return run_cli("verify", table)

    assert verify_with().exit_code == 0
    for changes, fragment in [({"sha256": "0" * 64}, "sha256"), ({"protocol_hash": "0123456789abcdef"}, "protocol_hash"),
                              ({"n_trained": entry["n_trained"] + 1}, "n_trained"),
                              ({"n_score_runs": entry["n_score_runs"] - 1}, "n_score_runs")]:
        result = verify_with(**changes)
        assert result.exit_code == 1 and fragment in result.stderr, (changes, result.output)
    # the file itself changed: bytes appended (HDF5 still opens it) -> sha256 and size differ
    verify_with()
    with open(table, "ab") as f:
        f.write(b"\0" * 16)
    result = run_cli("verify", table)
    assert result.exit_code == 1 and "sha256" in result.stderr and "size" in result.stderr
    # an explicit manifest that does not list the file is a problem too; a damaged one is exit 2
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**manifest, "tables": []}))
    assert run_cli("verify", table, "--manifest", other).exit_code == 1
    (tmp_path / "MANIFEST.json").write_text("{not json")
    assert_one_line_exit_2(run_cli("verify", table), "MANIFEST.json", "not a readable manifest")


# ----------------------------------------------------------------------------- CPU determinism
# the retrain test covers the cheapest CPU run of each dataset (SHIPPED_BY_DATASET), and the cheapest
# of a cell with a backward edge (the time-looped network; the digits runs under the first graph, the
# Fashion-MNIST ones under the authors')


def _cheapest_cpu_run(dataset: str = "digits", backward: bool = False):
    """(table path, hash, seed) of the shipped training run of `dataset` with the shortest recorded
    train_time among those that ran on this kind of machine (a 'host:cpu' job, not the lent machine);
    backward: among cells with a backward edge only (a non-zero entry below the matrix's diagonal)."""
    best = None
    for name in SHIPPED_BY_DATASET[dataset]:
        path = TABLES / name
        if not path.is_file():
            continue
        with h5py.File(path, "r") as f:
            hosts = [h.decode() for h in f["hosts"][()]]
            where, done, train_time = f["train/where"][()], f["train/done"][()], f["train/train_time"][()]
            cell_row, hashes = f["train/cell_row"][()], f["cells/hash"][()]
            has_backward = np.tril(f["cells/matrix"][()], -1).any(axis=(1, 2))
            seeds = list(f.attrs["seeds"])
            for t, k in zip(*np.nonzero(done)):
                host = hosts[where[t, k]]
                if host == LENT_MACHINE or not host.endswith(":cpu") or (backward and not has_backward[cell_row[t]]):
                    continue
                key = (float(train_time[t, k]), path, hashes[cell_row[t]].decode(), int(seeds[k]))
                best = key if best is None or key < best else best
    if best is None:
        pytest.skip(f"no shipped {dataset} table with a run {'of a backward cell ' if backward else ''}"
                    "trained on this kind of CPU machine")
    return best[1:]


@pytest.mark.parametrize("dataset,backward", [("digits", False), ("digits", True),
                                              ("fashion-mnist", False), ("fashion-mnist", True)])
def test_a_cpu_trained_cell_retrains_to_exactly_its_recorded_numbers(dataset, backward):
    import torch
    from snnbench.model.jobs import run_job
    if dataset == "digits":
        shipped("digits-fw.h5")
    else:  # the data are installed apart (README "Datasets"); the tables ship once their builds finish
        from snnbench.data import fashion_mnist_folder
        from snnbench.errors import DatasetError
        try:
            fashion_mnist_folder()
        except DatasetError:
            pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    path, cell_hash, seed = _cheapest_cpu_run(dataset, backward)
    with snnbench.open(path) as bench:
        protocol_json = bench.train_protocol.to_json()  # the training runs' own (a re-scored table keeps them)
        rec = bench.query(cell_hash, seed=seed)
        trow = int(bench._train_row[bench.row(cell_hash)])
        k = bench.seeds.index(seed)
        layers = [n.decode() for n in bench._read("layers")]
        stored_layers = bench._read("train/layer_firing_rate", trow)[k]
        stored_curves = {name: bench._read(f"train/curves/{name}", trow)[k] for name in ("valid_acc", "train_acc", "train_loss")}
        stored_n_params = int(bench._read("cells/n_params", bench.row(cell_hash)))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the protocol's runs are single-thread
    try:
        result = run_job("train", cell_hash, protocol_json, seed, device="cpu")
    finally:
        torch.set_num_threads(threads)
    assert result["threads"] == 1 and result["protocol_hash"] == bench.train_protocol.hash
    assert not result["diverged"] and result["epochs_run"] == rec["epochs"]
    assert result["n_params"] == stored_n_params
    for key in ("valid_acc", "test_acc", "firing_rate", "sops", "energy_pj"):
        assert result[key] == rec[key], key  # float64, bit for bit
    for name, key in (("valid_acc", "valid_acc_curve"), ("train_acc", "train_acc"), ("train_loss", "train_loss")):
        np.testing.assert_array_equal(np.asarray(result[key], dtype=np.float32), stored_curves[name], err_msg=name)
    new_layers = np.full(len(layers), np.nan, dtype=np.float32)
    for name, rate in result["firing_rates"].items():
        new_layers[layers.index(name)] = rate
    np.testing.assert_array_equal(new_layers, stored_layers)


# ----------------------------------------------------------------------------- the default tables
def _fw_trained_and_bw_only_cells():
    with snnbench.open(shipped("digits-fw.h5")) as fw, snnbench.open(shipped("digits-bw.h5")) as bw:
        fw_cell = fw.cells(trained_only=True)[0]
        bw_cell = next(h for h in bw.cells(trained_only=True) if h not in fw)
        return fw_cell, fw.query(fw_cell), bw_cell, bw.query(bw_cell)


def test_query_without_a_table_answers_from_the_shipped_table_that_holds_the_cell(tmp_path, monkeypatch):
    fw_cell, fw_rec, bw_cell, bw_rec = _fw_trained_and_bw_only_cells()
    env = {k: v for k, v in os.environ.items() if k not in ("SNNBENCH_TABLE", "SNNBENCH_TABLES_DIR")}
    snnbench_exe = Path(sys.executable).with_name("snnbench")
    command = [str(snnbench_exe)] if snnbench_exe.exists() else [sys.executable, "-m", "snnbench.cli"]
    # the installed command, run elsewhere than the repository, finds the tables by itself
    out = subprocess.run(command + ["query", fw_cell], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "table       digits-fw.h5 (shipped)"
    assert f"cell        {fw_cell}" in out.stdout and f"valid acc   {fw_rec['valid_acc']:.2f} %" in out.stdout
    result = run_cli("query", bw_cell, "--json")  # without --table: a list, one record per table holding it
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)  # every shipped bw table trained it
    assert [r["table"] for r in records] == present(("digits-bw.h5", "fmnist-bw.h5"))
    record = records[0]
    assert record["table"] == "digits-bw.h5" and record["dataset"] == "digits" and record["hash"] == bw_cell
    assert record["valid_acc"] == pytest.approx(bw_rec["valid_acc"], abs=0, rel=0)
    # a cell in no shipped table: one line, exit 2 (the shipped bw table holds every bw cell, so the
    # folder of tables here holds the fw table alone)
    only_fw = tmp_path / "only-fw"
    only_fw.mkdir()
    shutil.copy(shipped("digits-fw.h5"), only_fw / "digits-fw.h5")
    monkeypatch.setenv("SNNBENCH_TABLES_DIR", str(only_fw))
    with snnbench.open() as view:
        absent = next(h for h in _bw_hashes() if h not in view)
    assert_one_line_exit_2(run_cli("query", absent), "none of the shipped tables")


def _bw_hashes():
    from snnbench.space import space_hashes
    return space_hashes("bw")


def test_open_without_a_path_gives_one_view_of_the_shipped_tables():
    from snnbench.shipped import open_shipped
    fw_cell, fw_rec, bw_cell, bw_rec = _fw_trained_and_bw_only_cells()
    with snnbench.open() as view:
        assert [p.name for p in view.paths] == present()
        assert fw_cell in view and bw_cell in view and view.space == "bw"
        assert view.query(fw_cell)["table"] == "digits-fw.h5" and view.query(bw_cell)["table"] == "digits-bw.h5"
        for cell, rec in ((fw_cell, fw_rec), (bw_cell, bw_rec)):
            assert view.query(cell)["valid_acc"] == rec["valid_acc"]
            assert view.query(cell)["n_seeds"] == rec["n_seeds"]
        frame = view.to_dataframe()
        assert frame["hash"].is_unique and len(frame) == len(view)
        assert frame.set_index("hash").loc[bw_cell, "table"] == "digits-bw.h5"
    with open_shipped("digits") as view:  # one dataset: one protocol
        assert view.protocol.hash == view.tables[0].metadata["protocol_hash"] == view.tables[1].metadata["protocol_hash"]
    with snnbench.open("digits-bw") as bw:  # a shipped table by name
        assert bw.path == TABLES / "digits-bw.h5"


def test_info_without_a_file_lists_the_shipped_tables():
    shipped("digits-fw.h5"), shipped("digits-bw.h5")
    result = run_cli("info")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"shipped tables in {TABLES}") and "MANIFEST.json" in lines[0]
    names = present()
    for name, line in zip(names, lines[1:1 + len(names)], strict=True):
        with snnbench.open(TABLES / name) as b:
            m = b.metadata
        assert line.split()[:2] == [name, m["space"]]
        assert f"{m['n_cells']} cells, {m['n_trained']} trained" in line and m["protocol_hash"] in line
        assert "sha256 ok" in line


# ----------------------------------------------------------------------------- several datasets
def _write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    """An IDX file, gzipped: magic and dimensions as big-endian 32-bit integers, then the bytes."""
    import gzip
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes(), compresslevel=1))


def _fake_fashion_mnist(folder: Path) -> Path:
    """Fashion-MNIST in its official file layout: 600 training and 100 test random 28x28 images."""
    from snnbench.data import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", 600), ("t10k", 100)):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)), IDX_IMAGES_MAGIC)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", rng.permutation(np.arange(n) % 10), IDX_LABELS_MAGIC)
    return folder


@pytest.fixture(scope="module")
def fashion_table(tmp_path_factory):
    """(path, cells): a small real fashion-mnist fw table (fmnist-cpu made tiny, on the fake files) that
    trained two cells the shipped digits fw table trained."""
    from snnbench.build import Build, BuildSpec
    from snnbench.protocols import get_protocol
    with snnbench.open(shipped("digits-fw.h5")) as fw:
        cells = tuple(fw.cells(trained_only=True)[:2])
    folder = tmp_path_factory.mktemp("fashion")
    protocol = get_protocol("fmnist-cpu", train_size=200, input_size=8, epochs=1, width=4, score_batch=16)
    spec = BuildSpec("fw", protocol, folder / "fmnist-fw.h5", cells=cells, seeds=(0,),
                     data_dir=str(_fake_fashion_mnist(folder / "data")))
    assert Build(spec, workers=1, progress=False, command="tests/test_shipped.py").run().complete
    return folder / "fmnist-fw.h5", cells


@pytest.fixture
def tables_dir(fashion_table, tmp_path, monkeypatch):
    """$SNNBENCH_TABLES_DIR: copies of the digits tables and the fashion-mnist table, with a manifest
    listing them in the order digits-fw, digits-bw, fmnist-fw (not the order of a folder without one)."""
    from snnbench.manifest import make_manifest, write_manifest
    folder = tmp_path / "tables"
    folder.mkdir()
    names = ["digits-fw.h5", "digits-bw.h5", "fmnist-fw.h5"]
    for name in DIGITS_SHIPPED:
        shutil.copy(shipped(name), folder / name)
    shutil.copy(fashion_table[0], folder / "fmnist-fw.h5")
    write_manifest(make_manifest([folder / n for n in names]), folder / "MANIFEST.json")
    monkeypatch.setenv("SNNBENCH_TABLES_DIR", str(folder))
    return folder


def test_query_answers_with_every_shipped_table_that_holds_the_cell(tables_dir, fashion_table):
    from snnbench.shipped import query_all
    cell = fashion_table[1][0]
    result = run_cli("query", cell)
    assert result.exit_code == 0, result.output
    blocks = result.stdout.strip().split("\n\n")
    assert [b.splitlines()[:2] for b in blocks] == [
        ["table       digits-fw.h5 (shipped)", "dataset     digits"],
        ["table       digits-bw.h5 (shipped)", "dataset     digits"],
        ["table       fmnist-fw.h5 (shipped)", "dataset     fashion-mnist"]]
    records = json.loads(run_cli("query", cell, "--json").stdout)
    assert [(r["table"], r["dataset"]) for r in records] == [
        ("digits-fw.h5", "digits"), ("digits-bw.h5", "digits"), ("fmnist-fw.h5", "fashion-mnist")]
    for block, r in zip(blocks, records):  # each table's own record
        with snnbench.open(tables_dir / r["table"]) as b:
            own = b.query(cell)
        assert r["trained"] == own["trained"] and r["hd"] == own["hd"]
        if own["trained"]:
            assert r["valid_acc"] == own["valid_acc"] and f"valid acc   {own['valid_acc']:.2f} %" in block
    assert records[0]["trained"] and records[2]["trained"] and records[2]["n_seeds"] == 1
    in_python = query_all(cell)
    assert [(r["table"], r["dataset"], r["hash"]) for r in in_python] == [
        (r["table"], r["dataset"], r["hash"]) for r in records]


def test_query_dataset_keeps_that_datasets_tables(tables_dir, fashion_table):
    from snnbench.shipped import query_all
    cell = fashion_table[1][0]
    [fashion] = json.loads(run_cli("query", cell, "--dataset", "fashion-mnist", "--json").stdout)
    assert fashion["table"] == "fmnist-fw.h5" and fashion["dataset"] == "fashion-mnist"
    digits = json.loads(run_cli("query", cell, "--dataset", "digits", "--json").stdout)
    assert [r["table"] for r in digits] == ["digits-fw.h5", "digits-bw.h5"]
    assert [r["table"] for r in query_all(cell, dataset="fashion-mnist")] == ["fmnist-fw.h5"]
    assert_one_line_exit_2(run_cli("query", cell, "--dataset", "cifar10"),
                           "no shipped table of the dataset cifar10", "fmnist-fw.h5 (fashion-mnist)")
    assert_one_line_exit_2(run_cli("query", cell, "--dataset", "mnist"), "unknown dataset 'mnist'", "fashion-mnist")
    # a cell that no table of the dataset holds: one line, exit 2
    with snnbench.open(tables_dir / "digits-fw.h5") as fw:
        other = next(h for h in fw.cells(trained_only=True) if h not in fashion_table[1])
    assert_one_line_exit_2(run_cli("query", other, "--dataset", "fashion-mnist"),
                           f"cell {other}", "none of the shipped tables", "--dataset fashion-mnist --model MODEL")
    with pytest.raises(snnbench.errors.ArchitectureNotInTable):
        query_all(other, dataset="fashion-mnist")
    # with --table, --dataset must be that table's
    assert_one_line_exit_2(run_cli("query", cell, "--table", tables_dir / "fmnist-fw.h5", "--dataset", "digits"),
                           "is a table of fashion-mnist")
    single = json.loads(run_cli("query", cell, "--table", tables_dir / "fmnist-fw.h5", "--dataset", "fashion-mnist",
                                "--json").stdout)
    assert isinstance(single, dict) and single["hash"] == cell and "table" not in single


def test_open_without_a_path_still_answers_from_the_first_table_that_trained_the_cell(tables_dir, fashion_table):
    from snnbench.shipped import open_shipped
    cell = fashion_table[1][0]
    with snnbench.open() as view:
        assert [p.name for p in view.paths] == ["digits-fw.h5", "digits-bw.h5", "fmnist-fw.h5"]
        assert view.query(cell)["table"] == "digits-fw.h5"
        assert view.datasets == ["digits", "fashion-mnist"]
        with pytest.raises(snnbench.errors.ConfigError, match="differ in protocol"):
            view.protocol
    with open_shipped("fashion-mnist") as fashion:
        assert [b.path.name for b in fashion.tables] == ["fmnist-fw.h5"]
        assert fashion.query(cell)["table"] == "fmnist-fw.h5"


def test_info_and_verify_cover_every_shipped_table(tables_dir):
    result = run_cli("info")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split()[:3] for line in lines[1:4]] == [["digits-fw.h5", "fw", "digits:"],
                                                        ["digits-bw.h5", "bw", "digits:"],
                                                        ["fmnist-fw.h5", "fw", "fashion-mnist:"]]
    assert all("sha256 ok" in line for line in lines[1:4])
    verify = run_cli("verify", "--quick")
    assert verify.exit_code == 0, verify.output
    assert [line.split()[1] for line in verify.stdout.splitlines()] == [str(tables_dir / n) + ":" for n in (
        "digits-fw.h5", "digits-bw.h5", "fmnist-fw.h5")]


def test_a_listed_table_not_yet_built_and_an_unlisted_file_are_skipped(tables_dir, fashion_table):
    """The manifest decides what ships: fmnist-bw.h5 listed before it exists breaks nothing, and an
    .h5 file the manifest does not list (a build in progress) is not queried."""
    manifest = json.loads((tables_dir / "MANIFEST.json").read_text())
    manifest["tables"].append({**manifest["tables"][2], "file": "fmnist-bw.h5", "space": "bw"})
    (tables_dir / "MANIFEST.json").write_text(json.dumps(manifest))
    shutil.copy(tables_dir / "fmnist-fw.h5", tables_dir / "scratch.h5")
    cell = fashion_table[1][0]
    records = json.loads(run_cli("query", cell, "--json").stdout)
    assert [r["table"] for r in records] == ["digits-fw.h5", "digits-bw.h5", "fmnist-fw.h5"]
    with snnbench.open() as view:
        assert [p.name for p in view.paths] == ["digits-fw.h5", "digits-bw.h5", "fmnist-fw.h5"]
    info = run_cli("info")
    assert info.exit_code == 0, info.output
    assert any(line.split()[:2] == ["fmnist-bw.h5", "MISSING:"] for line in info.stdout.splitlines())
    assert any(line.split()[:4] == ["scratch.h5", "not", "in", "MANIFEST.json:"] for line in info.stdout.splitlines())
    verify = run_cli("verify", "--quick")
    assert verify.exit_code == 0, verify.output
    assert len(verify.stdout.splitlines()) == 3 and "scratch.h5" not in verify.stdout
    assert verify.stderr.strip() == (f"note: fmnist-bw.h5 is listed in {tables_dir / 'MANIFEST.json'} but not in "
                                     f"{tables_dir}: not checked")
    # a manifest none of whose tables is there: one line, exit 2
    (tables_dir / "MANIFEST.json").write_text(json.dumps({**manifest, "tables": manifest["tables"][3:]}))
    assert_one_line_exit_2(run_cli("query", cell), "lists fmnist-bw.h5, none of which is in")


def test_no_table_anywhere_is_a_one_line_error(monkeypatch, tmp_path):
    import snnbench.shipped as shipped_module
    monkeypatch.setenv("SNNBENCH_TABLES_DIR", str(tmp_path))
    assert_one_line_exit_2(run_cli("query", "ecb7cd2184de4ce5"), "SNNBENCH_TABLES_DIR", "holds no tables")
    monkeypatch.delenv("SNNBENCH_TABLES_DIR")
    monkeypatch.setattr(shipped_module, "source_tables_dir", lambda: None)
    monkeypatch.setattr(shipped_module, "SHARE_SUBDIR", Path("share", "snnbench-no-such-folder", "tables"))
    for args in (("query", "ecb7cd2184de4ce5"), ("info",), ("verify",)):
        assert_one_line_exit_2(run_cli(*args), "no shipped tables found", "--table FILE")
    with pytest.raises(snnbench.errors.ConfigError, match="no shipped tables found"):
        snnbench.open()


# ----------------------------------------------------------------------------- the plumbing
def test_a_table_written_from_a_live_journal_equals_the_builds_own(small_fw_table, tmp_path):
    from snnbench.build import snapshot_journal, spec_from_table, write_table_from_journal
    journal = Path(str(small_fw_table) + ".journal.sqlite")
    spec = spec_from_table(small_fw_table)
    with snnbench.open(small_fw_table) as b:
        built_as = Path(b.metadata["build"]["runs"][-1]["out"])  # the --out of the build that wrote it
        assert spec.selection() == b.metadata["selection"] and spec.protocol.hash == b.metadata["protocol_hash"]
    assert spec.journal == journal and spec.out == built_as
    out = tmp_path / "rewritten.h5"
    before = journal.read_bytes()
    live = sqlite3.connect(str(journal), timeout=60)
    live.execute("BEGIN IMMEDIATE")  # as a running build holding the write lock: snapshots still read it
    try:
        snapshot_journal(journal, tmp_path / "snap.sqlite")
        assert write_table_from_journal(spec, out) is True
    finally:
        live.rollback()
        live.close()
    assert journal.read_bytes() == before
    with h5py.File(small_fw_table, "r") as a, h5py.File(out, "r") as b:
        names = []
        a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for name in names:
            np.testing.assert_array_equal(a[name][()], b[name][()], err_msg=name)
        for key in set(a.attrs) - {"created", "build"}:
            assert np.array_equal(a.attrs[key], b.attrs[key]), key
        build = json.loads(b.attrs["build"])
        assert build["written_by"] == "write_table_from_journal" and build["journal"] == str(journal)
    assert run_cli("verify", out).exit_code == 0


def _as_written_by_the_runner(source, table):
    """A copy of a table whose recorded build command is the shipped tables' run spec (the manifest
    names the runner a table's command names)."""
    shutil.copy(source, table)
    with h5py.File(table, "r+") as f:
        build = json.loads(f.attrs["build"])
        build["command"] = "runners/digits.sh fw table (written by runners/write_tables.py)"
        f.attrs["build"] = json.dumps(build, sort_keys=True)
    return table


def test_make_manifest_records_the_tables_and_their_build_cost(small_fw_table, tmp_path):
    from snnbench.manifest import check_table, make_manifest, read_manifest, sha256_file, write_manifest
    table = _as_written_by_the_runner(small_fw_table, tmp_path / "digits-fw.h5")
    journal = Path(str(small_fw_table) + ".journal.sqlite")
    path = write_manifest(make_manifest([table], journal=journal, runners_dir=ROOT / "runners"), tmp_path / "MANIFEST.json")
    entry = read_manifest(path)["tables"][0]
    with snnbench.open(table) as b:
        m = b.metadata
    assert entry["sha256"] == sha256_file(table) and entry["size"] == table.stat().st_size
    for key in ("space", "protocol_name", "protocol_hash", "n_cells", "n_trained", "n_train_runs", "n_score_runs",
                "seeds", "created", "snnbench_version"):
        assert entry[key] == m[key], key
    assert entry["runner"] == "runners/digits.sh" and entry["build_command"] == m["build"]["command"]
    con = sqlite3.connect(str(journal))
    rows = [json.loads(r) for (r,) in con.execute("SELECT result FROM jobs")]
    con.close()
    build = entry["build"]
    assert build["jobs"] == build["jobs_in_journal"] == m["n_train_runs"] + m["n_score_runs"] == len(rows)
    assert build["cpu_hours"] == pytest.approx(sum(r["wall_time"] * r["threads"] for r in rows) / 3600, abs=1e-3)
    assert {w: v["jobs"] for w, v in build["machines"].items()} == m["build"]["where"]
    assert build["wall_hours"] > 0 and sum(r["jobs"] for r in build["runs"]) == len(rows)
    assert check_table(table) == (entry, [])


def test_make_manifest_runner_writes_the_manifest_the_command_writes(small_fw_table, tmp_path):
    table = _as_written_by_the_runner(small_fw_table, tmp_path / "digits-fw.h5")
    journal = Path(str(small_fw_table) + ".journal.sqlite")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    runner = subprocess.run(["bash", str(ROOT / "runners" / "manifest.sh"), str(tmp_path), str(journal)],
                            capture_output=True, text=True, env=env)
    assert runner.returncode == 0, runner.stderr
    assert runner.stdout.splitlines()[0].startswith("digits-fw.h5: sha256 ")
    from snnbench.manifest import read_manifest
    written = read_manifest(tmp_path / "MANIFEST.json")["tables"][0]
    assert written["file"] == "digits-fw.h5" and written["runner"] == "runners/digits.sh"
    assert run_cli("verify", str(table)).exit_code == 0
    missing = subprocess.run(["bash", str(ROOT / "runners" / "manifest.sh"), str(tmp_path / "nowhere")],
                             capture_output=True, text=True, env=env)
    assert missing.returncode == 2 and not (tmp_path / "nowhere").exists()


def test_a_table_built_with_a_label_names_its_runner_in_the_manifest(small_fw_table, tmp_path):
    from snnbench.manifest import make_manifest
    table = tmp_path / "fmnist-fw.h5"
    shutil.copy(small_fw_table, table)
    with h5py.File(table, "r+") as f:
        build = json.loads(f.attrs["build"])
        build["label"] = "runners/fmnist.sh"  # what `snnbench build --label runners/fmnist.sh` records
        f.attrs["build"] = json.dumps(build, sort_keys=True)
    assert make_manifest([table], runners_dir=ROOT / "runners")["tables"][0]["runner"] == "runners/fmnist.sh"
