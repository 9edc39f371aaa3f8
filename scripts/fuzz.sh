#!/usr/bin/env bash
# Fuzzing with cargo-fuzz (libFuzzer). Needs a nightly toolchain.
#   scripts/fuzz.sh smoke            every target briefly (CI): 20 s each by default
#   scripts/fuzz.sh run TARGET [S]   a campaign: FUZZ_RUNS executions (default 10M) or S seconds
#                                    (default 1800), whichever comes first
#   scripts/fuzz.sh cmin TARGET      minimise the checked-in corpus before committing it
# FUZZ_SANITIZER=none builds without AddressSanitizer (into its own fuzz/target/nosan), for
# journal_recovery: ASan's allocator maps every 128 KiB segment afresh (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

smoke_seconds="${FUZZ_SMOKE_SECONDS:-20}"

ensure_cargo_fuzz() {
    if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
        echo "fuzz: no nightly toolchain (rustup toolchain install nightly); cannot fuzz" >&2
        return 1
    fi
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "fuzz: installing cargo-fuzz" >&2
        cargo install cargo-fuzz --locked
    fi
}

# run_target TARGET SECONDS CORPUS_DIR: the checked-in corpus seeds the run; a smoke run writes
# new inputs to a scratch directory so the tree stays clean, a campaign grows the corpus itself
# (minimise it with `cargo fuzz cmin` before committing).
run_target() {
    local target="$1" seconds="$2" corpus="$3"
    shift 3
    mkdir -p "fuzz/corpus/$target" "$corpus"
    echo "fuzz: $target for ${seconds}s"
    (cd fuzz && cargo +nightly fuzz run "${build_args[@]}" "$target" "$corpus" "corpus/$target" -- \
        -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$@" 2>&1 | tail -n 6)
}

build_args=()
if [[ -n "${FUZZ_SANITIZER:-}" && "${FUZZ_SANITIZER}" != address ]]; then
    dir="target/$FUZZ_SANITIZER"
    [[ "$FUZZ_SANITIZER" == none ]] && dir="target/nosan"
    build_args=(-s "$FUZZ_SANITIZER" --target-dir "$dir")
fi

case "${1:-smoke}" in
    smoke)
        if ! ensure_cargo_fuzz; then
            echo "fuzz: SKIPPED the smoke run: no nightly toolchain on this machine" >&2
            exit 0
        fi
        scratch="$(mktemp -d)"
        trap 'rm -rf "$scratch"' EXIT
        for target in $(cd fuzz && cargo fuzz list); do
            run_target "$target" "$smoke_seconds" "$scratch/$target"
        done
        ;;
    run)
        ensure_cargo_fuzz
        run_target "${2:?target}" "${3:-1800}" "$PWD/fuzz/corpus/${2}" \
            -runs="${FUZZ_RUNS:-10000000}"
        ;;
    cmin)
        # A greedy set cover of the coverage edges, hit counts ignored: a fraction of the size
        # of plain `cargo fuzz cmin`, with the same edges. Named seeds (anything not named by
        # its SHA-1, as libFuzzer names what it finds) are set aside and put back as they are,
        # whatever happens to the merge.
        ensure_cargo_fuzz
        corpus="fuzz/corpus/${2:?target}"
        seeds="$(mktemp -d)"
        find "$corpus" -regextype posix-extended -type f ! -regex '.*/[0-9a-f]{40}' \
            -exec mv -t "$seeds" {} +
        status=0
        (cd fuzz && cargo +nightly fuzz cmin "${build_args[@]}" "$2" "corpus/$2" -- \
            -use_counters=0 -set_cover_merge=1 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new') ||
            status=$?
        find "$seeds" -type f -exec mv -t "$corpus" {} +
        rmdir "$seeds"
        echo "fuzz: $corpus: $(ls "$corpus" | wc -l) files, $(cat "$corpus"/* | wc -c) bytes"
        exit "$status"
        ;;
    *)
        echo "usage: scripts/fuzz.sh smoke | run TARGET [SECONDS] | cmin TARGET" >&2
        exit 2
        ;;
esac
