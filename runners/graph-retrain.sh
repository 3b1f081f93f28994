#!/usr/bin/env bash
# Issue 19's retraining check: 32 trained bw cells of tables/digits-bw.h5 (runners/graph-retrain-cells.txt)
# trained again with seeds 0 and 1 under the authors' graph, to compare with the table's records
# (the first graph, 'skip-idle'). Resumable: its jobs are in tables/digits-authors.journal.sqlite (the
# authors'-graph journal, which also holds the bw scores). Seed 0 of the 32 cells and 5 seed-1 runs
# were made; that was enough to decide (README "The shipped tables"). Compare with:
#   snnbench correlate --across tables/digits-bw.h5 runs/graph-retrain/authors.h5
set -eu
cd "$(dirname "$0")/.."
snnbench journal unpack tables/digits-authors.journal.sqlite.xz
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
exec snnbench build --space bw --dataset digits --protocol digits-cpu --graph authors \
  --cells runners/graph-retrain-cells.txt --seeds 0,1 --score-seeds 0 --workers 1 --device cpu --quiet \
  --journal tables/digits-authors.journal.sqlite --out runs/graph-retrain/authors.h5
