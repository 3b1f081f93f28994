#!/usr/bin/env bash
# Regenerates TABLES_DIR/MANIFEST.json (default tables/) from the shipped tables found there, in the
# order `snnbench query HASH` without --table answers in (digits fw, bw, then Fashion-MNIST fw, bw),
# and their build journals, read through snapshots (builds may still be running). A table not built
# yet is left out. Run it after a table is (re)written:
#   runners/manifest.sh                          # tables/ and the journals of its protocols
#   runners/manifest.sh DIR JOURNAL...           # the tables in DIR, with these journals
set -eu
cd "$(dirname "$0")/.."
dir=${1:-tables}
[ $# -gt 0 ] && shift
tables=()
for t in digits-fw.h5 digits-bw.h5 fmnist-fw.h5 fmnist-bw.h5; do
  [ -f "$dir/$t" ] && tables+=("$dir/$t")
done
journals=()
for j in "${@:-tables/digits.journal.sqlite tables/digits-authors.journal.sqlite tables/fmnist.journal.sqlite}"; do
  for f in $j; do [ -f "$f" ] && journals+=(--journal "$f"); done
done
exec snnbench manifest ${tables[@]+"${tables[@]}"} ${journals[@]+"${journals[@]}"} --runners runners \
  --out "$dir/MANIFEST.json"
