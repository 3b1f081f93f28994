#!/usr/bin/env bash
# Scores every bw cell under the authors' graph (digits-cpu, graph 'authors') for the re-made
# tables/digits-bw.h5, the 300 trained cells of the table first (runners/digits-bw-trained.txt),
# in NSHARDS processes (shard K holds the cells whose hash is K modulo NSHARDS). Resumable: each
# shard appends to runs/bw-authors-scores/K.jsonl and skips what is there.
#   NSHARDS=2 runners/digits-bw-authors-scores.sh 0 &  NSHARDS=2 runners/digits-bw-authors-scores.sh 1 &
set -eu
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2
NSHARDS=${NSHARDS:-2}
mkdir -p runs/bw-authors-scores
for k in "${@:-$(seq 0 $((NSHARDS - 1)))}"; do
  snnbench score --space bw --all --dataset digits --protocol digits-cpu --graph authors --device cpu \
    --first runners/digits-bw-trained.txt --shard "$k/$NSHARDS" --out "runs/bw-authors-scores/$k.jsonl"
done
