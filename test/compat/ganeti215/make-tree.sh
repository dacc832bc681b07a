#!/bin/bash
# Builds the Ganeti 2.15 tree that test/compat/ganeti215_runtime.py runs on (by hand: nothing on a
# fresh machine can fetch Ganeti 2.15, which no Debian release this project supports ships):
#
#   test/compat/ganeti215/make-tree.sh GANETI_GIT_DIR PYTHON2 [DEST]
#
# GANETI_GIT_DIR: a clone of github.com/ganeti/ganeti (tag v2.15.2 is used); PYTHON2: a Python 2.7
# interpreter (Ganeti 2.15 is Python 2 code); DEST: default .cache/ganeti-2.15 in this repository.
#
# What it holds: Ganeti 2.15.2's lib/ as the `ganeti` package, unmodified; the modules a built
# Ganeti generates from its Haskell sources (_constants.py, _vcsversion.py), which cannot be built
# here: _constants.py is taken from the Ganeti 3.0 tree test/setup/prepare.sh extracts, with the one
# constant on the harness's paths whose value changed since 2.15 set back (the hotplug target names,
# "hotdisk"/"hotnic" in 2.15, "disk"/"nic" since 2.16, which make the device ids); stand-ins for the
# Python packages Ganeti imports that this Python lacks (stubs/: simplejson = Python's json, a
# minimal bitarray, an empty OpenSSL). PYTHON2's path is recorded in DEST/PYTHON.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
git_dir=${1:?usage: make-tree.sh GANETI_GIT_DIR PYTHON2 [DEST]}
python2=${2:?usage: make-tree.sh GANETI_GIT_DIR PYTHON2 [DEST]}
dest=${3:-$repo/.cache/ganeti-2.15}
constants3=$repo/.cache/ganeti/usr/share/ganeti/3.0/ganeti/_constants.py
[ -f "$constants3" ] || { echo "make-tree.sh: $constants3 missing: run test/setup/prepare.sh first" >&2; exit 1; }
"$python2" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' ||
  { echo "make-tree.sh: $python2 is not Python 2.7" >&2; exit 1; }
tmp=$(mktemp -d "${dest}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
git -C "$git_dir" archive v2.15.2 lib | tar -x -C "$tmp"
mv "$tmp/lib" "$tmp/ganeti"
sed -e 's/^HOTPLUG_TARGET_NIC = "nic"$/HOTPLUG_TARGET_NIC = "hotnic"/' \
    -e 's/^HOTPLUG_TARGET_DISK = "disk"$/HOTPLUG_TARGET_DISK = "hotdisk"/' "$constants3" > "$tmp/ganeti/_constants.py"
grep -q '^HOTPLUG_TARGET_DISK = "hotdisk"$' "$tmp/ganeti/_constants.py"
echo 'VCS_VERSION = "v2.15.2 (plugboard test tree)"' > "$tmp/ganeti/_vcsversion.py"
cp -r "$here/stubs" "$tmp/stubs"
printf '%s\n' "$python2" > "$tmp/PYTHON"
PYTHONPATH="$tmp:$tmp/stubs" PYTHONDONTWRITEBYTECODE=1 "$python2" -c 'from ganeti.hypervisor import hv_kvm' ||
  { echo "make-tree.sh: Ganeti 2.15's hv_kvm does not import" >&2; exit 1; }
rm -rf "$dest"
mv "$tmp" "$dest"
trap - EXIT
echo "Ganeti 2.15.2 tree in $dest (python: $python2)"
