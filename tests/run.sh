#!/usr/bin/env bash
# Runs every test of hf-auth: unit tests, daemon+client tests on temporary sockets, and the
# process-level tests against real git, a real Secret Service and the real Python
# huggingface_hub 2.4.0. The README's test command, and what CI (.ci/run) runs.
# On a fresh machine it first installs the Debian packages the tests need (as root with apt-get;
# otherwise it prints the command to run and stops), then the Python venv.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
tests/install-deps.sh
tests/setup-python.sh
# Process-level tests spawn hf-authd, hf-auth and git-credential-hf from target/<host triple>/debug.
cargo build --workspace --bins --quiet
# The library's example (the real hf-hub crate) that a test runs against the fake Hub.
cargo build -p hf-auth --examples --quiet
# Inside a private D-Bus session with an unlocked gnome-keyring: the keyring tests use a real
# Secret Service; every other test just sees a session bus.
tests/keyring-session.sh cargo test --workspace --no-fail-fast -- --test-threads="${HF_AUTH_TEST_THREADS:-4}"
