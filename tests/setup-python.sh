#!/usr/bin/env bash
# Creates (or reuses) the Python venv the interop tests use: huggingface_hub 2.4.0 from PyPI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import huggingface_hub as h, sys; sys.exit(h.__version__ != "2.4.0")' 2>/dev/null; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "huggingface_hub==2.4.0"
"$venv/bin/python" -c 'import huggingface_hub as h; print("huggingface_hub", h.__version__, "ready in '"$venv"'")'
