#!/usr/bin/env bash
# Prepares what plugboard's integration tests need, idempotently:
#   - Debian packages: QEMU, tmux, iproute2, cpio, and the Python modules that importing Ganeti's
#     hv_kvm really needs (simplejson, OpenSSL, bitarray, psutil): installed with apt-get when root;
#     otherwise the missing ones are named and the script exits 1.
#   - .cache/ganeti/usr/share/ganeti/3.0: Ganeti 3.0's Python tree (ganeti-3.0 .deb, extracted, never
#     installed: its maintainer scripts and services are not wanted here).
#   - .cache/guest/{vmlinuz,initramfs.cpio.gz}: a tiny guest for TCG: Debian's cloud kernel
#     (ACPI PCI hotplug built in) and a busybox initramfs that loads the virtio drivers, prints
#     PLUGBOARD-GUEST-READY on ttyS0 and stays up, so that it acknowledges PCI unplug requests.
# Each product has a stamp file (package versions, and the hash of this script as the recipe); when
# its recipe matches, nothing is downloaded or rebuilt (no apt look-up at all). It writes nothing outside .cache/
# except apt installs. PLUGBOARD_REFRESH=1 re-resolves package versions (e.g. a newer kernel).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache="$root/.cache"
debs="$cache/debs"
script_hash=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)

