#!/usr/bin/env bash
# Creates (or reuses) the Python venv the interop tests use: huggingface_hub 2.4.0 from PyPI,
# the gRPC peers (grpcio, grpcio-reflection, and grpcio-tools to check the committed stubs), and
# our own client package (`pip install ./client/python`), reinstalled whenever its sources change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
grpc_version="1.85.1"
ready() {
  "$venv/bin/python" - "$grpc_version" <<'PY' 2>/dev/null
import sys, huggingface_hub, grpc, grpc_tools, grpc_reflection
sys.exit(huggingface_hub.__version__ != "2.4.0" or grpc.__version__ != sys.argv[1])
PY
}
if ! { [ -x "$venv/bin/python" ] && ready; }; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "huggingface_hub==2.4.0" "grpcio==$grpc_version" "grpcio-tools==$grpc_version" "grpcio-reflection==$grpc_version"
fi
# The client package: reinstalled when anything under client/python/ differs from what was installed.
stamp="$venv/.hf-auth-client.sha256"
sum="$(cd "$root" && find client/python -type f -not -path '*/__pycache__/*' -not -path '*.egg-info/*' -not -path '*/build/*' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$root/client/python"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$root/client/python"
  echo "$sum" >"$stamp"
fi
"$venv/bin/python" -c 'import huggingface_hub as h, grpc, hf_auth; print("huggingface_hub", h.__version__, "grpcio", grpc.__version__, "hf_auth", hf_auth.__version__, "ready in '"$venv"'")'
