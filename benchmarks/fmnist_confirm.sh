#!/bin/bash
# The confirming stage of the Fashion-MNIST protocol study (issue 13): 16 fw + 16 bw cells drawn
# uniformly, seeds 0 and 1, for the variant(s) the screening stage (fmnist_screen.sh) pointed to.
# Results: benchmarks/fmnist_confirm.jsonl (resumable); report: fmnist_study.py report.
cd "$(dirname "$0")/.."
run() { env OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/fmnist_study.py run --cells 16 --out benchmarks/fmnist_confirm.jsonl "$@"; }
run --variant s8-n5k-e12 --set input_size=8 --set train_size=5000 --set epochs=12
# the screening's best trade-off on its paired cells (fmnist_study.py paired): width 16, 6 epochs
# (test_every=0: the test set at the half and full budgets only, as the study's first runs did)
run --variant s8-n5k-e6-C16 --set input_size=8 --set train_size=5000 --set epochs=6 --set width=16 --set test_every=0
