#!/usr/bin/env bash
# Install everything the tests need (Debian's redis-server and redis-tools, the Python test
# extras) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_env "redis-server redis-tools tarantool" "test"
echo "==> running the test suite"
exec .venv/bin/python -m pytest "$@"
