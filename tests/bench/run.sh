#!/usr/bin/env bash
# hf-auth's benchmark suite (issue 8), the one documented command:
#
#   tests/bench/run.sh           full run (about 2 minutes on 2 cores, plus the release build);
#                                writes BENCHMARKS.md at the repository root
#   tests/bench/run.sh --smoke   tiny counts: checks that every measurement runs (CI); judges no
#                                number; writes target/bench/BENCHMARKS.smoke.md
#
# It builds the release binaries (`cargo build --release --workspace --bins`) and the load
# generator (`cargo bench -p hf-auth-tests --bench rpc`, tests/benches/rpc.rs), which runs every
# measurement against baselines taken in the same run. It installs nothing. It needs hyperfine
# (Debian package `hyperfine`) and git; the Python baselines use the venv of tests/setup-python.sh
# (skipped when it is missing, except under CI=true). The section "Changes made from these
# numbers" of an existing BENCHMARKS.md is written by hand and kept as it is.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

mode=full
case "${1:-}" in
  --smoke) mode=smoke ;;
  "") ;;
  *)
    echo "usage: tests/bench/run.sh [--smoke]" >&2
    exit 2
    ;;
esac

bench_args=()
if ! command -v hyperfine >/dev/null 2>&1; then
  if [ "$mode" = full ] || [ "${CI:-}" = true ]; then
    echo "tests/bench/run.sh: hyperfine is not installed; it times the whole-process measurements." >&2
    echo "Install it with: apt-get install hyperfine" >&2
    exit 1
  fi
  echo "tests/bench/run.sh: hyperfine is not installed: skipping measurements 1 and 2 (apt-get install hyperfine)" >&2
  bench_args+=(--no-processes)
fi
if ! command -v git >/dev/null 2>&1; then
  echo "tests/bench/run.sh: git is not installed; measurement 1 compares with git's own helpers." >&2
  exit 1
fi

out="$root/target/bench"
mkdir -p "$out"
if [ "$mode" = smoke ]; then
  bench_args+=(--smoke)
  report="$out/BENCHMARKS.smoke.md"
  svg="$out/BENCHMARKS-latency.smoke.svg"
else
  report="$root/BENCHMARKS.md"
  svg="$root/BENCHMARKS-latency.svg"
fi

echo "== building release binaries" >&2
cargo build --release --workspace --bins
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "== running the $mode benchmarks" >&2
cargo bench -p hf-auth-tests --bench rpc -- "${bench_args[@]}" \
  --markdown "$out/results.md" --json "$out/results.jsonl" --svg "$svg" >"$out/figures.jsonl"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# The machine, as the issue asks: cores, CPU model, memory, kernel, compiler; and the tools.
cpu="$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
mem="$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
python_version="none"
if [ -x "$root/.venv/bin/python" ]; then
  python_version="$("$root/.venv/bin/python" -c 'import sys, huggingface_hub as h; print(f"Python {sys.version.split()[0]}, huggingface_hub {h.__version__}")' 2>/dev/null || echo none)"
fi
# How the measured binaries are linked (RUSTFLAGS in the environment would replace the config's).
triple="$(rustc -vV | sed -n 's/^host: //p')"
bin_dir="${HF_AUTH_BENCH_BIN_DIR:-$root/target/$triple/release}"
linking=""
for b in hf-authd hf-auth git-credential-hf; do
  if ! command -v readelf >/dev/null 2>&1; then
    kind="not inspected (no readelf)"
  elif readelf -lW "$bin_dir/$b" 2>/dev/null | grep -q 'INTERP'; then
    kind="dynamic"
  elif readelf -dW "$bin_dir/$b" 2>/dev/null | grep -q 'PIE'; then
    kind="static-pie"
  else
    kind="static"
  fi
  linking="$linking${linking:+, }\`$b\` $kind"
done
kept=""
if [ -f "$root/BENCHMARKS.md" ]; then
  kept="$(awk '/^## Changes made from these numbers/ {keep = 1} keep' "$root/BENCHMARKS.md")"
fi

{
  echo "# hf-auth benchmarks"
  echo
  echo "Written by \`tests/bench/run.sh$([ "$mode" = smoke ] && echo " --smoke")\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
  if [ "$mode" = smoke ]; then
    echo "**Smoke mode: tiny counts, for checking that every measurement runs. The numbers mean nothing.**"
  fi
  echo "Figures are medians (or percentiles) over many runs; every ratio is to a baseline measured in the"
  echo "same run. Binaries: the workspace's release profile (root Cargo.toml), linked as"
  echo ".cargo/config.toml says: $linking."
  echo
  echo "## Machine"
  echo
  echo "| | |"
  echo "| --- | --- |"
  echo "| CPU | $cpu, $(nproc) cores (nproc) |"
  echo "| memory | $mem |"
  echo "| kernel | $(uname -srm) |"
  echo "| rustc | $(rustc --version) |"
  echo "| tools | $(hyperfine --version 2>/dev/null || echo 'no hyperfine'), $(git --version), $python_version |"
  echo "| load average (1/5/15 min) | $load_before before, $load_after after |"
  echo
  cat "$out/results.md"
  if [ -n "$kept" ]; then
    echo
    echo "$kept"
  fi
} >"$report"
echo "== wrote $report" >&2
