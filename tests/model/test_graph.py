"""The authors' graph for cells with backward edges (spec section 2, "Which modules run"): every edge
module runs once per timestep, on zeros where its source holds nothing yet, backward edges at the
last timestep too. Checked against a straightforward per-timestep loop written from the description."""
import copy

import pytest
import torch

from snnbench.protocols import Protocol, get_protocol
from snnbench.scores import score_cell
from snnbench.snn import SpikingCell, build_network, get_profile, is_lif
from snnbench.space import Cell

# Each covers a case of the description (all are canonical cells of the bw space).
CASES = {
    "node 1 has only a backward input": "0031 0002 0300 0000",
    "backward edge out of node 3": "0303 0030 0003 0200",
    "backward skip and backward avgpool": "0101 0010 3000 0400",
    "backward skip into node 0, no LIF in the cell": "0101 0011 1000 0000",
    "two backward edges into node 1": "0032 3000 0103 0400",
    "two backward edges into node 0, out of node 3": "0003 3000 3000 0330",
}


def _reference_forward(cell: SpikingCell, x: torch.Tensor) -> torch.Tensor:
    """The description, step by step: for t = 0..T-1, v_0 = x[t] + m_0, v_j = sum_i fwd(i->j)(v_i) + m_j
    (j = 1, 2), v_3 = sum_i fwd(i->3)(v_i), then m_j = sum_k back(k->j)(v_k); m = 0 at the start.
    Every module is called with one timestep at a time."""
    edges = {tuple(int(n) for n in key.split("_")): op for key, op in cell.edge_ops.items()}
    zero = torch.zeros_like(x[:1])
    memory = [zero, zero, zero]
    outputs = []
    for t in range(x.shape[0]):
        v = [x[t:t + 1] + memory[0]]
        for j in (1, 2, 3):
            total = zero + (memory[j] if j < 3 else 0)
            for i in range(j):
                if (i, j) in edges:
                    total = total + edges[(i, j)](v[i], t)
            v.append(total)
        memory = [zero, zero, zero]
        for j in range(3):
            for k in range(j + 1, 4):
                if (k, j) in edges:
                    memory[j] = memory[j] + edges[(k, j)](v[k], t)
        outputs.append(v[3])
    return torch.cat(outputs, 0)


def _equation_values(x: torch.Tensor, cell: Cell) -> torch.Tensor:
    """Section 2's node equations for cells made of skips and avgpools only (no parameters, no state)."""
    m = cell.canonical_matrix
    op = {1: lambda z: z, 4: lambda z: torch.nn.functional.avg_pool2d(z, 3, stride=1, padding=1)}
    prev, outputs = [torch.zeros_like(x[0])] * 4, []
    for t in range(x.shape[0]):
        n = []
        for j in range(4):
            total = x[t] if j == 0 else torch.zeros_like(x[t])
            for i in range(j):
                if m[i][j]:
                    total = total + op[int(m[i][j])](n[i])
            if j < 3:
                for k in range(j + 1, 4):
                    if m[k][j]:
                        total = total + op[int(m[k][j])](prev[k])
            n.append(total)
        outputs.append(n[3])
        prev = n
    return torch.stack(outputs)


def _twin_cells(text, channels=3, timesteps=4, per_timestep_bn=False, seed=0):
    torch.manual_seed(seed)
    cell = SpikingCell(Cell.from_text(text).canonical_matrix, channels, timesteps, per_timestep_bn, "authors")
    for name, p in cell.named_parameters():  # BatchNorm biases away from 0, so that zero-input calls show
        if name.endswith("bn.bias"):
            with torch.no_grad():
                p.uniform_(-0.5, 0.5)
    return cell.train(), copy.deepcopy(cell).train()


def _lif_calls(cell: SpikingCell):
    """Counts of LIF calls (one per timestep) of every edge, filled by forward hooks."""
    counts = {}
    for key, op in cell.edge_ops.items():
        for module in op.modules():
            if is_lif(module):
                counts[key] = 0
                module.register_forward_hook(lambda _m, _i, out, key=key: counts.__setitem__(key, counts[key] + out.shape[0]))
    return counts


