#!/bin/sh
# /usr/bin/plugboard of the Debian package: says in one line when this machine cannot run the
# executable (not x86_64, or a C library other than glibc 2.28 or newer, the oldest that Node 20's
# binary runs on), then runs it. dpkg already refuses the package on another architecture or an
# older libc6; this is for a package forced on (--force-architecture, --force-depends) or a copied
# file system.
set -e
exe=/usr/lib/plugboard/plugboard
# The machine from the kernel without starting a process where it can (Linux 6.1+), else uname.
if [ -r /proc/sys/kernel/arch ]; then read -r arch </proc/sys/kernel/arch; else arch=$(uname -m); fi
if [ "$arch" != x86_64 ]; then
    echo "plugboard: this build runs on x86_64 (amd64) Linux; this machine is $arch: install the package built for it" >&2
    exit 1
fi
libc=$(getconf GNU_LIBC_VERSION 2>/dev/null || true)
case $libc in
    "glibc "*)
        version=${libc#glibc }
        major=${version%%.*}
        minor=${version#*.}
        minor=${minor%%.*}
        case $major$minor in
            *[!0-9]*|'') ;;
            *)
                if [ "$major" -lt 2 ] || { [ "$major" -eq 2 ] && [ "$minor" -lt 28 ]; }; then
                    echo "plugboard: needs the GNU C library 2.28 or newer (Debian 10 or newer); this system has $version" >&2
                    exit 1
                fi ;;
        esac ;;
    *)
        echo "plugboard: needs the GNU C library 2.28 or newer; this system's C library is not glibc (getconf GNU_LIBC_VERSION: ${libc:-nothing})" >&2
        exit 1 ;;
esac
exec "$exe" "$@"