# Progress goes to stderr: stdout of helpers is captured.
say() { printf 'prepare: %s\n' "$*" >&2; }
die() { printf 'prepare: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$cache" "$debs"
tmp=""
trap '[ -z "$tmp" ] || rm -rf "$tmp"' EXIT
# One run at a time (npm test may be started twice; CI and a developer may share a machine).
exec 9>"$cache/.prepare.lock"
flock -w 600 9 || die "another prepare.sh holds $cache/.prepare.lock for more than 600 s"

is_root() { [ "$(id -u)" = 0 ]; }

# --- apt helpers -------------------------------------------------------------------------------
lists_updated=0
apt_update() {
  if [ "$lists_updated" = 0 ]; then
    say "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null || die "apt-get update failed"
    lists_updated=1
  fi
}
lists_empty() { ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }

installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

# apt_install PKG... : --no-install-recommends; one apt-get update and a retry when it fails.
apt_install() {
  local args=(-y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  lists_empty && apt_update
  say "apt-get install $*"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install "${args[@]}" "$@" </dev/null; then
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install "${args[@]}" "$@" </dev/null || die "apt-get install $* failed"
  fi
}

# candidate_version PKG : the version apt-get download would fetch ('' when unknown).
candidate_version() {
  apt-cache policy "$1" 2>/dev/null | sed -n 's/^  Candidate: //p' | grep -v '^(none)$' || true
}

# download PKG : fetches PKG's candidate .deb into .cache/debs (kept, so rebuilds are offline);
# prints the .deb path. Refreshes the lists once when the candidate is unknown or the fetch fails.
download() {
  local pkg=$1 ver deb
  ver=$(candidate_version "$pkg")
  if [ -z "$ver" ]; then
    is_root || die "apt knows no candidate for $pkg: run 'apt-get update' as root"
    apt_update
    ver=$(candidate_version "$pkg")
    [ -n "$ver" ] || die "no Debian package named $pkg in the configured apt sources"
  fi
  deb=$(deb_path "$pkg" "$ver")
  if [ -z "$deb" ]; then
    say "apt-get download $pkg=$ver"
    if ! (cd "$debs" && apt-get download -qq "$pkg=$ver" </dev/null 2>/dev/null); then
      is_root || die "apt-get download $pkg=$ver failed: run 'apt-get update' as root"
      apt_update
      (cd "$debs" && apt-get download -qq "$pkg=$ver" </dev/null) || die "apt-get download $pkg=$ver failed"
    fi
    deb=$(deb_path "$pkg" "$ver")
    [ -n "$deb" ] || die "apt-get download $pkg=$ver left no .deb in $debs"
  fi
  printf '%s\n' "$deb"
}
# deb_path PKG VER : the downloaded .deb of PKG=VER in .cache/debs, or '' (apt-get download names it
# PKG_VER_ARCH.deb with the epoch's ':' written '%3a').
deb_path() { compgen -G "$debs/${1}_${2//:/%3a}_*.deb" | head -n1 || true; }

# --- 1. Debian packages ------------------------------------------------------------------------
# qemu-system-x86: QEMU 7.2 for the integration tests (recommends not wanted: no GUI, no firmware
#   extras; the pc machine's SeaBIOS comes with its dependency seabios/ipxe-qemu).
# python3-*: exactly what `import ganeti.hypervisor.hv_kvm` pulls in (measured: simplejson via
#   ganeti.serializer, OpenSSL via ganeti.utils.security, bitarray via ganeti.utils.bitarrays,
#   psutil via hv_kvm itself). pyparsing, pyinotify, pycurl, paramiko are not imported by it.
packages=(qemu-system-x86 tmux iproute2 cpio python3 python3-simplejson python3-openssl python3-bitarray python3-psutil)
missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if is_root; then
    apt_install "${missing[@]}"
  else
    printf 'prepare: missing Debian packages; install them as root with:\n  apt-get update && apt-get install --no-install-recommends %s\n' "${missing[*]}" >&2
    exit 1
  fi
fi

refresh=${PLUGBOARD_REFRESH:-0}

# --- 2. Ganeti 3.0 Python tree -----------------------------------------------------------------
gdir="$cache/ganeti"
gstamp="$gdir/.stamp"
gtree="$gdir/usr/share/ganeti/3.0"
if [ "$refresh" != 1 ] && [ -f "$gtree/ganeti/hypervisor/hv_kvm/__init__.py" ] && [ -f "$gstamp" ] \
   && grep -qx "recipe=$script_hash" "$gstamp"; then
  say "ganeti: cached ($(sed -n 's/^ganeti-3.0=//p' "$gstamp"))"
else
  deb=$(download ganeti-3.0)
  ver=$(dpkg-deb -f "$deb" Version)
  tmp=$(mktemp -d "$cache/.ganeti.XXXXXX")
  dpkg-deb -x "$deb" "$tmp"
  [ -f "$tmp/usr/share/ganeti/3.0/ganeti/hypervisor/hv_kvm/__init__.py" ] \
    || die "$deb has no usr/share/ganeti/3.0/ganeti/hypervisor/hv_kvm"
  printf 'ganeti-3.0=%s\nrecipe=%s\n' "$ver" "$script_hash" >"$tmp/.stamp"
  rm -rf "$gdir"
  mv "$tmp" "$gdir"
  tmp=""
  say "ganeti: extracted ganeti-3.0 $ver into .cache/ganeti"
fi
# Importing hv_kvm with Debian's python proves the Python dependencies are complete.
PYTHONPATH="$gtree" /usr/bin/python3 -c 'import ganeti.hypervisor.hv_kvm' \
  || die "importing Ganeti's hv_kvm failed with /usr/bin/python3 (see above)"

# --- 3. tiny guest ------------------------------------------------------------------------------
gu="$cache/guest"
ustamp="$gu/.stamp"
# Drivers loaded in the guest, dependencies first (checked against each module's depends= below),
# so hot-plugged virtio devices are bound to a driver the way they are on a real instance.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net)
if [ "$refresh" != 1 ] && [ -s "$gu/vmlinuz" ] && [ -s "$gu/initramfs.cpio.gz" ] && [ -f "$ustamp" ] \
   && grep -qx "recipe=$script_hash" "$ustamp"; then
  say "guest: cached ($(grep -v '^recipe=' "$ustamp" | paste -sd' '))"
else
  # The kernel package the metapackage points at now (its ABI number changes with kernel updates).
  resolve_kernel() {
    [ -z "${PLUGBOARD_GUEST_KERNEL:-}" ] || { printf '%s\n' "$PLUGBOARD_GUEST_KERNEL"; return; }
    apt-cache depends linux-image-cloud-amd64 2>/dev/null \
      | sed -n 's/^ *Depends: \(linux-image-[^ ]*-cloud-amd64\)$/\1/p' | head -n1
  }
  lists_empty && { is_root || die "apt lists are empty: run 'apt-get update' as root"; apt_update; }
  kpkg=$(resolve_kernel)
  [ -n "$kpkg" ] || die "cannot resolve linux-image-cloud-amd64 to a kernel package (apt-cache depends)"
  if ! kdeb=$(download "$kpkg"); then
    # Stale lists can name a kernel ABI the mirror has dropped: refresh, resolve again.
    is_root || die "cannot download $kpkg: run 'apt-get update' as root"
    say "retrying the kernel after apt-get update"
    apt_update
    kpkg=$(resolve_kernel)
    kdeb=$(download "$kpkg")
  fi
  bdeb=$(download busybox-static)
  kver=$(dpkg-deb -f "$kdeb" Version)
  bver=$(dpkg-deb -f "$bdeb" Version)

  tmp=$(mktemp -d "$cache/.guest.XXXXXX")
  # Kernel image and the few modules only (the whole package unpacks to ~100 MB).
  dpkg-deb --fsys-tarfile "$kdeb" | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './boot/config-*' \
    $(printf "*/%s.ko " "${modules[@]}")
  config=$(echo "$tmp"/boot/config-*)
  for opt in CONFIG_HOTPLUG_PCI_ACPI CONFIG_SERIAL_8250_CONSOLE CONFIG_DEVTMPFS CONFIG_BLK_DEV_INITRD CONFIG_RD_GZIP; do
    grep -qx "$opt=y" "$config" || die "$kpkg: $opt is not built in (=y); the guest cannot work without it"
  done

  rootfs="$tmp/rootfs"
  mkdir -p "$rootfs/bin" "$rootfs/modules" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/tmp"
  dpkg-deb --fsys-tarfile "$bdeb" | tar -x -O ./bin/busybox >"$rootfs/bin/busybox"
  chmod 0755 "$rootfs/bin/busybox"
  loaded=""
  for m in "${modules[@]}"; do
    ko=$(find "$tmp/lib/modules" -name "$m.ko" | head -n1)
    [ -n "$ko" ] || die "$kpkg has no $m.ko"
    # Every dependency must be loaded earlier in the list.
    deps=$(grep -a -o -m1 'depends=[a-z0-9_,-]*' "$ko" | head -n1 | cut -d= -f2 | tr ',' ' ')
    for d in $deps; do
      case " $loaded " in *" $d "*) ;; *) die "$m.ko needs $d, which is not loaded before it";; esac
    done
    cp "$ko" "$rootfs/modules/$m.ko"
    loaded="$loaded $m"
  done
  printf '%s\n' "${modules[@]}" >"$rootfs/modules/order"
  cat >"$rootfs/init" <<'EOF'
