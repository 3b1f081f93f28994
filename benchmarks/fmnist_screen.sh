#!/bin/bash
# The screening stage of the Fashion-MNIST protocol study (issue 13). Results:
# benchmarks/fmnist_screen.jsonl (resumable); report: python benchmarks/fmnist_study.py report FILE.
# The first three variants: 2 fw + 2 bw cells, seeds 0 and 1. The others, one dimension each away
# from them (width, batch, input side, training-set size): 1 fw + 1 bw cell (a different draw from the
# 2-cell one), seeds 0 and 1, and s8-n5k-e12 on those two cells too, so that every variant has a
# paired comparison with it (a 2-core session could not afford more).
cd "$(dirname "$0")/.."
run() { env OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive .venv/bin/python benchmarks/fmnist_study.py run --out benchmarks/fmnist_screen.jsonl "$@"; }
run --cells 2 --variant s8-n5k-e6 --set input_size=8 --set train_size=5000 --set epochs=6
run --cells 2 --variant s8-n10k-e4 --set input_size=8 --set train_size=10000 --set epochs=4
run --cells 2 --variant s8-n5k-e12 --set input_size=8 --set train_size=5000 --set epochs=12
run --cells 1 --variant s8-n5k-e12 --set input_size=8 --set train_size=5000 --set epochs=12
run --cells 1 --variant s8-n5k-e6-C16 --set input_size=8 --set train_size=5000 --set epochs=6 --set width=16
run --cells 1 --variant s8-n5k-e6-B64 --set input_size=8 --set train_size=5000 --set epochs=6 --set batch_size=64 --set lr=0.2
run --cells 1 --variant s16-n5k-e3 --set input_size=16 --set train_size=5000 --set epochs=3
run --cells 1 --variant s8-n50k-e1 --set input_size=8 --set train_size=50000 --set epochs=1
run --cells 1 --variant s28-n5k-e1 --set input_size=28 --set train_size=5000 --set epochs=1
