#!/bin/sh
# Install the cross toolchain used by `cargo board` (see CROSS-README / shared CROSS notes):
#   Debian:  rustc-web cargo-web rust-web-src  -> /usr/bin/rustc, /usr/bin/cargo, std source
#            qemu-user-static                  -> qemu-{arm,aarch64,mips,mipsel}-static
#   PyPI:    ziglang cargo-zigbuild            -> Zig as musl C compiler/linker, cargo wrapper
#
# Run as root on Debian. Idempotent: when everything is present it only checks and
# exits within a second or so, printing nothing. Extra Debian packages can be named
# in FWS_EXTRA_APT (e.g. "rsync shellcheck python3-magic python3-flake8" for Buildroot checks).
#
# Exit status: 0 when the toolchain is usable afterwards, 1 otherwise.
set -eu

log() { printf 'install-cross-toolchain: %s\n' "$*" >&2; }

APT_PKGS="rustc-web cargo-web rust-web-src qemu-user-static ${FWS_EXTRA_APT:-}"
PIP_PKGS="ziglang cargo-zigbuild"

# --- Debian packages --------------------------------------------------------------
missing=""
for p in $APT_PKGS; do
    if ! dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "need root to apt-get install:$missing"
        exit 1
    fi
    log "apt-get install$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Update the lists only when a package is not known yet (first run on a fresh machine).
    need_update=0
    for p in $missing; do
        if ! apt-cache show "$p" >/dev/null 2>&1; then need_update=1; fi
    done
    if [ "$need_update" -eq 1 ]; then
        apt-get update -qq >/dev/null
    fi
    # shellcheck disable=SC2086
    if ! apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
        # The lists may be stale (404 on a superseded .deb): refresh once and retry.
        apt-get update -qq >/dev/null
        # shellcheck disable=SC2086
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
fi

# --- PyPI packages ------------------------------------------------------------------
PY=${PYTHON:-python3}
have_zig() { "$PY" -c 'import ziglang' >/dev/null 2>&1; }
have_czb() { command -v cargo-zigbuild >/dev/null 2>&1; }

if ! have_zig || ! have_czb; then
    log "pip install $PIP_PKGS"
    # shellcheck disable=SC2086
    if ! "$PY" -m pip install -q --disable-pip-version-check $PIP_PKGS 2>/dev/null; then
        # Debian's own python3 refuses system-wide pip installs (PEP 668) without this flag.
        # shellcheck disable=SC2086
        "$PY" -m pip install -q --disable-pip-version-check --break-system-packages $PIP_PKGS
    fi
    # pyenv puts new console scripts on PATH only through its shims.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
fi

# --- checks -------------------------------------------------------------------------
ok=1
for f in /usr/bin/rustc /usr/bin/cargo /usr/lib/rustlib/src/rust/library/std/Cargo.toml \
         /usr/bin/qemu-mips-static /usr/bin/qemu-mipsel-static /usr/bin/qemu-arm-static \
         /usr/bin/qemu-aarch64-static; do
    if [ ! -e "$f" ]; then log "missing after install: $f"; ok=0; fi
done
if ! have_zig; then log "python module ziglang not importable by $PY"; ok=0; fi
if ! have_czb; then
    scripts=$("$PY" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
    if [ -n "$scripts" ] && [ -x "$scripts/cargo-zigbuild" ]; then
        log "cargo-zigbuild is in $scripts, which is not on PATH: add it"
    else
        log "cargo-zigbuild not found"
    fi
    ok=0
fi
[ "$ok" -eq 1 ] || exit 1
exit 0
