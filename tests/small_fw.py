"""What the session fixture small_fw_table (tests/conftest.py) holds, importable by test modules:
a module with a name of its own, since every test directory's conftest is imported as "conftest"."""
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
