#!/usr/bin/env bash
# Full-system boot smoke test: a Debian kernel under qemu-system, an initramfs
# whose init starts firmware-server from its board's built-in defaults, checked
# from the host through a forwarded loopback port.
#
#   board-configs/qemu-system/boot.sh [--load N] [--no-build] [all | armv7 aarch64 mipsel ...]
#
#   armv7    board cortex-a7-generic   qemu-system-arm -M virt -cpu cortex-a7 -smp 2, Debian armmp kernel
#   aarch64  board cortex-a53-generic  qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 2, cloud-arm64 kernel
#   mipsel   board mt7621-generic      qemu-system-mipsel -M malta (24Kc, 1 CPU), 4kc-malta kernel
#   (No big-endian MIPS: Debian 12 has no `mips` architecture, hence no
#   big-endian kernel; the mips build is tested under qemu-mips-static.)
#
# Per target: `cargo board --board B` (release, cached under target/cross),
# an initramfs of busybox-static for the guest's architecture, the NIC driver
# modules (with their dependencies, read from the modules), the binary, its
# board file (/etc/firmware-server/board.toml, for reference: the binary has it
# built in) and a docroot; QEMU with 128 MB and user networking forwarding a
# free 127.0.0.1 port to the guest's port 80. The guest's init brings up
# eth0, starts the server with no arguments and writes the server's
# /proc/PID/status (VmRSS, VmHWM, threads), its descriptor count and the
# guest's MemAvailable to /www/guest/status.txt every second. The host checks
# that the effective configuration (--check-config in the guest) has the
# board's values, a page, a 404, a range request and reads the RSS; then (--load N, default
# 200, 0 to skip) opens N keep-alive connections through the forwarded port,
# each making requests, holds them and reads the RSS again. Every step has a
# timeout; QEMU is killed on exit. Prints one `result:` line per target;
# exits 1 at the first failure. --no-build boots the binary of the previous
# run again (target/qemu-system/TARGET/firmware-server).
#
# Downloads (apt, once, into target/qemu-system/): the kernel and busybox-static
# packages of the guest's Debian architecture (`dpkg --add-architecture` and
# `apt-get update` when missing, through sudo when not root), and qemu-system
# itself when it is not installed, and curl and cpio when missing. Needs the
# cross toolchain (board-configs/install-cross-toolchain.sh) and python3.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=$root/target/qemu-system
load=200
build=1
targets=()
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in
    --load) if [ $# -lt 2 ] || ! [[ $2 =~ ^[0-9]+$ ]]; then echo "boot.sh: --load needs a number" >&2; exit 2; fi
            load=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    -h|--help) usage; exit 0 ;;
    all) targets+=(armv7 aarch64 mipsel); shift ;;
    armv7|aarch64|mipsel) targets+=("$1"); shift ;;
    mips) echo "boot.sh: no big-endian MIPS kernel in Debian 12 (no 'mips' architecture); test mips with qemu-mips-static" >&2; exit 2 ;;
    *) echo "boot.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(armv7 aarch64 mipsel)

log() { echo "boot.sh: $*" >&2; }
# apt's system changes (architectures, package lists, qemu's libraries) need root.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "needs root for: $*"; fi
}
die() { log "$*"; exit 1; }
for p in python3 gzip apt-get dpkg-deb timeout; do
  command -v "$p" >/dev/null || die "$p is missing"
done
for p in curl cpio; do
  if ! command -v "$p" >/dev/null; then
    log "installing $p"
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -q "$p" >/dev/null || die "cannot install $p"
  fi
done
mkdir -p "$cache"

# ---- target table -----------------------------------------------------------
# Sets: board triple debarch kmeta kflavour qemu machine console nic_roots
describe() {
  case $1 in
    armv7) board=cortex-a7-generic; triple=armv7-unknown-linux-musleabihf; debarch=armhf
           kmeta=linux-image-armmp; ksuffix=; qemu="qemu-system-arm"
           machine=(-M virt -cpu cortex-a7 -smp 2); console=ttyAMA0
           nic_roots="virtio_mmio virtio_net"
           netdev() { echo "-netdev user,id=n,hostfwd=tcp:127.0.0.1:$1-:80 -device virtio-net-device,netdev=n"; } ;;
    aarch64) board=cortex-a53-generic; triple=aarch64-unknown-linux-musl; debarch=arm64
           kmeta=linux-image-cloud-arm64; ksuffix=-unsigned; qemu="qemu-system-aarch64"
           machine=(-M virt -cpu cortex-a53 -smp 2); console=ttyAMA0
           nic_roots="virtio_mmio virtio_net"
           netdev() { echo "-netdev user,id=n,hostfwd=tcp:127.0.0.1:$1-:80 -device virtio-net-device,netdev=n"; } ;;
    mipsel) board=mt7621-generic; triple=mipsel-unknown-linux-musl; debarch=mipsel
           kmeta=linux-image-4kc-malta; ksuffix=; qemu="qemu-system-mipsel"
           machine=(-M malta -vga none); console=ttyS0
           nic_roots="pcnet32"
           # romfile= : no PXE option ROM (not needed with -kernel, and not in every qemu package).
           netdev() { echo "-netdev user,id=n,hostfwd=tcp:127.0.0.1:$1-:80 -device pcnet,netdev=n,romfile="; } ;;
  esac
}

