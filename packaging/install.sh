#!/bin/sh
# Installs hf-auth for the current user and runs hf-authd from the user's service manager:
#   Linux: systemd user units (hf-authd.socket starts hf-authd.service on the first connection)
#   macOS: a launchd agent (co.huggingface.hf-authd), started at login and kept alive
# Without either, hf-auth still works: the client starts the daemon on demand (autostart).
#
# Usage: packaging/install.sh [--no-cargo] [--bin-dir DIR] [--root DIR] [--dry-run]
#   --no-cargo      do not build; use hf-authd, hf-auth, git-credential-hf already on PATH
#   --bin-dir DIR   use the binaries in DIR (implies --no-cargo)
#   --root DIR      cargo install --root DIR (binaries in DIR/bin); default: cargo's own root
#   --dry-run       print what would be done, change nothing
#   --platform P    linux or macos (default: from uname; lets the macOS path be rehearsed on Linux)
# packaging/uninstall.sh undoes all of it and leaves your tokens alone.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
label=co.huggingface.hf-authd
bins="hf-authd hf-auth git-credential-hf"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
note() { printf '%s\n' "$*"; }

no_cargo=0 dry_run=0 bin_dir="" root="" platform=""
while [ $# -gt 0 ]; do
  case $1 in
    --no-cargo) no_cargo=1 ;;
    --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; bin_dir=$2; no_cargo=1; shift ;;
    --bin-dir=*) bin_dir=${1#*=}; no_cargo=1 ;;
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
  *) die "unsupported system $(uname -s); run hf-authd by hand or rely on the client's autostart" ;;
esac
case $platform in linux|macos) ;; *) die "--platform must be linux or macos" ;; esac
[ -n "${HOME:-}" ] || die "HOME is not set"
[ "$dry_run" = 0 ] || note "dry run: showing what would be done; nothing is changed"

