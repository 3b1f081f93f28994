#!/usr/bin/env bash
# One prepared run on a lent machine: train digits-table jobs on its 16 CPU cores (single-thread
# workers, CPU device) against a snapshot of the shared journal; the journal comes back packed in $OUT
# (snnbench journal unpack) and its new rows are merged into tables/digits.journal.sqlite (snnbench journal merge).
# Seed 1 of the fw sample and of the bw sample: the local builds work seed 0 first, so the two never overlap.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD || exit 1
export OMP_WAIT_POLICY=passive PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
cp .devjournal/j.sqlite /tmp/j.sqlite
B="python3 -m snnbench.cli build --dataset digits --protocol digits-cpu --sample 300 --sample-seed 0 --seeds 1 --score-seeds 0 --device cpu --journal /tmp/j.sqlite --checkpoint-seconds 100000 --quiet"
timeout -s INT ${1:-400} $B --space fw --workers 8 --out /tmp/fw.h5 > $OUT/fw.log 2>&1 &
timeout -s INT ${1:-400} $B --space bw --workers 7 --out /tmp/bw.h5 > $OUT/bw.log 2>&1 &
wait
python3 -m snnbench.cli journal stats /tmp/j.sqlite
python3 -m snnbench.cli journal pack /tmp/j.sqlite --out $OUT/journal.sqlite.xz
tail -c 600 $OUT/fw.log $OUT/bw.log