# ---- downloads --------------------------------------------------------------
# Makes sure apt knows the packages of a foreign architecture.
ensure_arch() {
  local a=$1
  # (Output captured first: with pipefail, `dpkg ... | grep -q` can fail on SIGPIPE.)
  local foreign; foreign=$(dpkg --print-foreign-architectures)
  if ! grep -qx "$a" <<<"$foreign"; then
    log "enabling Debian architecture $a"
    as_root dpkg --add-architecture "$a"
  fi
  if ! apt-cache show "$kmeta:$a" >/dev/null 2>&1; then
    log "apt-get update (package lists for $a)"
    as_root timeout 300 apt-get update -q >/dev/null || log "apt-get update reported errors (continuing with what it got)"
    apt-cache show "$kmeta:$a" >/dev/null 2>&1 || die "apt has no $kmeta:$a"
  fi
}

# Downloads a package (NAME:ARCH) into $cache/debs and unpacks it into DIR, once.
fetch_deb() {
  local pkg=$1 dir=$2 stamp
  stamp="$dir/.fetched-${pkg//[:\/]/_}"
  [ -e "$stamp" ] && return 0
  mkdir -p "$cache/debs" "$dir"
  log "downloading $pkg"
  (cd "$cache/debs" && timeout 600 apt-get download -q "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
  local deb
  deb=$(find "$cache/debs" -name "${pkg%%:*}_*_${pkg##*:}.deb" | sort -V | tail -1)
  [ -n "$deb" ] || die "apt-get download $pkg left no .deb in $cache/debs"
  dpkg-deb -x "$deb" "$dir"
  touch "$stamp"
}

# The versioned kernel package behind a metapackage, e.g. linux-image-6.1.0-50-armmp.
kernel_package() {
  # The candidate version only; awk reads everything (no SIGPIPE under pipefail).
  apt-cache show --no-all-versions "$kmeta:$debarch" \
    | awk '!found && /^Depends: linux-image-[0-9]/ { sub(/^Depends: /, ""); sub(/[ ,].*/, ""); print; found = 1 }'
}

# qemu-system: the installed one, or Debian's packages unpacked into the cache.
# (On images where a newer qemu-utils is installed, apt refuses qemu-system's
# older qemu-system-common; the unpacked binaries run with the libraries below.)
qemu_bin() {
  local q=$1
  if command -v "$q" >/dev/null; then command -v "$q"; return; fi
  local dir=$cache/qemu
  if [ ! -x "$dir/usr/bin/$q" ]; then
    case $q in
      qemu-system-mips*) fetch_deb qemu-system-mips:amd64 "$dir" ;;
      *) fetch_deb qemu-system-arm:amd64 "$dir" ;;   # also has qemu-system-aarch64
    esac
    fetch_deb qemu-system-data:all "$dir"
  fi
  local libs; libs=$(ldd "$dir/usr/bin/$q")
  if grep -q "not found" <<<"$libs"; then
    log "installing qemu-system's libraries"
    as_root timeout 600 env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libfdt1 libcapstone4 libpmem1 \
      librdmacm1 libibverbs1 libslirp0 libvdeplug2 >/dev/null
    ! ldd "$dir/usr/bin/$q" | grep "not found" || die "$q still misses libraries"
  fi
  echo "$dir/usr/bin/$q"
}

