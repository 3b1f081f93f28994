#!/usr/bin/env bash
# Scores every cell of SPACE (fw or bw) under the authors' graph (digits-cpu, graph 'authors') for the
# shipped tables, the trained cells of the table first (runners/digits-SPACE-trained.txt, when there
# is one), cells the journal tables/digits-authors.journal.sqlite already holds skipped, in NSHARDS
# processes (shard K holds the cells whose hash is K modulo NSHARDS). Resumable: each shard appends
# to runs/SPACE-authors-scores/K.jsonl and skips what is there.
#   NSHARDS=2 runners/digits-authors-scores.sh bw 0 &  NSHARDS=2 runners/digits-authors-scores.sh bw 1 &
set -eu
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
space=$1
shift
NSHARDS=${NSHARDS:-2}
extra=()
[ -f "runners/digits-$space-trained.txt" ] && extra+=(--first "runners/digits-$space-trained.txt")
[ -f tables/digits-authors.journal.sqlite ] && extra+=(--skip-journal tables/digits-authors.journal.sqlite)
mkdir -p "runs/$space-authors-scores"
for k in "${@:-$(seq 0 $((NSHARDS - 1)))}"; do
  snnbench score --space "$space" --all --dataset digits --protocol digits-cpu --graph authors --device cpu \
    "${extra[@]}" --shard "$k/$NSHARDS" --out "runs/$space-authors-scores/$k.jsonl"
done
