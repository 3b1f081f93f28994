#!/usr/bin/env bash
# One prepared run on a lent machine (16 CPU cores): score the bw space for tables/digits-bw.h5 in
# single-thread CPU processes, shards 0, 1, 2, ... of $NSHARDS (a cell is in shard K when its hash is
# K modulo NSHARDS), skipping the cells the journal snapshot already holds. This machine works the
# shards from the top down (runners/digits-bw-scores.sh), so the two meet without overlapping.
# Before it, the machine reruns a few jobs this machine finished (runners/recheck_journal.py) to
# measure whether its results are bit-identical to ours. If every shard is done before the deadline,
# the rest of the time trains seed 1 of the bw sample against the journal snapshot.
# Brings back (in $OUT): the scores as gzipped JSONL parts, the recheck reports and log, the journal.
#   import here: gunzip -c bw-scores-*.jsonl.gz > runs/bw-scores-device.jsonl
#                python runners/import_scores.py tables/digits.journal.sqlite runs/bw-scores-device.jsonl
#                python runners/merge_journal.py tables/digits.journal.sqlite journal.sqlite
# Usage (on the lent machine, repository root, journal snapshot in .devjournal/j.sqlite, wheels in .whl):
#   runners/device-bw-scores.sh SECONDS
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  && export PYTHONPATH=/tmp/site:$PWD || exit 1
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive PYTHONUNBUFFERED=1 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
deadline=$(( $(date +%s) + ${1:-480} ))
NSHARDS=${NSHARDS:-64}
cp .devjournal/j.sqlite /tmp/j.sqlite
mkdir -p /tmp/s
R="python3 runners/recheck_journal.py /tmp/j.sqlite"
# ours rerun there; and one of its own earlier runs (same torch build) rerun there
($R --host vm --score 40 --train 1 --out $OUT/recheck.json && $R --host lent --score 0 --train 1 --out $OUT/recheck-lent.json) > $OUT/recheck.log 2>&1 &
S="python3 -m snnbench.cli score --space bw --all --dataset digits --protocol digits-cpu --graph skip-idle --device cpu --skip-journal /tmp/j.sqlite"
seq 0 $((NSHARDS - 1)) | timeout -s KILL $(( deadline - $(date +%s) )) \
  xargs -P ${PROCS:-15} -I{} sh -c "$S --shard {}/$NSHARDS --out /tmp/s/{}.jsonl > /tmp/s/{}.log 2>&1"
left=$(( deadline - $(date +%s) ))
echo "scoring stopped with ${left}s left"
if [ $left -gt 60 ]; then
  timeout -k 10 -s INT $left python3 -m snnbench.cli build --space bw --dataset digits --protocol digits-cpu --graph skip-idle --sample 300 \
    --sample-seed 0 --seeds 1 --score-seeds 0 --device cpu --journal /tmp/j.sqlite --out /tmp/bw.h5 --workers 16 \
    --checkpoint-seconds 100000 --quiet > /tmp/train.log 2>&1
fi
wait
python3 - <<'EOF'
import glob, gzip, json, os, sqlite3
from snnbench.scorer import read_score_records  # skips the torn last line a killed process leaves
out = os.environ["OUT"]
files = sorted(glob.glob("/tmp/s/*.jsonl"), key=lambda p: int(os.path.basename(p).split(".")[0]))
lines = [json.dumps(rec).encode() for path in files for rec in read_score_records(path)]
parts = 4
for i in range(parts):
    with gzip.open(f"{out}/bw-scores-{i}.jsonl.gz", "wb", compresslevel=6) as g:
        g.write(b"".join(l + b"\n" for l in lines[i::parts]))
print(f"{len(lines)} scores from {len(files)} shards")
c = sqlite3.connect("/tmp/j.sqlite")
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
print(c.execute("SELECT kind, where_ran, count(*) FROM jobs GROUP BY kind, where_ran").fetchall())
EOF
cp /tmp/j.sqlite $OUT/journal.sqlite
cat $OUT/recheck.log
tail -c 300 /tmp/s/0.log
tail -c 300 /tmp/train.log 2>/dev/null
