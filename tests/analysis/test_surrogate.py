"""The XGBoost surrogate: encoding, accuracy on held-out cells of a real digits table, model files."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import snnbench
from snnbench.cli import main
from snnbench.errors import InvalidCellError, ModelFormatError
from snnbench.space import ATTRIBUTE_NAMES, PAIRS, Cell, states_to_matrices
from snnbench.surrogate import (FEATURE_VERSION, PAIR_STATES, Surrogate, SurrogateParams, cross_validate,
                                encode_cells, feature_names, load_surrogate, pair_states)

SMALL_PARAMS = SurrogateParams(n_members=3, n_estimators=60)
SHIPPED_FW = Path(__file__).resolve().parents[2] / "tables" / "digits-fw.h5"


@pytest.fixture(scope="session")
def surrogate_table():
    """The shipped digits fw table: real CPU-protocol runs of many more cells than small_fw_table,
    so that held-out cells are many enough to judge a regressor (and a table of another protocol
    than small_fw_table's)."""
    if not SHIPPED_FW.exists():
        pytest.fail(f"{SHIPPED_FW} is missing: the repository ships it")
    return SHIPPED_FW


def _frame(path):
    with snnbench.open(path) as bench:
        return bench.to_dataframe(), bench.protocol


@pytest.fixture(scope="module")
def fitted_small(small_fw_table, tmp_path_factory):
    """(model, path of its MODEL.json, table frame) fit on small_fw_table."""
    frame, protocol = _frame(small_fw_table)
    model = Surrogate(SMALL_PARAMS).fit_table(frame, protocol)
    path = model.save(tmp_path_factory.mktemp("model") / "model.json")
    return model, path, frame


def _copy_model(path, to_dir):
    for f in path.parent.glob(path.stem + "*"):
        (to_dir / f.name).write_bytes(f.read_bytes())
    return to_dir / path.name


# ----------------------------------------------------------------------------- encoding
def test_features_are_a_one_hot_state_per_pair_then_the_attribute_counts():
    cell = Cell.from_text("0302 0030 3003 0000")  # backward conv3x3 from node 2 into node 0
    x = encode_cells([cell])[0]
    names = feature_names()
    assert len(x) == len(names) == len(PAIRS) * len(PAIR_STATES) + len(ATTRIBUTE_NAMES)
    onehot = x[:len(PAIRS) * len(PAIR_STATES)].reshape(len(PAIRS), len(PAIR_STATES))
    assert (onehot.sum(axis=1) == 1).all()
    assert list(onehot.argmax(axis=1)) == list(pair_states(cell))
    assert names[PAIRS.index((0, 2)) * len(PAIR_STATES) + PAIR_STATES.index("bw3")] == "pair02_bw3"
    assert onehot[PAIRS.index((0, 2)), PAIR_STATES.index("bw3")] == 1
    attrs = cell.attributes()
    assert list(x[len(PAIRS) * len(PAIR_STATES):]) == [float(attrs[a]) for a in ATTRIBUTE_NAMES]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=6, max_size=6))
def test_every_encoding_of_one_network_gets_the_same_features(states):
    matrix = states_to_matrices(np.array([states]))[0]
    try:
        cell = Cell(matrix)
    except InvalidCellError:
        return
    relabelled = matrix[[0, 2, 1, 3]][:, [0, 2, 1, 3]]  # swap nodes 1 and 2
    if matrix[1, 2] == 0 and matrix[2, 1] == 0:
        np.testing.assert_array_equal(encode_cells([cell]), encode_cells([Cell(relabelled)]))
    np.testing.assert_array_equal(encode_cells([cell]), encode_cells([cell.hash]))


# ----------------------------------------------------------------------------- accuracy
def test_surrogate_beats_a_mean_predictor_on_held_out_cells(surrogate_table):
    frame, _protocol = _frame(surrogate_table)
    curve = cross_validate(frame, folds=4, params=SurrogateParams(n_members=3, n_estimators=150), seed=0)
    largest = curve.iloc[-1]
    assert largest["size"] >= 60  # the shipped table has well over 80 trained cells
    assert largest["rmse"] < largest["mean_rmse"]
    assert largest["tau"] > 0


def test_ensemble_members_disagree_so_std_is_an_uncertainty(fitted_small):
    model, _path, frame = fitted_small
    mean, std = model.predict_cells(frame["hash"])
    assert mean.shape == std.shape == (len(frame),)
    assert (std >= 0).all() and std.max() > 0


