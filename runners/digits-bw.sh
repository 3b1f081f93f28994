#!/usr/bin/env bash
# Builds tables/digits-bw.h5: every unique bw cell scored, 300 cells (uniform draw, sample seed 0)
# trained with seeds 0 and 1 under the digits-cpu protocol with the first graph (skip-idle, the protocol hash 5f4b90695438e055 recorded in the tables). Resumable: rerun after any interruption.
# The journal is shared with digits-fw.sh, so a fw cell met in the bw sample is trained once.
# Stage 1 (train first, so that a partial table already ranks cells):
#   runners/digits-bw.sh train   -> scores only the trained cells
# Stage 2 (the shipped table):
#   runners/digits-bw.sh         -> adds the scores of every other bw cell
set -eu
cd "$(dirname "$0")/.."
python3 runners/journal.py unpack  # a fresh checkout: the committed journal snapshot
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# same kernels (and float rounding) on any x86 CPU with AVX2 or newer: results reproduce bit for bit
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
extra="--score-all"
[ "${1:-}" = "train" ] && extra=""
exec snnbench build --space bw --dataset digits --protocol digits-cpu --graph skip-idle --sample 300 --sample-seed 0 \
  --seeds 0,1 --score-seeds 0 $extra --workers "${WORKERS:-2}" --device cpu \
  --journal tables/digits.journal.sqlite --out tables/digits-bw.h5
