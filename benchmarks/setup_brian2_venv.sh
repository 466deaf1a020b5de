#!/usr/bin/env bash
# Create benchmarks/.venv-brian2 with Brian2 2.9 for benchmarks/bench_sim.py.
#
# Brian2 2.9 does not support numpy >= 2.4 (the version neurosim runs with), so it lives in its
# own virtual environment; bench_sim.py runs it in a subprocess. cpp_standalone needs a C++
# compiler (g++); the script checks for one.
#
#   bash benchmarks/setup_brian2_venv.sh            # uses `python3` (3.10+)
#   PYTHON=/path/to/python bash benchmarks/setup_brian2_venv.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${BRIAN2_VENV:-$HERE/.venv-brian2}"
PYTHON="${PYTHON:-python3}"

if ! command -v g++ >/dev/null 2>&1; then
  echo "warning: no g++ found; Brian2 cpp_standalone needs a C++ compiler (apt-get install g++)" >&2
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install "brian2==2.9.*" "numpy<2.4"
"$VENV/bin/python" -c "import brian2, numpy; print('brian2', brian2.__version__, 'numpy', numpy.__version__)"
echo "Brian2 venv ready: $VENV"
