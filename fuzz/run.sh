#!/usr/bin/env bash
# Runs Doorward's cargo-fuzz targets, each for a bounded time, and prints a
# table: target / seconds / executions / result. Not part of CI (see
# fuzz/README.md); the seeds replay in `cargo test --manifest-path fuzz/Cargo.toml`.
#
#   fuzz/run.sh                      # every target, FUZZ_SECONDS (60) each
#   FUZZ_SECONDS=300 fuzz/run.sh phc_hash return_to
#
# Environment:
#   FUZZ_SECONDS     seconds per target (default 60)
#   FUZZ_WORK        grown corpora, crash artifacts and logs (default /tmp/doorward-fuzz);
#                    fuzz/corpus/<target>/ holds only the committed hand-written seeds
#   FUZZ_TARGET_DIR  cargo target dir (default fuzz/target, git-ignored)
#   FUZZ_SANITIZER   cargo fuzz -s: none (default: the code under test is safe Rust,
#                    so the findings are panics, overflows and failed properties;
#                    `none` runs several times faster), or address
#   FUZZ_JOBS        targets run side by side (default 1)
#
# Needs the nightly toolchain and `cargo install cargo-fuzz`. Exits 1 when a
# target found something; its input is kept under $FUZZ_WORK/artifacts/<target>/
# (replay: cargo +nightly fuzz run <target> <file>).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

seconds=${FUZZ_SECONDS:-60}
work=${FUZZ_WORK:-/tmp/doorward-fuzz}
target_dir=${FUZZ_TARGET_DIR:-$root/fuzz/target}
sanitizer=${FUZZ_SANITIZER:-none}
jobs=${FUZZ_JOBS:-1}
all_targets=(token_verify request_bodies phc_hash cookies_headers import_readers return_to identifiers)
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

fuzz=(cargo +nightly fuzz)
opts=(-s "$sanitizer" -a --target-dir "$target_dir")

mkdir -p "$work/logs"
echo "building the fuzz targets (sanitizer: $sanitizer)" >&2
"${fuzz[@]}" build "${opts[@]}" >&2

run_one() {
    local t=$1
    mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
    local start end rc=0
    start=$(date +%s)
    # The grown corpus first (new inputs are written there), the seeds second.
    "${fuzz[@]}" run "${opts[@]}" "$t" "$work/corpus/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
        >"$work/logs/$t.log" 2>&1 || rc=$?
    end=$(date +%s)
    local execs result
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    if [ "$rc" -eq 0 ]; then
        result="no finding"
    else
        local artifact
        artifact=$(grep -o "Test unit written to [^ ]*" "$work/logs/$t.log" | tail -1 | sed 's/Test unit written to //')
        result="FINDING (exit $rc): ${artifact:-see $work/logs/$t.log}"
    fi
    printf '%s\t%s\t%s\t%s\n' "$t" "$((end - start))" "${execs:-?}" "$result" >"$work/logs/$t.result"
}

pids=()
for t in "${targets[@]}"; do
    run_one "$t" &
    pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
done
wait "${pids[@]}" || true

failed=0
printf '%-16s %8s %12s  %s\n' target seconds executions result
for t in "${targets[@]}"; do
    IFS=$'\t' read -r name secs execs result <"$work/logs/$t.result"
    printf '%-16s %8s %12s  %s\n' "$name" "$secs" "$execs" "$result"
    case $result in FINDING*) failed=1 ;; esac
done
echo "logs: $work/logs" >&2
exit "$failed"
