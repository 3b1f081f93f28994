#!/usr/bin/env bash
# Builds tables/digits-fw.h5: every unique fw cell scored under the authors' graph (digits-cpu, graph
# 'authors', protocol 9f5be9bdfea7298f; journal tables/digits-authors.journal.sqlite; a fw cell
# scores the same under both graphs, bit for bit), and 300 cells (uniform draw, sample seed 0) trained
# with seeds 0 and 1 under the first graph (digits-cpu, graph 'skip-idle', 5f4b90695438e055; journal
# tables/digits.journal.sqlite, shared with digits-bw.sh, so a fw cell met in the bw sample is trained
# once; a fw cell trains the same under both graphs too). Resumable, stage by stage:
#   runners/digits-fw.sh train    -> the training runs, a working table in runs/
#   runners/digits-fw.sh scores   -> the authors'-graph scores of the fw cells not yet in their journal
#   runners/digits-fw.sh table    -> writes tables/digits-fw.h5 from the two journals
#   runners/digits-fw.sh          -> all three
set -eu
cd "$(dirname "$0")/.."
python3 runners/journal.py unpack  # a fresh checkout: the committed journal snapshots
python3 runners/journal.py unpack tables/digits-authors.journal.sqlite
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
# same kernels (and float rounding) on any x86 CPU with AVX2 or newer: results reproduce bit for bit
export ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
stage=${1:-all}
if [ "$stage" = train ] || [ "$stage" = all ]; then
  snnbench build --space fw --dataset digits --protocol digits-cpu --graph skip-idle --sample 300 --sample-seed 0 \
    --seeds 0,1 --score-seeds 0 --workers "${WORKERS:-2}" --device cpu \
    --journal tables/digits.journal.sqlite --out runs/digits-fw-skip-idle.h5
fi
if [ "$stage" = scores ] || [ "$stage" = all ]; then
  mkdir -p runs
  snnbench score --space fw --all --dataset digits --protocol digits-cpu --graph authors --device cpu \
    --skip-journal tables/digits-authors.journal.sqlite --out runs/fw-authors-scores.jsonl
  python3 runners/import_scores.py tables/digits-authors.journal.sqlite runs/fw-authors-scores.jsonl
fi
if [ "$stage" = table ] || [ "$stage" = all ]; then
  python3 runners/write_tables.py --only fw   # tables/digits-fw.h5
fi
