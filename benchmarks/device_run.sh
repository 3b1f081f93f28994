#!/usr/bin/env bash
# One prepared run on a lent GPU machine: GPU benchmarks of scoring and training, then a sweep of
# candidate CPU protocols (GPU-trained, many processes) to see which separates cells from seed noise.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export OMP_WAIT_POLICY=passive PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
nvidia-smi -L | tee $OUT/gpu.txt; nproc >> $OUT/gpu.txt
timeout 100 python3 benchmarks/bench_scores.py --setting paper --cells 3 --device cuda > $OUT/bench_scores_gpu.txt 2>&1
timeout 80 python3 benchmarks/bench_train.py --setting cifar --device cuda --steps 10 > $OUT/bench_train_gpu.txt 2>&1
S="python3 benchmarks/protocol_sweep.py --space fw,bw --cells 12 --seeds 0,1 --extra-seed-cells 0 --device cuda --workers 4 --out"
timeout 330 $S $OUT/sweep_A.jsonl --set width=8 --set batch_size=32 --set epochs=15 > $OUT/sweep_A.log 2>&1 &
timeout 330 $S $OUT/sweep_B.jsonl --set width=8 --set batch_size=32 --set epochs=30 > $OUT/sweep_B.log 2>&1 &
timeout 330 $S $OUT/sweep_C.jsonl --set width=16 --set batch_size=32 --set epochs=15 > $OUT/sweep_C.log 2>&1 &
timeout 330 $S $OUT/sweep_D.jsonl --set epochs=30 > $OUT/sweep_D.log 2>&1 &
wait
tail -3 $OUT/*.log