@pytest.mark.parametrize("text", list(CASES.values()), ids=list(CASES))
@pytest.mark.parametrize("per_timestep_bn", [False, True])
def test_authors_graph_equals_per_timestep_loop_of_the_description(text, per_timestep_bn):
    fast, reference = _twin_cells(text, per_timestep_bn=per_timestep_bn)
    x = torch.randn(4, 5, 3, 6, 6)
    with torch.no_grad():
        out, ref = fast(x), _reference_forward(reference, x)
    assert torch.equal(out, ref)
    # BatchNorm running statistics too: the same T updates per module; a shared set updated by T
    # timesteps at once uses the closed form of the sequential update, equal up to float rounding
    for a, b in zip(fast.buffers(), reference.buffers()):
        assert torch.allclose(a, b, rtol=0, atol=1e-6) if not per_timestep_bn else torch.equal(a, b)


@pytest.mark.parametrize("text", list(CASES.values()), ids=list(CASES))
def test_every_edge_lif_is_called_once_per_timestep(text):
    cell, _ = _twin_cells(text, timesteps=5)
    counts = _lif_calls(cell)
    with torch.no_grad():
        cell(torch.randn(5, 2, 3, 4, 4))
    assert all(calls == 5 for calls in counts.values())
    if text != CASES["backward skip into node 0, no LIF in the cell"]:
        assert counts


def test_skip_idle_graph_calls_fewer_modules():
    """The first graph skips a forward edge out of a node that is still empty, and backward edges at t=0."""
    cell, old = _twin_cells(CASES["node 1 has only a backward input"], timesteps=5)
    old.graph = "skip-idle"
    counts = _lif_calls(old)
    with torch.no_grad():
        old(torch.randn(5, 2, 3, 4, 4))
    # 1->3 conv1x1 waits for node 1 (empty at t = 0); the backward 2->1 conv3x3 runs at t >= 1 only
    assert counts == {"0_2": 5, "1_3": 4, "2_1": 4}


@pytest.mark.parametrize("text", list(CASES.values()), ids=list(CASES))
def test_node_values_follow_the_section_2_equations(text):
    """At initialisation (BatchNorm bias 0, training mode) a module on zeros adds nothing, so the
    authors' graph and the first graph both give the equations' node values."""
    torch.manual_seed(4)
    x = torch.randn(5, 3, 3, 6, 6)
    matrix = Cell.from_text(text).canonical_matrix
    torch.manual_seed(0)
    authors = SpikingCell(matrix, 3, 5, graph="authors").train()
    idle = copy.deepcopy(authors)
    idle.graph = "skip-idle"
    with torch.no_grad():
        a, b = authors(x), idle(x)
    assert torch.allclose(a, b, atol=1e-6)
    if all(int(v) in (0, 1, 4) for v in matrix.flatten()):
        assert torch.allclose(a, _equation_values(x, Cell.from_text(text)), atol=1e-6)


def test_zero_input_conv_edge_outputs_its_batchnorm_bias_in_training():
    """Once BatchNorm has a bias, the extra calls change node values: the graphs then differ."""
    fast, _ = _twin_cells(CASES["node 1 has only a backward input"], timesteps=4)
    old = copy.deepcopy(fast)
    old.graph = "skip-idle"
    x = torch.randn(4, 5, 3, 6, 6)
    with torch.no_grad():
        a, b = fast(x), old(x)
    assert not torch.allclose(a[0], b[0])  # 1->3 ran on zeros at t = 0 and added its BatchNorm bias
    bias = fast.edge_ops["1_3"].bn.bias.view(1, -1, 1, 1)
    assert torch.allclose(a[0] - b[0], bias.expand_as(a[0]), atol=1e-5)


def _scores(text, graph, profile_name="digits"):
    profile = get_profile(profile_name, width=4, graph=graph)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(16, 1, 8, 8, generator=g) for _ in range(2)]
    r = score_cell(Cell.from_text(text), profile, batches, seed=3, eq9=True)
    return r.hd, r.sahd, r.sahd_eq9


@pytest.mark.parametrize("text", ["0303 0030 0003 0000", "0102 0034 0000 0000", "0324 0001 0003 0000"])
def test_forward_cells_score_the_same_bit_for_bit_under_both_graphs(text):
    assert _scores(text, "authors") == _scores(text, "skip-idle")


