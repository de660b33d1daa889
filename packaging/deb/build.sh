#!/bin/sh
# Builds the hf-auth Debian package: release binaries of the whole workspace, the man page and
# shell completions generated from the client itself, then `cargo deb` (metadata in
# daemon/Cargo.toml, [package.metadata.deb]). cargo-deb cannot run commands, so the generated
# files are written under <target>/<triple>/release/deb-assets/, where its assets list expects
# them (cargo-deb maps its `target/release/` placeholder there for `--target`). The triple is the
# host's: .cargo/config.toml builds for it explicitly (static binaries on glibc).
#
# Usage: packaging/deb/build.sh [extra cargo-deb options]
# Prints the path of the .deb on its last line. Needs cargo-deb (cargo install cargo-deb --locked).
set -eu

repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
command -v cargo-deb >/dev/null 2>&1 || {
  echo "build.sh: cargo-deb not found; install it with: cargo install cargo-deb --locked" >&2
  exit 1
}

# The target directory cargo really uses (CARGO_TARGET_DIR, .cargo/config, …).
target=$(cargo metadata --format-version 1 --no-deps \
  | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || { echo "build.sh: cannot find the cargo target directory" >&2; exit 1; }

triple=$(rustc -vV | sed -n 's/^host: //p')
[ -n "$triple" ] || { echo "build.sh: cannot read the host triple from rustc -vV" >&2; exit 1; }

# All three binaries: cargo-deb would build only hf-authd's package (-p hf-authd).
cargo build --release --locked --workspace --bins >&2

assets=$target/$triple/release/deb-assets
rm -rf "$assets"
mkdir -p "$assets/completions"
hf_auth=$target/$triple/release/hf-auth
# -n: no name or timestamp in the gzip header, so the package is reproducible.
"$hf_auth" man | gzip -9n >"$assets/hf-auth.1.gz"
"$hf_auth" completions bash >"$assets/completions/hf-auth.bash"
"$hf_auth" completions zsh >"$assets/completions/_hf-auth"
"$hf_auth" completions fish >"$assets/completions/hf-auth.fish"
for f in "$assets/hf-auth.1.gz" "$assets"/completions/*; do
  [ -s "$f" ] || { echo "build.sh: generated $f is empty" >&2; exit 1; }
done

# cargo-deb prints the .deb's path as its last line of stdout (captured first, so a failure of
# cargo-deb fails this script instead of vanishing in a pipe).
out=$(cargo deb -p hf-authd --target "$triple" --no-build --locked "$@")
printf '%s\n' "$out" | tail -n 1
