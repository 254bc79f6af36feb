#!/usr/bin/env bash
# Install zeroos into .venv and start the main job: a zero-db server on its embedded engine.
# Extra arguments go to `zos zdb serve` (for example --port 9901 --admin secret).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_env "" ""
echo "==> starting zero-db (127.0.0.1:9900 unless --listen/--port say otherwise; data in ./zdb-data, index in ./zdb-index); Ctrl-C stops it"
exec .venv/bin/zos zdb serve "$@"
