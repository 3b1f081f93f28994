#!/usr/bin/env bash
# The analysis printed in the README and the issue notes, on the shipped tables:
# correlations (+ figures), surrogate learning curve, and the paper's search (Table 4 analogue).
set -eu
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive
out=${1:-runs/analysis}  # SPACES="fw" runners/analyse.sh: one table only
mkdir -p "$out" docs/figures
for s in ${SPACES:-fw bw}; do
  snnbench correlate tables/digits-$s.h5 --plot docs/figures/digits-$s > "$out/correlate-$s.txt"
  snnbench surrogate eval tables/digits-$s.h5 --folds 5 --sizes 20,40,80 --members 3 --estimators 200 > "$out/surrogate-$s.txt" || true
  # best of 20 candidates drawn by the authors' sampler among the trained cells, 20 runs
  snnbench search --algo sahd,hd,random --space $s --samples 20 --runs 20 --restrict-to-table tables/digits-$s.h5 > "$out/search-$s-20.txt"
done
# the paper's search over each whole space (every fw and every bw cell is scored): 5000 candidates,
# 5 runs; winners the table did not train are answered by the surrogate, marked as predicted
for s in ${SPACES:-fw bw}; do
  snnbench surrogate fit tables/digits-$s.h5 --out "$out/$s-surrogate.json" --members 5 --estimators 400
  snnbench search --algo sahd,hd,random --space $s --samples 5000 --runs 5 --no-compute --model "$out/$s-surrogate.json" tables/digits-$s.h5 > "$out/search-$s-5000.txt"
done
