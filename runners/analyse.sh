#!/usr/bin/env bash
# The analysis printed in the README and the issue notes, on the shipped tables found in TABLES_DIR
# (default tables/): per table, correlations (+ figures), the surrogate's learning curve and the
# paper's search (Table 4 analogue); across datasets, where both digits and Fashion-MNIST tables of a
# space are there, the transfer study (Table 3 analogue): accuracy against accuracy over the cells
# both trained (+ scatter plot) and the search on one dataset evaluated on the other, both ways.
#   runners/analyse.sh [OUT]                     # OUT: runs/analysis by default
#   SPACES=fw DATASETS=fmnist runners/analyse.sh # a part only
set -eu
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
out=${1:-runs/analysis}
dir=${TABLES_DIR:-tables}
mkdir -p "$out" docs/figures
for d in ${DATASETS:-digits fmnist}; do
  for s in ${SPACES:-fw bw}; do
    t=$dir/$d-$s.h5
    [ -f "$t" ] || { echo "analyse: $t not built, skipped" >&2; continue; }
    snnbench correlate "$t" --plot "docs/figures/$d-$s" > "$out/correlate-$d-$s.txt"
    snnbench surrogate eval "$t" --folds 5 --sizes 20,40,80 --members 3 --estimators 200 > "$out/surrogate-$d-$s.txt" || true
    # best of 20 candidates drawn by the authors' sampler among the trained cells, 20 runs
    snnbench search --algo sahd,hd,random --space "$s" --samples 20 --runs 20 --restrict-to-table "$t" > "$out/search-$d-$s-20.txt"
    # the paper's search over the whole space: 5000 candidates, 5 runs; winners the table did not
    # train are answered by the surrogate, marked as predicted; candidates the table did not score
    # are dropped (--no-compute), so on a table that scored part of its space a run sees fewer
    snnbench surrogate fit "$t" --out "$out/$d-$s-surrogate.json" --members 5 --estimators 400
    snnbench search --algo sahd,hd,random --space "$s" --samples 5000 --runs 5 --no-compute --whole-space \
      --model "$out/$d-$s-surrogate.json" "$t" > "$out/search-$d-$s-5000.txt"
  done
done
# transfer between the datasets, over the cells both tables trained
for s in ${SPACES:-fw bw}; do
  a=$dir/digits-$s.h5 b=$dir/fmnist-$s.h5
  [ -f "$a" ] && [ -f "$b" ] || continue
  snnbench correlate --across "$a" "$b" --plot "docs/figures/transfer-$s.png" > "$out/across-$s.txt"
  snnbench transfer "$a" "$b" > "$out/transfer-digits-to-fmnist-$s.txt"
  snnbench transfer "$b" "$a" > "$out/transfer-fmnist-to-digits-$s.txt"
done
ls "$out"
