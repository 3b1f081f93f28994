"""What the session fixture small_fw_table (tests/conftest.py) holds, and helpers for tests that use
it, importable by test modules: a module with a name of its own, since every test directory's
conftest is imported as "conftest"."""
import shutil
from pathlib import Path

# What small_fw_table holds (tests may rely on these numbers).
SMALL_FW_TABLE = dict(space="fw", protocol="digits-cpu", epochs=2, width=8, batch_size=64, timesteps=3,
                      sample=12, sample_seed=0,
                      seeds=(0, 1), score_seeds=(0,), score_sample=52)


def small_fw_protocol():
    """The protocol of small_fw_table: digits-cpu made cheap (2 epochs, width 8, batch 64, T = 3)."""
    from snnbench.protocols import get_protocol
    c = SMALL_FW_TABLE
    return get_protocol(c["protocol"], epochs=c["epochs"], width=c["width"], batch_size=c["batch_size"],
                        timesteps=c["timesteps"])


def small_fw_spec(out, **fields):
    """The BuildSpec of small_fw_table writing to `out`, with `fields` changed (BuildSpec's names)."""
    from snnbench.build import BuildSpec
    c = SMALL_FW_TABLE
    settings = dict(sample=c["sample"], sample_seed=c["sample_seed"], seeds=c["seeds"], score_seeds=c["score_seeds"],
                    score_sample=c["score_sample"])
    settings.update(fields)
    return BuildSpec(c["space"], small_fw_protocol(), out, **settings)


def copy_table(source, folder, name="t.h5", journal=True) -> Path:
    """A copy of table `source` as folder/name, with its journal beside it (when it has one and
    `journal`): a table a test may change."""
    dest = Path(folder) / name
    shutil.copy(source, dest)
    if journal and Path(str(source) + ".journal.sqlite").exists():
        shutil.copy(str(source) + ".journal.sqlite", str(dest) + ".journal.sqlite")
    return dest
