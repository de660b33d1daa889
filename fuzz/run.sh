#!/usr/bin/env bash
# Fuzzes hf-auth's parsers of untrusted input with cargo-fuzz (libFuzzer + AddressSanitizer):
#   stored_tokens   hf_authd::store::ini::parse (and render → parse round trip)
#   git_credential  hf_auth::git_credential::protocol::read_request (answerable ⇒ no CR/LF/NUL)
# Each target runs for SECONDS (default 60), starting from the committed seed corpus in
# fuzz/corpus/<target>/ (never written to: new inputs go to fuzz/target/corpus/<target>/).
# A crash stops that target, leaves its input in fuzz/artifacts/<target>/, and makes this script
# exit 1 after the other target has run. Usage: fuzz/run.sh [SECONDS]
set -euo pipefail
seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes nightly-only flags (-Zsanitizer=address, the sancov passes); RUSTC_BOOTSTRAP
# lets the stable toolchain accept them, so CI needs no nightly toolchain.
export RUSTC_BOOTSTRAP=1
status=0
for target in stored_tokens git_credential; do
  work="$here/target/corpus/$target"
  mkdir -p "$work" "$here/artifacts/$target"
  # git_credential: long enough inputs to reach the 65,535-byte line bound.
  max_len=4096
  [ "$target" = git_credential ] && max_len=70000
  echo "== fuzz/$target for ${seconds}s (seeds: $(ls "corpus/$target" | wc -l))"
  if ! cargo fuzz run "$target" "$work" "corpus/$target" -- \
      -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1; then
    echo "fuzz/$target FAILED; reproduce with: RUSTC_BOOTSTRAP=1 cargo fuzz run $target fuzz/artifacts/$target/<file>" >&2
    status=1
  fi
done
exit "$status"
