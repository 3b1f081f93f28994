#!/usr/bin/env bash
# Fill .whl/ (ignored by git) with the wheels that benchmarks/device_issue15.sh installs on a lent GPU
# machine, which has torch, torchvision, h5py, pandas, scipy, click, tqdm, scikit-learn and pillow but
# no spikingjelly, and no network. Run it here, from the repository root, before the device run; the
# run then carries .whl (the device tool's `carry`).
#
# Only what is missing there and small: spikingjelly 2.0.0 (the version the shipped tables were
# trained with; pure Python, about 1 MB) and loguru, which its neurons import (spikingjelly.logger);
# its other requirements are there or never imported by snnbench. Ray is not carried: its wheel (about 80 MB for CPython 3.12)
# is larger than all a device call may carry (64 MiB, the working tree included, which is about
# 48 MiB by itself), so device_issue15.sh checks GPU binding under real Ray only where Ray is already
# installed and otherwise with Ray's binding reproduced in plain processes.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
DEST=.whl
PYTHON=${PYTHON:-python3}
mkdir -p "$DEST"
git check-ignore -q "$DEST/x.whl" || { echo "$DEST/ is not ignored by git: add it to .gitignore first" >&2; exit 2; }
# The lent machine's python3 is CPython 3.12 on x86-64 (KINDS.md of the device tool).
"$PYTHON" -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$DEST" "spikingjelly==2.0.0" "loguru==0.7.3"
ls -l "$DEST"
du -sh "$DEST"
