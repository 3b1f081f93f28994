#!/usr/bin/env bash
# Builds a shipped digits table, tables/digits-SPACE.h5 (SPACE fw or bw): every unique cell of the
# space scored under the authors' graph (digits-cpu, graph 'authors', protocol 9f5be9bdfea7298f;
# journal tables/digits-authors.journal.sqlite), and 300 cells (uniform draw, sample seed 0) trained
# with seeds 0 and 1 under the first graph (digits-cpu, graph 'skip-idle', 5f4b90695438e055; journal
# tables/digits.journal.sqlite, shared by both spaces, so a fw cell met in the bw sample is trained
# once). The training runs were kept when the scores were re-made (issue 19): a fw cell is the same
# network under both graphs, and 32 bw cells retrained under the authors' graph came out within seed
# noise of them (runners/graph-retrain.sh, README "The shipped tables"). Resumable, stage by stage:
#   runners/digits.sh SPACE train    -> the training runs (first graph), a working table in runs/
#   runners/digits.sh SPACE scores   -> the authors'-graph scores, recorded in their journal
#   runners/digits.sh SPACE table    -> writes tables/digits-SPACE.h5 from the two journals
#   runners/digits.sh SPACE          -> all three
set -eu
cd "$(dirname "$0")/.."
snnbench journal unpack tables/digits.journal.sqlite.xz  # a fresh checkout: the committed journal snapshots
snnbench journal unpack tables/digits-authors.journal.sqlite.xz
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# same kernels (and float rounding) on any x86 CPU with AVX2 or newer: results reproduce bit for bit
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
space=$1
stage=${2:-all}
if [ "$stage" = train ] || [ "$stage" = all ]; then
  snnbench build --space "$space" --dataset digits --protocol digits-cpu --graph skip-idle --sample 300 \
    --sample-seed 0 --seeds 0,1 --score-seeds 0 --workers "${WORKERS:-2}" --device cpu \
    --journal tables/digits.journal.sqlite --out "runs/digits-$space-skip-idle.h5"
fi
if [ "$stage" = scores ] || [ "$stage" = all ]; then
  export NSHARDS=${NSHARDS:-2}
  for k in $(seq 0 $((NSHARDS - 1))); do runners/digits-authors-scores.sh "$space" "$k" & done
  wait
  for f in "runs/$space-authors-scores"/*.jsonl; do
    snnbench journal import-scores tables/digits-authors.journal.sqlite "$f"
  done
fi
if [ "$stage" = table ] || [ "$stage" = all ]; then
  # tables/digits-SPACE.h5 from the two journals: the authors'-graph scores, the first graph's runs
  snnbench table rewrite "tables/digits-$space.h5" --journal tables/digits-authors.journal.sqlite \
    --train-journal tables/digits.journal.sqlite --scores-graph authors --score-all --force \
    --label "runners/digits.sh $space table"
fi
