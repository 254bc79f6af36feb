# Shared by quickstart.sh and test.sh: Debian packages, then a virtualenv in .venv.
# usage: setup_env "extra-debian-packages..." "pip-extras"
set -euo pipefail

_sudo() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

setup_env() {
    # a C compiler, Python's and OpenSSL's headers: the chain's C loops (setup.py);
    # fuse3 and its headers (found with pkg-config): pyfuse3 builds against them, flist mounts use them
    local packages=(gcc libc6-dev python3-dev libssl-dev fuse3 libfuse3-dev pkg-config $1)
    local extras="$2" missing=()
    python3 -c 'import venv, ensurepip' 2>/dev/null || packages+=(python3-venv)
    for p in "${packages[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "==> installing Debian packages: ${missing[*]}"
        _sudo apt-get update -qq
        _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "==> creating .venv"
        python3 -m venv .venv
    fi
    echo "==> installing zeroos${extras:+[$extras]} into .venv"
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
    # The test extras' 0-core-client installs a zeroos/__init__.py that declares the namespace
    # through pkg_resources, which costs every `zos` start 0.2-0.5 s (restart benchmark); the
    # same declaration through pkgutil (as our own zeroos/__init__.py does) keeps both importable.
    local ns=.venv/lib/python3*/site-packages/zeroos/__init__.py
    # shellcheck disable=SC2086  # the glob picks the venv's one python3.X folder
    if grep -qs pkg_resources $ns; then
        echo "__path__ = __import__('pkgutil').extend_path(__path__, __name__)" > $ns
    fi
}