def test_backward_scores_differ_where_the_graphs_call_different_lifs():
    # extra LIF calls (on zeros at t = 0, backward convs at the last step) enter the kernels
    text = CASES["node 1 has only a backward input"]
    assert _scores(text, "authors") != _scores(text, "skip-idle")
    # no LIF on any edge of the cell: the same LIF calls under both graphs, the same scores
    text = CASES["backward skip into node 0, no LIF in the cell"]
    assert _scores(text, "authors") == _scores(text, "skip-idle")


def test_graph_is_part_of_the_protocol_identity_and_old_records_read_as_the_first_graph():
    authors, idle = get_protocol("digits-cpu"), get_protocol("digits-cpu", graph="skip-idle")
    assert authors.graph == "authors" and authors.hash != idle.hash
    assert idle.hash == "5f4b90695438e055"  # the hash the shipped digits tables recorded before graphs existed
    old_json = idle.to_json().replace(', "graph": "skip-idle"', "")
    assert '"graph"' not in old_json and Protocol.from_json(old_json) == idle
    assert Protocol.from_json(authors.to_json()) == authors
    assert build_network(Cell.from_text("0302 0030 3003 0000"), authors.network_profile()).cell1.graph == "authors"


def test_a_table_keeps_training_runs_of_another_graph_and_says_so(small_fw_table, tmp_path):
    """Scores re-made under one graph, training runs kept from a protocol that differs only in the
    graph: the table records both protocols, verifies, and answers with the kept runs."""
    import dataclasses

    from click.testing import CliRunner

    from snnbench.build import Build, BuildSpec, spec_from_table, write_table_from_journal
    from snnbench.cli import main
    from snnbench.errors import ConfigError
    from snnbench.table import open_table
    kept = spec_from_table(small_fw_table)
    rescored = kept.protocol.with_(graph="skip-idle")
    scores_only = BuildSpec("fw", rescored, tmp_path / "scores.h5", sample=kept.sample, sample_seed=kept.sample_seed,
                            score_sample=kept.score_sample, scores_only=True)
    assert Build(scores_only, progress=False).run().complete
    spec = dataclasses.replace(kept, protocol=rescored, out=tmp_path / "both.h5", journal=scores_only.journal_path,
                               train_protocol=kept.protocol, train_journal=kept.journal_path)
    assert write_table_from_journal(spec)
    with open_table(spec.out) as both, open_table(small_fw_table) as original:
        assert both.protocol.graph == "skip-idle" and both.train_protocol == kept.protocol
        assert both.metadata["train_protocol_hash"] == kept.protocol.hash != both.metadata["protocol_hash"]
        cell = original.cells(trained_only=True)[0]
        assert both.query(cell)["valid_acc"] == original.query(cell)["valid_acc"]
        assert both.query(cell)["hd"] == original.query(cell)["hd"]  # a fw cell: the same under both graphs
    assert CliRunner().invoke(main, ["verify", str(spec.out)]).exit_code == 0
    info = CliRunner().invoke(main, ["info", str(spec.out)]).output
    assert f"runs made under {kept.protocol.name} {kept.protocol.hash}" in info and "graph authors" in info
    assert spec_from_table(spec.out).train_protocol == kept.protocol  # rewritable from its own record
    with pytest.raises(ConfigError, match="only in the graph"):
        dataclasses.replace(spec, train_protocol=kept.protocol.with_(epochs=3)).validate()
    with pytest.raises(ConfigError, match="not built"):
        Build(spec, progress=False).run()


def test_a_forward_cell_trains_to_the_same_record_under_both_graphs():
    from snnbench.data import load_dataset
    from snnbench.train import train_cell
    data = load_dataset("digits")
    records = [train_cell(Cell.from_text("0303 0030 0003 0000"),
                          get_protocol("digits-cpu", epochs=1, width=4, batch_size=64, graph=graph), 0, data).to_dict()
               for graph in ("authors", "skip-idle")]
    for key in ("valid_acc", "test_acc", "train_loss", "firing_rate", "n_params"):
        assert records[0][key] == records[1][key], key
