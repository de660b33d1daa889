#!/usr/bin/env bash
# Runs a command inside a private D-Bus session with a fresh, unlocked gnome-keyring (Secret
# Service), so the keyring tests talk to a real secret store without touching the user's own:
#   tests/keyring-session.sh cargo test -p hf-auth-tests --test integration keyring
# Needs dbus-run-session (dbus), gnome-keyring-daemon (gnome-keyring) and dbus-send.
# Sets HF_AUTH_KEYRING_SESSION=1 for the command, which is how the keyring tests know they run here.
set -euo pipefail
for tool in dbus-run-session gnome-keyring-daemon dbus-send; do
  command -v "$tool" >/dev/null || { echo "keyring-session.sh: $tool not found (apt-get install dbus gnome-keyring)" >&2; exit 127; }
done
scratch="$(mktemp -d "${TMPDIR:-/tmp}/hf-auth-keyring.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT
mkdir -m 0700 -p "$scratch/data" "$scratch/runtime"
# A fresh keyring directory and runtime directory: no existing login keyring interferes.
export XDG_DATA_HOME="$scratch/data" XDG_RUNTIME_DIR="$scratch/runtime" HF_AUTH_KEYRING_SESSION=1
exec dbus-run-session -- bash -c '
  set -euo pipefail
  # gnome-keyring-daemon forks; the password creates and unlocks the "login" collection.
  printf %s hf-auth-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  for _ in $(seq 50); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
         org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; then
      exec "$@"
    fi
    sleep 0.1
  done
  echo "keyring-session.sh: org.freedesktop.secrets did not appear on the session bus within 5 s" >&2
  exit 1
' keyring-session "$@"
