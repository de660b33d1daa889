#!/bin/sh
# Undoes packaging/install.sh for the current user: stops and disables hf-authd's systemd user
# units (Linux) or launchd agent (macOS), removes them, and uninstalls the cargo-installed
# binaries. Your tokens (token, stored_tokens under $HF_HOME) are NOT touched.
#
# Usage: packaging/uninstall.sh [--no-cargo] [--root DIR] [--dry-run] [--platform linux|macos]
#   --no-cargo      keep the binaries (they were not installed with cargo, or you want them)
#   --root DIR      the --root given to install.sh
#   --dry-run       print what would be done, change nothing
set -eu

here=$(cd "$(dirname "$0")" && pwd)
label=co.huggingface.hf-authd

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }
die() { printf 'uninstall.sh: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*"; }

no_cargo=0 dry_run=0 root="" platform=""
while [ $# -gt 0 ]; do
  case $1 in
    --no-cargo) no_cargo=1 ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift ;;
    --root=*) root=${1#*=} ;;
    --dry-run) dry_run=1 ;;
    --platform) [ $# -ge 2 ] || die "--platform needs linux or macos"; platform=$2; shift ;;
    --platform=*) platform=${1#*=} ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done
[ -n "$platform" ] || case $(uname -s) in
  Linux) platform=linux ;;
  Darwin) platform=macos ;;
  *) die "unsupported system $(uname -s)" ;;
esac
case $platform in linux|macos) ;; *) die "--platform must be linux or macos" ;; esac
[ -n "${HOME:-}" ] || die "HOME is not set"
[ "$dry_run" = 0 ] || note "dry run: showing what would be done; nothing is changed"

run() {
  if [ "$dry_run" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
# For steps that may legitimately have nothing to undo.
try() {
  if [ "$dry_run" = 1 ]; then printf '+ %s || true\n' "$*"; else "$@" >/dev/null 2>&1 || true; fi
}

uninstall_linux() {
  unit_dir=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user
  if [ "$dry_run" = 1 ] || command -v systemctl >/dev/null 2>&1; then
    # Stop both: stopping only the service would let the socket start it again.
    try systemctl --user disable --now hf-authd.socket hf-authd.service
  fi
  run rm -f "$unit_dir/hf-authd.socket" "$unit_dir/hf-authd.service"
  if [ "$dry_run" = 1 ] || command -v systemctl >/dev/null 2>&1; then
    try systemctl --user daemon-reload
    try systemctl --user reset-failed hf-authd.service hf-authd.socket
  fi
  note "removed the systemd user units from $unit_dir"
  if [ -e /usr/lib/systemd/user/hf-authd.service ]; then
    note "note: the hf-auth .deb's units remain in /usr/lib/systemd/user (sudo apt remove hf-auth)"
  fi
}

uninstall_macos() {
  plist=$HOME/Library/LaunchAgents/$label.plist
  uid=$(id -u)
  if [ "$dry_run" = 1 ]; then
    printf '+ launchctl bootout gui/%s/%s || launchctl unload -w %s || true\n' "$uid" "$label" "$plist"
  elif ! launchctl bootout "gui/$uid/$label" >/dev/null 2>&1; then
    [ -e "$plist" ] && launchctl unload -w "$plist" >/dev/null 2>&1 || true
  fi
  run rm -f "$plist"
  note "removed the launchd agent $label"
  note "the log is left in place: $HOME/Library/Logs/hf-authd.log"
}

case $platform in
  linux) uninstall_linux ;;
  macos) uninstall_macos ;;
esac

if [ "$no_cargo" = 0 ]; then
  if [ "$dry_run" = 1 ] || command -v cargo >/dev/null 2>&1; then
    set --
    [ -n "$root" ] && set -- --root "$root"
    # Package names, as `cargo install --path client|daemon` recorded them.
    try cargo uninstall "$@" hf-auth
    try cargo uninstall "$@" hf-authd
    note "uninstalled hf-auth, git-credential-hf and hf-authd (cargo)"
  else
    note "cargo not found; the binaries were left in place"
  fi
fi
note "Your tokens were not touched (\$HF_HOME, default ~/.cache/huggingface); to delete them, run"
note "\`hf-auth logout\` (or huggingface_hub's \`hf auth logout\`) while a client is still installed."
