#!/usr/bin/env bash
# Create benchmarks/.venv-nest with NEST 3.10 (PyPI wheel "nest-simulator") for benchmarks/bench_sim.py.
#
# NEST runs in its own virtual environment, like Brian2 (setup_brian2_venv.sh): bench_sim.py
# runs benchmarks/nest_nets.py with it in a subprocess and skips NEST with a note when the venv
# is missing or cannot import nest.
#
#   bash benchmarks/setup_nest_venv.sh            # uses `python3` (3.10+)
#   PYTHON=/path/to/python bash benchmarks/setup_nest_venv.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${NEST_VENV:-$HERE/.venv-nest}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install "nest-simulator==3.10.*"
"$VENV/bin/python" -c "import nest, numpy; print('nest', nest.__version__, 'numpy', numpy.__version__)" 2>/dev/null | tail -1
echo "NEST venv ready: $VENV"
