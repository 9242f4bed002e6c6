#!/usr/bin/env bash
# Make training/.venv-reference: circuit-tracer 0.5.0 and its pinned dependencies from PyPI
# (see requirements.txt for why torch comes from the global interpreter). Idempotent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/../.venv-reference"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv --system-site-packages "$venv"
fi
if ! "$venv/bin/python" -c "import circuit_tracer, transformers; assert transformers.__version__ == '4.57.3'" 2>/dev/null; then
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
fi
"$venv/bin/python" -c "import circuit_tracer, transformers, transformer_lens; print('circuit-tracer venv ready: transformers', transformers.__version__)"
