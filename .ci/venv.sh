# Sourced by the other scripts: find Python >= 3.12, make .venv, install the project.
# Usage: source .ci/venv.sh [extra]   (extra: "dev" installs the test tools too)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
extra="${1:-}"

find_python() {
  for cand in python3.13 python3.12 python3; do
    for path in "$(command -v "$cand" 2>/dev/null || true)" /root/.pyenv/versions/3.13*/bin/$cand \
                /root/.pyenv/versions/3.12*/bin/$cand /usr/bin/$cand /usr/local/bin/$cand; do
      [ -n "$path" ] && [ -x "$path" ] || continue
      if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
        echo "$path"; return 0
      fi
    done
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY="$(find_python)" || { echo "Python 3.12 or newer is needed (Django 6). Install it and retry." >&2; exit 1; }
  echo "==> creating .venv with $PY"
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-${extra:-runtime}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing the project${extra:+ with [$extra]}"
  .venv/bin/python -m pip install -q --upgrade pip
  if [ -n "$extra" ]; then .venv/bin/python -m pip install -q -e ".[$extra]"; else .venv/bin/python -m pip install -q -e .; fi
  touch "$stamp"
fi
export PATH="$ROOT/.venv/bin:$PATH"