# Runs a command, or shows it under --dry-run.
run() {
  if [ "$dry_run" = 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

# Like run, for commands whose failure is expected and harmless (stopping what is not running).
try() {
  if [ "$dry_run" = 1 ]; then
    printf '+ %s || true\n' "$*"
  else
    "$@" >/dev/null 2>&1 || true
  fi
}

# Writes stdin to $1 (mode 0644, the directory created), or shows the content under --dry-run.
put() {
  if [ "$dry_run" = 1 ]; then
    printf '+ write %s:\n' "$1"
    sed 's/^/    /'
  else
    mkdir -p "$(dirname "$1")"
    cat >"$1.tmp.$$"
    chmod 0644 "$1.tmp.$$"
    mv -f "$1.tmp.$$" "$1"
  fi
}

absolute() {
  case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$(pwd)" "$1" ;;
  esac
}

# --- 1. The binaries. -------------------------------------------------------------------------
if [ "$no_cargo" = 0 ]; then
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust (https://rustup.rs) or pass --no-cargo"
  set -- --locked
  [ -n "$root" ] && set -- "$@" --root "$root"
  # The daemon first: the client looks for hf-authd next to itself when it autostarts one.
  run cargo install "$@" --path "$repo/daemon"
  run cargo install "$@" --path "$repo/client"
  if [ -n "$root" ]; then
    bin_dir=$root/bin
  else
    bin_dir=${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin
  fi
elif [ -z "$bin_dir" ]; then
  found=$(command -v hf-authd 2>/dev/null) || die "hf-authd is not on PATH; pass --bin-dir DIR or drop --no-cargo"
  bin_dir=$(dirname "$found")
fi
bin_dir=$(absolute "$bin_dir")
for b in $bins; do
  if [ ! -x "$bin_dir/$b" ]; then
    if [ "$dry_run" = 1 ]; then
      note "warning: $bin_dir/$b does not exist (yet)"
    else
      die "$bin_dir/$b is missing or not executable"
    fi
  fi
done
note "binaries: $bin_dir"

# Stops a daemon the client autostarted, so the service does not start next to it.
stop_autostarted() {
  if [ -x "$bin_dir/hf-auth" ] || [ "$dry_run" = 1 ]; then
    try env HF_AUTH_NO_AUTOSTART=1 "$bin_dir/hf-auth" daemon stop
  fi
}

# --- 2a. Linux: systemd user units. -----------------------------------------------------------
install_linux() {
  # Characters that systemd would read as specifiers, quotes or separators in ExecStart.
  case $bin_dir in
    *[!A-Za-z0-9._/@+-]*) die "cannot write $bin_dir into a unit file (use a path without spaces or %, \\, \")" ;;
  esac
  unit_dir=${XDG_CONFIG_HOME:-$HOME/.config}/systemd/user
  if [ "$dry_run" = 0 ]; then
    command -v systemctl >/dev/null 2>&1 || die "systemctl not found: no systemd here. hf-auth still works: the client starts hf-authd on demand"
    systemctl --user show-environment >/dev/null 2>&1 \
      || die "no systemd user manager for $(id -un) (is this a login session? try \`loginctl enable-linger $(id -un)\`)"
  fi
  if [ -n "${HF_AUTH_SOCKET:-}" ]; then
    note "warning: HF_AUTH_SOCKET=$HF_AUTH_SOCKET is set; clients using it will not find the service's"
    note "         socket at \$XDG_RUNTIME_DIR/hf-auth/hf-authd.sock and will autostart their own daemon."
  fi
  # Reinstalling: stop the old units first, then any daemon a client autostarted.
  try systemctl --user stop hf-authd.socket hf-authd.service
  stop_autostarted
  put "$unit_dir/hf-authd.socket" <"$here/systemd/hf-authd.socket"
  sed "s|^ExecStart=/usr/bin/hf-authd|ExecStart=$bin_dir/hf-authd|" "$here/systemd/hf-authd.service" \
    | put "$unit_dir/hf-authd.service"
  run systemctl --user daemon-reload
  run systemctl --user enable --now hf-authd.socket
  cat <<EOF

hf-authd is installed as a systemd user service (units in $unit_dir).
systemd listens on \$XDG_RUNTIME_DIR/hf-auth/hf-authd.sock and starts hf-authd on first use.
  status:     systemctl --user status hf-authd.socket hf-authd.service
              $bin_dir/hf-auth daemon status
  logs:       journalctl --user -u hf-authd.service -f
  restart:    systemctl --user restart hf-authd.service
  stop:       systemctl --user stop hf-authd.socket hf-authd.service
  uninstall:  $here/uninstall.sh
On a server without a login session, keep it running: loginctl enable-linger $(id -un)
EOF
}

# --- 2b. macOS: a launchd agent. --------------------------------------------------------------
xml_escape() { printf '%s' "$1" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g'; }
sed_escape() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }

install_macos() {
  agents=$HOME/Library/LaunchAgents
  plist=$agents/$label.plist
  log=$HOME/Library/Logs/hf-authd.log
  uid=$(id -u)
  # The path every client computes in this environment (DECISIONS.md): passed to the agent
  # explicitly, since launchd does not give it the shell's variables.
  if [ -n "${HF_AUTH_SOCKET:-}" ]; then
    socket=$HF_AUTH_SOCKET
  elif [ -n "${XDG_RUNTIME_DIR:-}" ]; then
    socket=${XDG_RUNTIME_DIR%/}/hf-auth/hf-authd.sock
  else
    tmp=${TMPDIR:-/tmp}
    socket=${tmp%/}/hf-auth-$uid/hf-authd.sock
  fi
  try launchctl bootout "gui/$uid/$label"
  stop_autostarted
  b=$(sed_escape "$(xml_escape "$bin_dir")")
  l=$(sed_escape "$(xml_escape "$log")")
  s=$(sed_escape "$(xml_escape "$socket")")
  # Only inside <string> values: the file's header comment names the placeholders too.
  sed -e "/<string>/s|__BIN__|$b|g" -e "/<string>/s|__LOG__|$l|g" -e "/<string>/s|__SOCKET__|$s|g" \
    "$here/launchd/$label.plist" | put "$plist"
  # Created 0600 before launchd opens it for stderr, so it never exists world-readable.
  if [ "$dry_run" = 1 ]; then
    printf '+ create %s (mode 0600)\n' "$log"
  else
    mkdir -p "$(dirname "$log")"
    (umask 077 && touch "$log")
  fi
  if [ "$dry_run" = 1 ]; then
    printf '+ launchctl bootstrap gui/%s %s || launchctl load -w %s\n' "$uid" "$plist" "$plist"
  elif ! launchctl bootstrap "gui/$uid" "$plist" 2>/dev/null; then
    # Older macOS, or no GUI session (ssh): the legacy interface still works.
    launchctl load -w "$plist"
  fi
  cat <<EOF

hf-authd is installed as a launchd agent ($plist).
It starts at login, restarts if it crashes, and serves $socket.
  status:     launchctl print gui/$uid/$label
              $bin_dir/hf-auth daemon status
  logs:       tail -f "$log"
  restart:    launchctl kickstart -k gui/$uid/$label
  uninstall:  $here/uninstall.sh
EOF
}

case $platform in
  linux) install_linux ;;
  macos) install_macos ;;
esac
note "Your tokens stay where huggingface_hub keeps them (\$HF_HOME, default ~/.cache/huggingface)."
