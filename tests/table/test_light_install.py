"""The reader side (open, query, info, verify, correlate) works without torch: a user who only
queries installs the base package (numpy, h5py, pandas, scipy, click, tqdm). CI also installs the
base package alone in a second environment and runs `snnbench query` and `snnbench verify`."""
import subprocess
import sys
from pathlib import Path

import pytest

TABLES = Path(__file__).resolve().parents[2] / "tables"

READER = r"""
import sys
from click.testing import CliRunner
import snnbench
from snnbench.cli import main
table = sys.argv[1]
with snnbench.open(table) as bench:
    cell = bench.cells(trained_only=True)[0]
    bench.query(cell)
    bench.protocol
    bench.to_dataframe()
for args in (["query", cell, "--table", table], ["info", table], ["verify", table],
             ["correlate", table, "--boot", "10"]):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, (args, result.output)
print("torch" in sys.modules, "spikingjelly" in sys.modules)
"""


def test_reading_a_table_never_imports_torch():
    table = TABLES / "digits-fw.h5"
    if not table.is_file():
        pytest.skip("tables/digits-fw.h5 is not in this checkout")
    out = subprocess.run([sys.executable, "-c", READER, str(table)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_a_command_needing_an_extra_says_which_in_one_line():
    code = ("import sys; sys.modules['torch'] = None\n"  # as if torch were not installed
            "from snnbench.cli import main\n"
            "main(['score', '0302 0030 3003 0000'], prog_name='snnbench')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: this command needs torch, which is not installed: "
                                               "pip install 'snnbench[build]'"]
