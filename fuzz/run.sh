#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60). Needs a nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz`). A crash fails the run and leaves its input under fuzz/artifacts/TARGET/.
# The corpus grows in fuzz/corpus/TARGET/; commit interesting inputs there.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
for target in magstripe_frames ieee1284_device_id card_tlv pjl_status; do
    mkdir -p "corpus/$target"
    echo "fuzzing $target for ${seconds}s"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 \
        | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|INFO: (Running|Seed|Loaded))" || true
    if [ -n "$(ls -A "artifacts/$target" 2>/dev/null)" ]; then
        echo "fuzz target $target found a crash: see fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "fuzzing finished: no crashes"
