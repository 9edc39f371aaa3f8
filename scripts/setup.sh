#!/usr/bin/env bash
# Idempotent fresh-machine setup for Lockstep.
#
# Installs what the build needs and is missing:
#   - Debian packages for Aeron's C build via rusteron (`static` feature):
#     libclang-dev (bindgen), libbsd-dev, uuid-dev, pkg-config, a C/C++ compiler.
#   - cmake >= 3.30 (Debian bookworm ships 3.25) from PyPI into a project-local
#     venv at .tools/venv; `.cargo/config.toml` points the CMAKE variable there.
#   - QuickFIX's Python wheel into the same venv, for the gateway's interoperability test, and
#     QuickFIX's C++ library (libquickfix-dev), for the gateway benchmark's C++ echo baseline.
#   - iproute2 (`ip`), for the multi-host test's network namespaces (tests/cluster_netns.rs).
# As root it installs with apt; otherwise it prints the exact command to run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
apt_packages=(libclang-dev libbsd-dev uuid-dev pkg-config build-essential python3-venv iproute2
    libquickfix-dev)
cmake_spec='cmake>=3.30,<4'

log() { printf 'setup: %s\n' "$*" >&2; }

missing_apt() {
    local pkg
    for pkg in "${apt_packages[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            printf '%s\n' "$pkg"
        fi
    done
}

install_apt() {
    local missing
    mapfile -t missing < <(missing_apt)
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    if [ "$(id -u)" -eq 0 ]; then
        log "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    else
        log "missing packages: ${missing[*]}"
        log "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
}

cmake_ok() {
    # True when "$1" is a cmake of version >= 3.30.
    local version
    version="$("$1" --version 2>/dev/null | head -n1 | awk '{print $3}')" || return 1
    [ -n "$version" ] || return 1
    printf '3.30.0\n%s\n' "$version" | sort -V -C
}

install_cmake() {
    local venv="$root/.tools/venv"
    if [ -x "$venv/bin/cmake" ] && cmake_ok "$venv/bin/cmake"; then
        return 0
    fi
    log "installing $cmake_spec into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$cmake_spec"
    cmake_ok "$venv/bin/cmake" || { log "cmake in $venv is older than 3.30"; exit 1; }
}

# QuickFIX (Python wheel with FIX44.xml): an independent FIX engine for the gateway's
# interoperability test. Pinned; installed into the same venv.
quickfix_spec="quickfix-ssl==1.15.1.post4"

install_quickfix() {
    local venv="$root/.tools/venv"
    if "$venv/bin/python" -c "import quickfix" >/dev/null 2>&1; then
        return 0
    fi
    log "installing $quickfix_spec into $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$quickfix_spec"
}

check_toolchain() {
    command -v cargo >/dev/null || { log "cargo not found: install Rust (rustup) first"; exit 1; }
    local c
    for c in rustfmt clippy; do
        if ! cargo "${c/clippy/clippy}" --version >/dev/null 2>&1 && ! cargo fmt --version >/dev/null 2>&1; then
            log "cargo $c not found: rustup component add $c"
            exit 1
        fi
    done
}

install_apt
install_cmake
install_quickfix
check_toolchain
log "ok (cmake: $("$root/.tools/venv/bin/cmake" --version | head -n1))"
