#!/usr/bin/env bash
# Scores every bw cell for tables/digits-bw.h5 outside the build, shard by shard from the top down
# (shard K of NSHARDS holds the cells whose hash is K modulo NSHARDS; a lent machine works them from
# the bottom up with runners/device-bw-scores.sh), skipping cells the journal already holds.
# Resumable: each shard appends to runs/bw-scores/K.jsonl. Then record them in the journal:
#   for f in runs/bw-scores/*.jsonl; do python runners/import_scores.py tables/digits.journal.sqlite $f; done
# (`runners/digits-bw.sh` alone does the same work as score jobs of the build, in one ordering.)
set -eu
cd "$(dirname "$0")/.."
python3 runners/journal.py unpack  # a fresh checkout: the committed journal snapshot
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
NSHARDS=${NSHARDS:-64}
mkdir -p runs/bw-scores
for k in $(seq $((NSHARDS - 1)) -1 0); do
  snnbench score --space bw --all --dataset digits --protocol digits-cpu --graph skip-idle --device cpu \
    --skip-journal tables/digits.journal.sqlite --shard "$k/$NSHARDS" --out "runs/bw-scores/$k.jsonl"
done
