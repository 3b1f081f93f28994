#!/usr/bin/env bash
# The prepared GPU run of issue 15 ("Generation at every scale", GPU part): one command on a lent
# machine (1x H200, 16 cores, torch there, no network), about 8 minutes, everything into $OUT as
# three files: summary.jsonl (one JSON line per result), train.txt (the throughput tables), log.txt.
#
#   here, once:   bash benchmarks/device_wheels.sh            # spikingjelly + loguru into .whl/
#   there:        bash benchmarks/device_issue15.sh           # with .whl carried; from the repository root
#   here, smoke:  PYTHON=.venv/bin/python bash benchmarks/device_issue15.sh --cpu   # tiny sizes, CPU, no GPU
#
# With the device tool: run(command="bash benchmarks/device_issue15.sh", carry=[".whl"], timeout_s=560);
# the files come back from $OUT. The tree that travels must hold these scripts (commit them first).
#
# What it measures, most important first (each step has a time limit; the whole run keeps to
# BUDGET seconds, default 470, and the last steps get what is left):
#   a  training throughput at the paper setting (C=128, B=64, T=5, 32x32 synthetic data), a fw and a
#      bw cell: authors-style network, snnbench, snnbench with bf16 autocast, with device-side
#      augmentation, with both (benchmarks/bench_train.py); torch.compile last (a2), as time allows
#   b  packing: 4 snnbench trainings (bw cell) at once on the one GPU, the same timed window: aggregate
#   c  the scoring path: snnbench build --space bw --dataset cifar100 --scores-only on CIFAR-100-format
#      random data made here (benchmarks/make_cifar100.py), 1 vs 6 workers: cells/s
#   e  a short build end to end (4 bw cells, seed 0, 1 epoch, 2 workers, cuda) on a smaller set of
#      that data, then snnbench verify and info on its table
#   d  GPU binding under Ray (real Ray if installed there, else Ray's binding stood in for)
#   f  a training run with bf16 + device_augment stopped after its first epoch and resumed from its
#      checkpoint on the GPU, against the uninterrupted run
set -u
CPU=0
[ "${1:-}" = "--cpu" ] && CPU=1
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ $CPU = 0 ] && ls .whl/*.whl > /dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site:$PWD || { echo "wheel install failed"; exit 1; }
else
  export PYTHONPATH=$PWD
fi
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive PYTHONUNBUFFERED=1
O=${OUT:-/tmp/issue15-out}
T=$(mktemp -d /tmp/issue15.XXXX)
mkdir -p "$O"
S=$O/summary.jsonl; TR=$O/train.txt; L=$O/log.txt
BUDGET=${BUDGET:-470}

if [ $CPU = 1 ]; then  # tiny sizes: catches typos and broken paths, measures nothing
  DEV=cpu; SET="--setting cifar --width 4 --warmup 1 --workers 0"; STEPS=2; PACK_STEPS=2
  C100="--train 2000 --test 200"; SMALL="--train 1000 --test 200"; SAMPLE=3; W6=2; EXTRA="--width 4"
  RESUME="--width 4 --autocast off"; RAY="--fake"
  LIM_A=240; LIM_B=120; LIM_C=40; LIM_E=200; LIM_D=150; LIM_F=200; LIM_A2=0
else
  DEV=cuda; SET="--setting cifar --warmup 5"; STEPS=30; PACK_STEPS=60
  C100="--train 50000 --test 10000"; SMALL="--train 5000 --test 1000"; SAMPLE=5000; W6=6; EXTRA=""
  RESUME="--width 16 --autocast bf16"; RAY=""
  LIM_A=90; LIM_B=80; LIM_C=40; LIM_E=90; LIM_D=40; LIM_F=45; LIM_A2=120
fi
BT="$PY benchmarks/bench_train.py --device $DEV"
SNN="$PY -m snnbench.cli"

left() { echo $(( BUDGET - SECONDS )); }
# limited SECONDS CMD...: run CMD for at most SECONDS, never past the budget; 0 s left: skipped
limited() {
  local want=$1; shift
  local t=$(( want < $(left) ? want : $(left) ))
  if [ "$t" -le 0 ]; then echo "# skipped (budget spent): $*" >> "$L"; return 124; fi
  timeout -s INT -k 10 "$t" "$@"
}
step() { echo "=== $1 at ${SECONDS}s" | tee -a "$L" >> "$TR"; }

step "env"
{ nvidia-smi -L; nproc --all; } >> "$L" 2>&1
$PY benchmarks/device_checks.py env >> "$S" 2>> "$L"

step "a: throughput, paper setting"
limited $LIM_A $BT $SET --steps $STEPS --cells fw,bw --json "$S" \
  --variants authors-net,snnbench,snnbench+bf16,snnbench+devaug,snnbench+bf16+devaug >> "$TR" 2>> "$L"

step "b: packing, 4 trainings at once"
START=$(( $(date +%s) + 25 ))
for i in 1 2 3 4; do
  limited $LIM_B $BT $SET --steps $PACK_STEPS --cells bw --variants snnbench --start-at $START \
    --json "$T/pack_$i.jsonl" >> "$T/pack.txt" 2>> "$L" &
done
wait
cat "$T/pack.txt" >> "$TR"
$PY benchmarks/device_checks.py pack "$T"/pack_*.jsonl >> "$S" 2>> "$L"

step "c: scoring path, 1 vs $W6 workers"
$PY benchmarks/make_cifar100.py "$T/c100" $C100 >> "$L" 2>&1
for w in 1 $W6; do
  t0=$(date +%s.%N)  # the check computes the wall time from it
  limited $LIM_C $SNN build --space bw --dataset cifar100 --data-dir "$T/c100" --scores-only --sample $SAMPLE $EXTRA \
    --device $DEV --workers $w --quiet --checkpoint-seconds 100000 --checkpoint-jobs 100000 \
    --out "$T/score_w$w.h5" >> "$L" 2>&1
  $PY benchmarks/device_checks.py score-rate "$T/score_w$w.h5.journal.sqlite" --workers $w --started "$t0" >> "$S" 2>> "$L"
done

step "e: a short build end to end, then verify"
$PY benchmarks/make_cifar100.py "$T/c100s" $SMALL >> "$L" 2>&1
limited $LIM_E $SNN build --space bw --dataset cifar100 --data-dir "$T/c100s" --sample 4 --seeds 0 --epochs 1 $EXTRA \
  --workers 2 --device $DEV --quiet --out "$T/e2e.h5" >> "$L" 2>&1
echo "{\"check\": \"build-e2e\", \"rc\": $?}" >> "$S"
limited 30 $SNN verify "$T/e2e.h5" >> "$L" 2>&1
echo "{\"check\": \"verify\", \"rc\": $?}" >> "$S"
limited 20 $SNN info "$T/e2e.h5" >> "$L" 2>&1

step "d: GPU binding under Ray"
limited $LIM_D $PY benchmarks/device_checks.py ray-bind --data-dir "$T/c100s" --device $DEV $RAY >> "$S" 2>> "$L"

step "f: bf16 + device_augment run resumed from its checkpoint"
limited $LIM_F $PY benchmarks/device_checks.py resume --data-dir "$T/c100s" --device $DEV $RESUME >> "$S" 2>> "$L"

step "a2: torch.compile, as time allows ($(left) s left)"
if [ "$LIM_A2" -gt 0 ]; then
  limited $LIM_A2 $BT $SET --steps $STEPS --cells fw,bw --variants snnbench+compile --json "$S" >> "$TR" 2>> "$L"
fi

step "done"
rm -rf "$T"
tail -n 40 "$TR"
tail -n 30 "$S"
