#!/usr/bin/env bash
# Makes sure the Debian packages in tests/debian-packages.txt are installed. As root with apt-get,
# installs the missing ones; otherwise prints the one command that does it and exits 1.
# Called by tests/run.sh (the README's test command) and .ci/run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mapfile -t packages < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$here/debian-packages.txt")
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
else
  echo "install-deps.sh: not a Debian-based system; install the equivalents of: ${packages[*]}" >&2
  exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
command=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "install-deps.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  "${command[@]}" >/dev/null
else
  echo "install-deps.sh: the tests need these Debian packages: ${missing[*]}" >&2
  echo "Run:  sudo apt-get update && sudo ${command[*]}" >&2
  exit 1
fi
