#!/usr/bin/env bash
# npm run test:package: the real thing. Builds the executable and the Debian package (npm run
# package), checks the package with lintian, then installs it with dpkg -i into a clean Debian 12
# root where no `node` exists and uses it there as an operator would:
#
#   - the root: debootstrap --variant=minbase bookworm (+ man-db, bash-completion) from the apt
#     mirror this machine is configured with, made once and cached in .cache/debian12-root (not in
#     git); every run works on an overlay of it (a private mount namespace), so the cache stays clean;
#   - plugboard --version (the commit of this checkout), list --json on a fixture root, show of a
#     legacy runtime file (test/fixtures/runtime), man plugboard, bash completion of an instance name
#     and of a device id, the demo without QEMU (it says how to install it), the one-line refusals of
#     /usr/bin/plugboard on another architecture and an old or missing glibc, the single executable
#     alone (copied out of the package);
#   - dpkg -r, then dpkg --purge: the file list of the root is the one before the install (dpkg's
#     own records and man-db's index aside), and no file of the package is left.
#
# Needs root (chroot, mounts), debootstrap and lintian (installed with apt-get when missing).
# Prints one line per check, and "N passed, N failed" at the end; exits 1 when a check failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8

passed=0 failed=0
ok() { passed=$((passed + 1)); printf 'ok   %s\n' "$*"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$*"; }
die() { printf 'test:package: %s\n' "$*" >&2; exit 1; }
step() { printf '\n=== test:package: %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }

[[ $(id -u) == 0 ]] || die "needs root (debootstrap, chroot and mounts): run it as root"
need=()
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v lintian >/dev/null || need+=(lintian)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
if ((${#need[@]})); then
  step "apt-get install ${need[*]}"
  apt-get install -y -q "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

step "npm run package"
npm run --silent package
deb=$(ls dist/package/plugboard_*_amd64.deb)
exe=dist/package/plugboard
printf 'executable: %s bytes; package: %s bytes (%s)\n' "$(stat -c %s "$exe")" "$(stat -c %s "$deb")" "$deb"

step "lintian"
if lintian_out=$(lintian --pedantic --info "$deb" 2>&1 | grep -v '^running with root'); [[ -z $lintian_out ]]; then
  ok "lintian --pedantic --info: nothing but the package's overrides"
else
  fail "lintian: $lintian_out"
fi

# --- the clean Debian 12 root -------------------------------------------------------------------
base=$repo/.cache/debian12-root
stamp=$repo/.cache/debian12-root.stamp
if [[ ! -f $stamp ]]; then
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null | awk '$2 == "bookworm" { print $1; exit }')
  mirror=${mirror:-http://deb.debian.org/debian/}
  step "debootstrap bookworm from $mirror into .cache/debian12-root (once)"
  rm -rf "$base"
  debootstrap --variant=minbase --include=man-db,bash-completion bookworm "$base" "$mirror" >"$repo/.cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed: see .cache/debootstrap.log"
  rm -rf "$base"/var/cache/apt/archives/*.deb
  touch "$stamp"
fi

run=$(mktemp -d /tmp/plugboard-test-package.XXXXXX)
cleanup() { rm -rf "$run"; }
trap cleanup EXIT
mkdir -p "$run"/{upper,work,merged}
cp "$deb" "$run/plugboard.deb"
# A fixture root, as Ganeti's: conf/NAME.runtime (one Ganeti 3.0 file with SCSI, two legacy ones).
mkdir -p "$run/fixture/root/conf" "$run/fixture/root/ctrl" "$run/fixture/files"
chmod 0755 "$run/fixture" "$run/fixture/root" "$run/fixture/root/conf" "$run/fixture/root/ctrl"
cp test/fixtures/runtime/scsi-current.runtime "$run/fixture/root/conf/web1.example.com.runtime"
cp test/fixtures/runtime/legacy-pci.runtime "$run/fixture/root/conf/old1.example.com.runtime"
cp test/fixtures/runtime/legacy-3-items.runtime "$run/fixture/root/conf/old2.example.com.runtime"
cp test/fixtures/runtime/legacy-3-items.runtime "$run/fixture/files/"
commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
# The single executable on a glibc older than it needs, simulated: the version it requires from
# libc.so.6 (GLIBC_2.28, the newest) renamed to one no glibc has.
perl -0777 -pe 's/GLIBC_2\.28\0/GLIBC_2.99\0/' <"$exe" >"$run/fixture/plugboard-needs-glibc-2.99"
chmod 0755 "$run/fixture/plugboard-needs-glibc-2.99"

# What runs inside the root: one check per line on stdout, as "ok …" / "FAIL …".
cat >"$run/inside.sh" <<'INSIDE'
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=xterm LC_ALL=C.UTF-8
ok() { printf 'ok   %s\n' "$*"; }
fail() { printf 'FAIL %s\n' "$*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }
files() { find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp -o -path /run -o -path /var/lib/dpkg -o -path /var/log -o -path /var/cache/man -o -path /var/cache/debconf \) -prune -o -print | sort; }
fixture=/tmp/fixture

if command -v node || command -v nodejs || ls /usr/bin/node* /usr/local/bin/node* 2>/dev/null; then fail "the root has no node"; else ok "the root has no node (nor nodejs)"; fi
files >/tmp/before
if dpkg -i /tmp/plugboard.deb >/tmp/dpkg-i.log 2>&1; then ok "dpkg -i plugboard.deb (Depends satisfied by minbase)"; else fail "dpkg -i: $(tail -3 /tmp/dpkg-i.log)"; fi
check "installed: /usr/bin/plugboard, /usr/lib/plugboard/plugboard, man page, completion, copyright, changelog.Debian.gz" \
  test -x /usr/bin/plugboard -a -x /usr/lib/plugboard/plugboard -a -f /usr/share/man/man1/plugboard.1.gz -a -f /usr/share/bash-completion/completions/plugboard -a -f /usr/share/doc/plugboard/copyright -a -f /usr/share/doc/plugboard/changelog.Debian.gz
check "the package recommends qemu-system-x86 and python3 (not installed: dpkg does not install recommends)" sh -c 'dpkg-query -W -f "\${Recommends}" plugboard | grep -qx "qemu-system-x86, python3" && ! command -v qemu-system-x86_64 >/dev/null'

v=$(plugboard --version 2>&1); rc=$?
case $v in
  "plugboard $EXPECT_VERSION (commit ${EXPECT_COMMIT:0:12}"*) [ $rc = 0 ] && ok "plugboard --version: $v" || fail "plugboard --version exited $rc" ;;
  *) fail "plugboard --version: '$v' (expected plugboard $EXPECT_VERSION (commit ${EXPECT_COMMIT:0:12}…)" ;;
esac

out=$(plugboard --root $fixture/root list --json 2>/tmp/err); rc=$?
if [ $rc = 0 ] && printf '%s' "$out" | grep -q '"instance": "web1.example.com"' && printf '%s' "$out" | grep -q '"instance": "old2.example.com"' &&
   [ "$(printf '%s' "$out" | grep -c '"instance":')" = 3 ] && printf '%s' "$out" | grep -q '"scsi_controller_type": "virtio-scsi-pci"\|"controller": "virtio-scsi-pci"'; then
  ok "plugboard list --json on the fixture root: 3 instances, web1's virtio-scsi-pci controller"
else
  fail "plugboard list --json (exit $rc): $(printf '%s' "$out" | head -c 400) $(cat /tmp/err)"
fi
out=$(plugboard show --runtime-file $fixture/files/legacy-3-items.runtime 2>&1); rc=$?
if [ $rc = 0 ] && printf '%s\n' "$out" | grep -q '^instance legacy-3-items' && printf '%s\n' "$out" | grep -q '^pci.0  32 slots' && printf '%s\n' "$out" | grep -q 'NIC without uuid'; then
  ok "plugboard show --runtime-file of a legacy (3-item) file: the maps and the upgrade notes"
else
  fail "plugboard show legacy (exit $rc): $(printf '%s' "$out" | head -5)"
fi
out=$(plugboard --root $fixture/root show old1.example.com --json 2>&1); rc=$?
[ $rc = 0 ] && printf '%s' "$out" | grep -q '"pci.0"\|"pci"' && ok "plugboard show NAME --json of a legacy file under the root" || fail "show old1 --json (exit $rc): $(printf '%s' "$out" | head -c 300)"
out=$(plugboard --root $fixture/root show nosuch 2>&1); rc=$?
[ $rc = 2 ] && [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && ok "a missing instance: exit 2, one line: $out" || fail "show nosuch (exit $rc): $out"

page=$(MANPAGER=cat MANWIDTH=100 man plugboard 2>/tmp/man.err); rc=$?
if [ $rc = 0 ] && printf '%s\n' "$page" | grep -q '^EXIT STATUS' && printf '%s\n' "$page" | grep -q 'plugboard \[--root dir\] unplug disk' &&
   printf '%s\n' "$page" | grep -q '^   Hot-add wizard' && printf '%s\n' "$page" | grep -q 'PLUGBOARD_ROOT' && [ ! -s /tmp/man.err ]; then
  ok "man plugboard: synopsis, exit status, environment, the key map ($(printf '%s\n' "$page" | wc -l) lines, no warnings)"
else
  fail "man plugboard (exit $rc): $(head -3 /tmp/man.err)"
fi

complete_words() {  # the completions bash offers for the words (the last one is completed)
  bash -c '. /usr/share/bash-completion/bash_completion; __load_completion plugboard || exit 3
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
    fn=$(complete -p plugboard | sed -n "s/.*-F \([^ ]*\).*/\1/p"); "$fn" plugboard "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}"' _ "$@"
}
got=$(complete_words plugboard --root $fixture/root show we | tr '\n' ' ')
[ "$got" = "web1.example.com " ] && ok "completion: plugboard --root R show we<Tab> → $got" || fail "completion of an instance name: '$got'"
got=$(PLUGBOARD_ROOT=$fixture/root complete_words plugboard hotplug disk '' | tr '\n' ' ')
[ "$got" = "old1.example.com old2.example.com web1.example.com " ] && ok "completion: PLUGBOARD_ROOT, hotplug disk <Tab> → $got" || fail "completion of names from \$PLUGBOARD_ROOT: '$got'"
got=$(complete_words plugboard --root $fixture/root unplug disk web1.example.com '' | tr '\n' ' ')
[ "$got" = "disk-8db0f07a-f486-481e disk-ee2c4570-165b-4abb " ] && ok "completion: unplug disk web1 <Tab> → the disks' ids $got" || fail "completion of device ids: '$got'"
got=$(complete_words plugboard un | tr '\n' ' ')
[ "$got" = "unplug " ] && ok "completion: un<Tab> → $got" || fail "completion of a command: '$got'"

# The demo without QEMU: it says how to install it (and runs read-only). In a terminal (script(1)).
rm -f /tmp/demo.log; mkfifo /tmp/demo.in
( script -qfec 'stty cols 160 rows 40; plugboard demo' /tmp/demo.log </tmp/demo.in >/dev/null 2>&1; echo $? >/tmp/demo.rc ) &
exec 9>/tmp/demo.in
said=no
for i in $(seq 1 200); do
  if grep -q 'apt-get install qemu-system-x86' /tmp/demo.log 2>/dev/null; then said=yes; break; fi
  [ -f /tmp/demo.rc ] && break
  sleep 0.1
done
printf q >&9; exec 9>&-
for i in $(seq 1 100); do [ -f /tmp/demo.rc ] && break; sleep 0.1; done
[ $said = yes ] && [ "$(cat /tmp/demo.rc 2>/dev/null)" = 0 ] && ok "plugboard demo without QEMU: says 'install it with: apt-get install qemu-system-x86', runs read-only, q quits (exit 0)" ||
  fail "plugboard demo without QEMU (said: $said, exit $(cat /tmp/demo.rc 2>/dev/null)): $(tr -d '\033' </tmp/demo.log | tail -c 300)"
rm -rf /tmp/plugboard-demo-* 2>/dev/null

# /usr/bin/plugboard on a machine it cannot run on: one line, exit 1 (fake uname / getconf first on PATH).
mkdir -p /tmp/fake/arm /tmp/fake/oldlibc /tmp/fake/musl
printf '#!/bin/sh\necho aarch64\n' >/tmp/fake/arm/uname
printf '#!/bin/sh\necho "glibc 2.24"\n' >/tmp/fake/oldlibc/getconf
printf '#!/bin/sh\nexit 1\n' >/tmp/fake/musl/getconf
chmod +x /tmp/fake/*/*
for case in "arm:x86_64 (amd64) Linux; this machine is aarch64" "oldlibc:needs the GNU C library 2.28 or newer (Debian 10 or newer); this system has 2.24" "musl:C library is not glibc"; do
  dir=${case%%:*} want=${case#*:}
  # (the machine: the kernel's /proc/sys/kernel/arch where it has one, uname otherwise)
  if [ $dir = arm ] && [ -r /proc/sys/kernel/arch ]; then echo aarch64 >/tmp/fake/arch; mount --bind /tmp/fake/arch /proc/sys/kernel/arch; fi
  err=$(PATH=/tmp/fake/$dir:$PATH plugboard --version 2>&1 >/dev/null); rc=$?
  if [ $dir = arm ] && [ -r /tmp/fake/arch ]; then umount /proc/sys/kernel/arch; fi
  [ $rc = 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && printf '%s' "$err" | grep -qF "$want" && ok "/usr/bin/plugboard ($dir): exit 1, one line: $err" || fail "/usr/bin/plugboard ($dir): exit $rc: $err"
done

# The single executable alone, outside the package.
cp /usr/lib/plugboard/plugboard /tmp/plugboard-single
out=$(/tmp/plugboard-single --root $fixture/root list 2>&1); rc=$?
[ $rc = 0 ] && printf '%s\n' "$out" | grep -q '^web1.example.com' && ok "the single executable copied elsewhere: list" || fail "single executable (exit $rc): $out"
rm -f /tmp/plugboard-single
err=$($fixture/plugboard-needs-glibc-2.99 --version 2>&1); rc=$?
[ $rc != 0 ] && [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && printf '%s' "$err" | grep -q "version .GLIBC_2.99' not found" &&
  ok "the single executable on a too old glibc (simulated): the dynamic loader says so in one line, exit $rc: $err" || fail "single executable, old glibc (exit $rc): $err"

dpkg -r plugboard >/tmp/dpkg-r.log 2>&1 && ok "dpkg -r plugboard" || fail "dpkg -r: $(tail -3 /tmp/dpkg-r.log)"
files >/tmp/after-remove
if cmp -s /tmp/before /tmp/after-remove; then ok "after dpkg -r: the file list is the one before the install"; else fail "after dpkg -r, files differ: $(diff /tmp/before /tmp/after-remove | head -10)"; fi
dpkg --purge plugboard >/tmp/dpkg-p.log 2>&1 && ok "dpkg --purge plugboard" || fail "dpkg --purge: $(tail -3 /tmp/dpkg-p.log)"
files >/tmp/after-purge
left=$(find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \) -prune -o -name '*plugboard*' -print)
if cmp -s /tmp/before /tmp/after-purge && [ -z "$left" ] && ! dpkg-query -W plugboard >/dev/null 2>&1; then
  ok "after dpkg --purge: nothing left (file list as before, no *plugboard* file, dpkg has no record)"
else
  fail "after dpkg --purge: $(diff /tmp/before /tmp/after-purge | head -5) left: $left"
fi
INSIDE

step "install and use the package in a clean Debian 12 root (overlay of .cache/debian12-root)"
# A private mount namespace: the overlay, /proc and /dev go with it.
out=$(unshare -m --propagation private bash -c '
  set -e
  run=$1 base=$2
  mount -t overlay overlay -o "lowerdir=$base,upperdir=$run/upper,workdir=$run/work" "$run/merged"
  m=$run/merged
  mount -t proc proc "$m/proc"
  mount --rbind /dev "$m/dev"
  mount -t tmpfs tmpfs "$m/tmp"
  cp -a "$run/fixture" "$m/tmp/fixture"
  cp "$run/plugboard.deb" "$run/inside.sh" "$m/tmp/"
  chroot "$m" /usr/bin/env -i EXPECT_VERSION="$3" EXPECT_COMMIT="$4" /bin/bash /tmp/inside.sh
' _ "$run" "$base" "$(node -p 'require("./package.json").version')" "$commit" 2>&1) || true
printf '%s\n' "$out"
passed=$((passed + $(printf '%s\n' "$out" | grep -c '^ok ' || true)))
failed=$((failed + $(printf '%s\n' "$out" | grep -c '^FAIL ' || true)))
printf '%s\n' "$out" | grep -qE '^(ok|FAIL) ' || fail "nothing ran inside the root"

step "done"
printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