#!/bin/busybox sh
# plugboard's test guest: mount the basics, load the virtio drivers, say it is ready, stay up.
# Kernel parameter plugboard.drivers=none skips the drivers (boots ~1.5 s faster under TCG; an
# unbound PCI device is ejected faster too, so hot-unplug timings are less like a real guest's).
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
loaded=""
case " $(cat /proc/cmdline) " in
  *" plugboard.drivers=none "*) ;;
  *)
    for m in $(cat /modules/order); do
      if insmod "/modules/$m.ko"; then loaded="$loaded $m"; else echo "plugboard-guest: insmod $m failed"; fi
    done;;
esac
echo "plugboard-guest: modules:${loaded:- none}"
echo "plugboard-guest: kernel $(uname -r), $(ls /sys/bus/pci/slots 2>/dev/null | wc -l) ACPI hotplug slots"
echo "PLUGBOARD-GUEST-READY"
# PID 1 must never exit (panic=-1 would reset the machine); the kernel handles ACPI ejects itself.
while :; do sleep 3600; done
EOF
  chmod 0755 "$rootfs/init"
  # Deterministic archive: fixed order, owner and mtimes; gzip without name/time.
  find "$rootfs" -exec touch -h -d @0 {} +
  (cd "$rootfs" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 --reproducible) \
    | gzip -9 -n >"$tmp/initramfs.cpio.gz"

  mkdir -p "$tmp/out"
  cp "$tmp"/boot/vmlinuz-* "$tmp/out/vmlinuz"
  mv "$tmp/initramfs.cpio.gz" "$tmp/out/"
  printf '%s=%s\nbusybox-static=%s\nrecipe=%s\n' "$kpkg" "$kver" "$bver" "$script_hash" >"$tmp/out/.stamp"
  rm -rf "$gu"
  mv "$tmp/out" "$gu"
  rm -rf "$tmp"
  tmp=""
  say "guest: built .cache/guest ($kpkg $kver, busybox-static $bver, initramfs $(stat -c %s "$gu/initramfs.cpio.gz") bytes)"
fi
say "ready"
