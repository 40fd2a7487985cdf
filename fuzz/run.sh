#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, through cargo-fuzz) of the parsers that
# take hostile input: bearer tokens, org templates with includes, and the
# org import's JSON document. Kept out of CI (it wants a nightly compiler's
# sanitizer flags; RUSTC_BOOTSTRAP stands in when only stable is here).
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Seeds come from fixtures/; crashes and slow inputs land in
# fuzz/artifacts/<target>/ and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(token_parse org_yaml import_json)

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi

# Seed corpora: real templates and tokens, so the fuzzer starts from
# inputs that get deep.
mkdir -p fuzz/corpus/org_yaml fuzz/corpus/import_json fuzz/corpus/token_parse
for f in $(find fixtures/org-templates -name '*.yaml'); do
    cp "$f" "fuzz/corpus/org_yaml/$(echo "$f" | tr '/' '_')"
done
cp fixtures/team.json fuzz/corpus/import_json/ 2>/dev/null || true
printf 'mol_org_0000000000000000000000000000000000000000000000000' >fuzz/corpus/token_parse/shape

for t in "${TARGETS[@]}"; do
    echo "== fuzzing $t for ${SECS}s"
    cargo fuzz run --sanitizer none "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$SECS" -timeout=5 -rss_limit_mb=2048 -max_len=65536
done
