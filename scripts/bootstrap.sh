#!/usr/bin/env bash
# Installs what nextoffer needs on a fresh machine: uv (pinned) and the locked Python environment.
# Sourced by scripts/demo and scripts/test; safe to run again (it only installs what is missing).
set -euo pipefail
UV_VERSION="0.13.8"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -m uv --version 2>/dev/null | grep -q "uv ${UV_VERSION}"; then
  echo "bootstrap: installing uv ${UV_VERSION}" >&2
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "uv==${UV_VERSION}"
fi
export UV_PYTHON_DOWNLOADS=never
export UV_PROJECT_ENVIRONMENT="${UV_PROJECT_ENVIRONMENT:-$ROOT/.venv}"
# with bytecode compiled (as pip does), so that commands do not recompile every module they
# import when PYTHONDONTWRITEBYTECODE is set (compileall skips what is up to date)
"$PYTHON" -m uv sync --frozen --quiet --project "$ROOT" --python "$(command -v "$PYTHON")"
"$UV_PROJECT_ENVIRONMENT/bin/python" -m compileall -q "$ROOT/src" \
  "$("$UV_PROJECT_ENVIRONMENT/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
  > /dev/null 2>&1 || true
export PATH="$UV_PROJECT_ENVIRONMENT/bin:$PATH"