# ----------------------------------------------------------------------------- files
def test_save_then_load_gives_identical_predictions(fitted_small):
    model, path, frame = fitted_small
    loaded = load_surrogate(path)
    for a, b in zip(model.predict_cells(frame["hash"]), loaded.predict_cells(frame["hash"])):
        np.testing.assert_array_equal(a, b)
    assert loaded.protocol_hash == model.protocol_hash and loaded.train_hashes == model.train_hashes


def test_model_files_are_json_metadata_and_xgboost_json_members(fitted_small):
    model, path, _frame = fitted_small
    meta = json.loads(path.read_text())
    assert meta["feature_version"] == FEATURE_VERSION
    assert meta["ensemble_size"] == len(meta["members"]) == SMALL_PARAMS.n_members
    assert meta["n_train_cells"] == len(model.train_hashes) == 12
    for entry in meta["members"]:
        member = json.loads((path.parent / entry["file"]).read_text())
        assert "learner" in member  # XGBoost's own model JSON


def test_a_damaged_member_is_refused(fitted_small, tmp_path):
    path = _copy_model(fitted_small[1], tmp_path)
    member = tmp_path / f"{path.stem}.member1.json"
    member.write_text(member.read_text().replace('"learner"', '"lerner"', 1))
    with pytest.raises(ModelFormatError, match="damaged"):
        load_surrogate(path)


def test_a_missing_member_is_refused(fitted_small, tmp_path):
    path = _copy_model(fitted_small[1], tmp_path)
    (tmp_path / f"{path.stem}.member0.json").unlink()
    with pytest.raises(ModelFormatError, match="missing"):
        load_surrogate(path)


def test_truncated_metadata_is_refused(fitted_small, tmp_path):
    path = _copy_model(fitted_small[1], tmp_path)
    path.write_text(path.read_text()[:100])
    with pytest.raises(ModelFormatError, match="not a JSON model file"):
        load_surrogate(path)


def test_a_model_of_another_feature_version_is_refused(fitted_small, tmp_path):
    path = _copy_model(fitted_small[1], tmp_path)
    meta = json.loads(path.read_text())
    meta["feature_version"] = FEATURE_VERSION + 1
    path.write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="feature version"):
        load_surrogate(path)


def test_a_model_of_another_protocol_is_refused(fitted_small):
    with pytest.raises(ModelFormatError, match="protocol"):
        load_surrogate(fitted_small[1], protocol_hash="0123456789abcdef")


# ----------------------------------------------------------------------------- commands
def test_fit_then_predict_commands(small_fw_table, tmp_path):
    runner = CliRunner()
    model = tmp_path / "m.json"
    fit = runner.invoke(main, ["surrogate", "fit", str(small_fw_table), "--out", str(model),
                               "--members", "2", "--estimators", "30"])
    assert fit.exit_code == 0, fit.output
    assert (tmp_path / "m.member0.json").exists() and (tmp_path / "m.member1.json").exists()
    pred = runner.invoke(main, ["predict", "0302 0030 3003 0000", "--model", str(model),
                                "--table", str(small_fw_table)])
    assert pred.exit_code == 0, pred.output
    assert "predicted valid_acc" in pred.output


def test_predict_command_refuses_a_damaged_model_in_one_line(fitted_small, tmp_path):
    path = _copy_model(fitted_small[1], tmp_path)
    member = tmp_path / f"{path.stem}.member0.json"
    member.write_bytes(member.read_bytes()[:-10])
    result = CliRunner().invoke(main, ["predict", "0302 0030 3003 0000", "--model", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "damaged" in lines[0]


def test_predict_command_refuses_a_model_fit_on_another_protocol(fitted_small, surrogate_table):
    result = CliRunner().invoke(main, ["predict", "0302 0030 3003 0000", "--model", str(fitted_small[1]),
                                       "--table", str(surrogate_table)])
    assert result.exit_code == 2
    assert "protocol" in result.output and len(result.output.strip().splitlines()) == 1


def test_eval_command_prints_the_curve_next_to_the_noise_ceiling(small_fw_table):
    result = CliRunner().invoke(main, ["surrogate", "eval", str(small_fw_table), "--folds", "3", "--sizes", "4,8",
                                       "--members", "2", "--estimators", "30"])
    assert result.exit_code == 0, result.output
    assert "Kendall tau" in result.output and "noise ceiling" in result.output
    assert len([l for l in result.output.splitlines() if l.strip().startswith(("4 ", "8 "))]) == 2
