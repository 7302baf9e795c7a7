#!/usr/bin/env bash
# Shrinks fuzz/corpus/<target> to one small input per covered edge
# (libFuzzer merge without hit counters), then re-adds the generated seeds.
# Usage: fuzz/minimize.sh <target>...
set -euo pipefail
cd "$(dirname "$0")"
host=$(rustc -vV | sed -n 's/^host: //p')
for t in "$@"; do
    cargo fuzz build -s none "$t"
    out=$(mktemp -d)
    "target/$host/release/$t" -merge=1 -use_counters=0 -rss_limit_mb=512 \
        -max_len=16384 -timeout=10 "$out" "corpus/$t" 2>&1 | tail -n 1
    rm -rf "corpus/$t"
    mv "$out" "corpus/$t"
done
(cd .. && cargo run -q -p mconn-tests --example gen_corpus)
