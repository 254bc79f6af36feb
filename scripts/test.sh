#!/usr/bin/env bash
# Install everything the tests need (Debian's redis-server, redis-tools, tarantool, strace for
# the fsync tests, curl and jq for README's zero-id example, chromium and chromium-driver for
# zero-hub's pages, QEMU, busybox-static and cpio for the node's VMs and their test guest, the
# Python test extras) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/_setup.sh
setup_env "redis-server redis-tools tarantool strace curl jq chromium chromium-driver crun runc busybox-static nftables openssh-server qemu-system-x86 qemu-utils cpio" "test"
echo "==> running the test suite"
. scripts/_test_env.sh  # CI=1 and the require guards: the suite cannot pass by running less
# three workers, a test file each at a time (its fixtures built once): the suite mostly waits on
# servers, so 2 cores carry 3; ZOS_TEST_WORKERS=0 runs it in one process, and "$@" may override
exec .venv/bin/python -m pytest -n "${ZOS_TEST_WORKERS:-3}" --dist loadfile "$@"