# ---- initramfs --------------------------------------------------------------
# Module dependencies, read from the .modinfo section (`depends=a,b`).
mod_file() { find "$kroot/lib/modules" \( -name "$1.ko" -o -name "${1//_/-}.ko" \) -print -quit; }
mod_order=()
add_module() {
  local m=$1 f d
  for d in "${mod_order[@]}"; do [ "$d" = "$m" ] && return 0; done
  f=$(mod_file "$m")
  if [ -z "$f" ]; then
    log "module $m not found in the kernel package: assumed built in"
    return 0
  fi
  local deps; deps=$(grep -m1 -ao 'depends=[a-z0-9_,-]*' "$f" || true)
  deps=${deps#depends=}
  for d in ${deps//,/ }; do
    add_module "$d"
  done
  mod_order+=("$m")
}

make_initramfs() {
  local out=$1 bin=$2 boardfile=$3 ir
  ir=$(mktemp -d "$cache/initramfs.XXXXXX")
  tmpdir=$ir   # removed on exit if this fails half-way
  mkdir -p "$ir"/{bin,sbin,usr/bin,usr/sbin,etc/firmware-server,lib/modules,proc,sys,dev,tmp,var/run,var/log,www/guest}
  cp "$broot/bin/busybox" "$ir/bin/busybox"
  cp "$bin" "$ir/usr/sbin/firmware-server"
  cp "$boardfile" "$ir/etc/firmware-server/board.toml"
  mod_order=()
  local m
  for m in $nic_roots; do add_module "$m"; done
  for m in "${mod_order[@]}"; do
    cp "$(mod_file "$m")" "$ir/lib/modules/$m.ko"
    echo "$m" >>"$ir/etc/modules.order"
  done
  touch "$ir/etc/modules.order"
  # The docroot: a page, a file for range requests (bytes 0..255 repeated), the guest's status.
  printf '<!doctype html><title>firmware-server</title><p>booted %s\n' "$board" >"$ir/www/index.html"
  python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 64)' >"$ir/www/range.bin"
  cp "$here/init" "$ir/init"
  chmod 755 "$ir/init" "$ir/bin/busybox" "$ir/usr/sbin/firmware-server"
  (cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 | gzip -9) >"$out"
  rm -rf "$ir"
  tmpdir=
}

# ---- host-side checks -------------------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# guest_status URL [AFTER]: the guest's status file, once its sequence number is above AFTER.
guest_status() {
  local url=$1 after=${2:-0} _ txt seq
  for _ in $(seq 1 30); do
    txt=$(curl -sf --max-time 5 "$url/guest/status.txt" || true)
    seq=$(sed -n 's/^seq //p' <<<"$txt")
    if [ -n "$seq" ] && [ "$seq" -gt "$after" ]; then echo "$txt"; return 0; fi
    sleep 1
  done
  return 1
}

run_target() {
  local name=$1
  describe "$name"
  local dir=$cache/$name
  mkdir -p "$dir"
  local t0=$SECONDS

  # The binary.
  local bin=$dir/firmware-server
  if [ $build = 1 ]; then
    log "$name: cargo board --board $board"
    local out
    out=$(cd "$root" && nice cargo board --board "$board") || die "$name: cargo board --board $board failed"
    cp "$(sed -n 's/^artifact: //p' <<<"$out")" "$bin"
  fi
  [ -x "$bin" ] || die "$name: no binary at $bin (run without --no-build)"
  local size; size=$(stat -c %s "$bin")

  # Kernel, modules and busybox.
  ensure_arch "$debarch"
  local kpkg; kpkg=$(kernel_package)
  [ -n "$kpkg" ] || die "$name: cannot find the kernel package behind $kmeta:$debarch"
  kpkg=$kpkg$ksuffix
  kroot=$cache/kernel-$kpkg-$debarch
  broot=$cache/busybox-$debarch
  fetch_deb "$kpkg:$debarch" "$kroot"
  fetch_deb "busybox-static:$debarch" "$broot"
  local kernel; kernel=$(find "$kroot/boot" -name 'vmlinu[xz]-*' -print -quit)
  [ -f "$kernel" ] || die "$name: no kernel image in $kpkg"
  local q; q=$(qemu_bin "$qemu")
  local qdata=()
  [ -d "$cache/qemu/usr/share/qemu" ] && [[ $q == "$cache"/* ]] && qdata=(-L "$cache/qemu/usr/share/qemu")

  make_initramfs "$dir/initrd.gz" "$bin" "$root/board-configs/$board.toml"
  local prep=$((SECONDS - t0))

  # Boot.
  local port; port=$(free_port)
  local url=http://127.0.0.1:$port
  local conlog=$dir/console.log
  # shellcheck disable=SC2046
  timeout 600 "$q" "${qdata[@]}" "${machine[@]}" -m 128 -kernel "$kernel" -initrd "$dir/initrd.gz" \
    -append "console=$console quiet panic=-1" -display none -serial "file:$conlog" -monitor none \
    -no-reboot $(netdev "$port") </dev/null >"$dir/qemu.log" 2>&1 &
  qpid=$!
  local tboot=$SECONDS
  log "$name: booting $(basename "$kernel") (qemu pid $qpid, 127.0.0.1:$port -> guest :80, console $conlog)"
  local up=0 _
  for _ in $(seq 1 120); do
    kill -0 $qpid 2>/dev/null || { cat "$dir/qemu.log" >&2; tail -20 "$conlog" >&2; die "$name: qemu exited"; }
    if curl -sf --max-time 3 -o /dev/null "$url/guest/status.txt"; then up=1; break; fi
    sleep 1
  done
  [ $up = 1 ] || { tail -30 "$conlog" >&2; die "$name: the server did not answer within 120 s of boot"; }
  local boot_s=$((SECONDS - tboot))

  # A page.
  local body
  body=$(curl -sf --max-time 10 "$url/") || die "$name: GET / failed"
  grep -q "booted $board" <<<"$body" || die "$name: GET / returned the wrong page: $body"
  # A 404.
  local code
  code=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' "$url/no-such-page")
  [ "$code" = 404 ] || die "$name: GET /no-such-page answered $code, not 404"
  # A range request: bytes 1000-1099 of 256-byte cycles.
  local hdrs
  hdrs=$(curl -s --max-time 10 -D - -o "$dir/range.out" -H 'Range: bytes=1000-1099' "$url/range.bin")
  grep -q '^HTTP/1.1 206' <<<"$hdrs" || die "$name: range request not answered 206: $hdrs"
  grep -qi '^content-range: bytes 1000-1099/16384' <<<"$hdrs" || die "$name: wrong Content-Range: $hdrs"
  python3 - "$dir/range.out" <<'EOF' || die "$name: wrong bytes for the range"
import sys
got = open(sys.argv[1], "rb").read()
want = (bytes(range(256)) * 64)[1000:1100]
sys.exit(0 if got == want else 1)
EOF
  # The server runs with the board's built-in defaults: its effective configuration
  # (--check-config, run by init) has the board's values.
  curl -sf --max-time 10 -o "$dir/config.txt" "$url/guest/config.txt" || die "$name: no effective configuration from the guest"
  local k want
  for k in root max_connections buffer_size keepalive_timeout; do
    want=$(grep -m1 "^$k *=" "$root/board-configs/$board.toml" | sed 's/ *#.*//; s/  */ /g')
    [ -z "$want" ] || grep -qxF "$want" "$dir/config.txt" \
      || die "$name: the guest's effective configuration lacks the board's '$want' (see $dir/config.txt)"
  done
  # The server's RSS, read inside the guest.
  local st seq idle
  st=$(guest_status "$url") || die "$name: no status from the guest"
  seq=$(sed -n 's/^seq //p' <<<"$st")
  st=$(guest_status "$url" "$seq") || die "$name: the guest's status is not refreshed"
  idle=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' <<<"$st")
  [ -n "$idle" ] || die "$name: no VmRSS in the guest's status: $st"
  local avail threads anon file
  avail=$(sed -n 's/^MemAvailable:[[:space:]]*\([0-9]*\) kB/\1/p' <<<"$st")
  # RssAnon: heap, stacks, the server's own data. The executable's pages mapped in count
  # as RssShmem here (the initramfs is a tmpfs), as RssFile on a flash filesystem.
  anon=$(sed -n 's/^RssAnon:[[:space:]]*\([0-9]*\) kB/\1/p' <<<"$st")
  file=$(sed -n 's/^Rss\(File\|Shmem\):[[:space:]]*\([0-9]*\) kB/\2/p' <<<"$st" | awk '{ n += $1 } END { print n + 0 }')
  threads=$(sed -n 's/^Threads:[[:space:]]*//p' <<<"$st")
  log "$name: board defaults, page, 404 and range checked; server up ${boot_s}s after QEMU start; VmRSS ${idle} kB idle (anon $anon, executable $file)"

  # Keep-alive load, RSS read inside the guest while the connections are held.
  local loaded=- loaded_anon=-
  if [ "$load" -gt 0 ]; then
    local lo
    # The board's keep-alive timeout (seconds): idle connections are refreshed within half of it.
    local ka
    ka=$(sed -n 's/^keepalive_timeout = "\([0-9]*\)s"$/\1/p' "$dir/config.txt")
    lo=$(timeout 300 python3 "$here/keepalive_load.py" --url "$url" -n "$load" --keepalive "${ka:-5}") \
      || die "$name: keep-alive load failed"
    loaded=$(sed -n 's/^connections=[0-9]* rss_kb=\([0-9]*\) .*/\1/p' <<<"$lo")
    loaded_anon=$(sed -n 's/^connections=[0-9]* rss_kb=[0-9]* anon_kb=\([0-9]*\) .*/\1/p' <<<"$lo")
    log "$name: $lo"
  fi
  kill $qpid 2>/dev/null || true
  wait $qpid 2>/dev/null || true
  qpid=
  echo "result: target=$name board=$board triple=$triple binary_bytes=$size server_up_s=$boot_s" \
       "rss_idle_kb=$idle anon_idle_kb=$anon exe_idle_kb=$file rss_${load}_keepalive_kb=$loaded" \
       "anon_${load}_keepalive_kb=$loaded_anon threads=$threads mem_available_kb=$avail" \
       "prepare_s=$prep total_s=$((SECONDS - t0))"
}

qpid=
tmpdir=
cleanup() {
  if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; fi
  if [ -n "$tmpdir" ]; then rm -rf "$tmpdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for t in "${targets[@]}"; do run_target "$t"; done
