#!/bin/sh
# What CI runs for packaging, before the tests: the tools the packaging tests need (systemd's
# systemd-analyze and systemd-socket-activate, cargo-deb, dpkg-dev), the .deb built and
# installed with dpkg, and a check that its files landed where the units expect them.
#
# Usage (as root, Debian/Ubuntu):  export HF_AUTH_TEST_DEB="$(packaging/ci.sh | tail -n 1)"
# Progress and timings go to stderr; stdout's last line is the path of the .deb, which
# tests/tests/integration/packaging.rs inspects when HF_AUTH_TEST_DEB is set.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { printf 'packaging/ci.sh: %s\n' "$*" >&2; }
# Runs "$@" with stdout sent to stderr, and reports how long it took.
timed() {
  what=$1; shift
  t0=$(date +%s)
  "$@" >&2
  log "$what: $(( $(date +%s) - t0 ))s"
}

export DEBIAN_FRONTEND=noninteractive
missing=""
command -v systemd-analyze >/dev/null 2>&1 || missing="$missing systemd"
command -v systemd-socket-activate >/dev/null 2>&1 || [ -x /lib/systemd/systemd-socket-activate ] \
  || case $missing in *systemd*) ;; *) missing="$missing systemd" ;; esac
# dpkg-shlibdeps: cargo-deb's "$auto" dependencies (libc6, …); without it the package has none.
command -v dpkg-shlibdeps >/dev/null 2>&1 || missing="$missing dpkg-dev"
if [ -n "$missing" ]; then
  timed "apt-get install$missing" sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends$missing"
fi

# Pinned: the version daemon/Cargo.toml's [package.metadata.deb] was written and tested against.
if ! command -v cargo-deb >/dev/null 2>&1; then
  timed "cargo install cargo-deb" cargo install cargo-deb --locked --version 3.8.0
fi

t0=$(date +%s)
deb=$(packaging/deb/build.sh | tail -n 1)
log "packaging/deb/build.sh: $(( $(date +%s) - t0 ))s"
case $deb in
  /*.deb) ;;
  *) log "build.sh did not print a .deb path (got: $deb)"; exit 1 ;;
esac
[ -f "$deb" ] || { log "$deb does not exist"; exit 1; }

timed "dpkg -i" dpkg -i "$deb"
for f in /usr/bin/hf-authd /usr/bin/hf-auth /usr/bin/git-credential-hf \
  /usr/lib/systemd/user/hf-authd.service /usr/lib/systemd/user/hf-authd.socket; do
  [ -e "$f" ] || { log "$f is missing after dpkg -i"; exit 1; }
done
# The unit starts what the package installed.
grep -q '^ExecStart=/usr/bin/hf-authd ' /usr/lib/systemd/user/hf-authd.service \
  || { log "the installed unit does not start /usr/bin/hf-authd"; exit 1; }
/usr/bin/hf-authd --version >&2
log "installed $deb"
printf '%s\n' "$deb"
