#!/usr/bin/env bash
# test/numa/vm-setup.sh: prepare the host for vm-run.sh (idempotent).
#
#   vm-setup.sh [--cache DIR] [--refresh] [--quiet]
#
# 1. Installs what is missing with apt-get (as root, or through `sudo -n`):
#    qemu-system-x86, busybox-static, cpio, numactl (and xz-utils, zstd and
#    binutils to pre-decompress the kernel).  --no-install-recommends.
# 2. Downloads the Debian kernel package the linux-image-amd64 metapackage
#    depends on with `apt-get download`, extracts only boot/vmlinuz-* into
#    the cache directory and deletes the .deb.  Also writes an uncompressed
#    ELF `vmlinux` next to it, which qemu boots through its PVH entry point
#    (the kernel then skips decompressing itself, which is slow under TCG).
#
# Cache directory: --cache DIR, else $HAKMEM_VM_CACHE, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/hakmem-vm.  Contents:
#   vmlinuz-<kver>  the kernel image from the package
#   vmlinuz         symlink to it
#   vmlinux         the same kernel, decompressed (optional)
#   kernel.txt      package name and version
# A cached kernel is reused without asking the registry again; --refresh
# fetches the current one.  HAKMEM_VM_KERNEL=/path/to/image skips the
# download altogether.
#
# Exit status: 0 ready; 77 qemu or the kernel cannot be had (no registry,
# apt-get refused); 1 anything else.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vm-common.sh
. "$here/vm-common.sh"

refresh=0
while [ $# -gt 0 ]; do
    case $1 in
        --cache) [ $# -ge 2 ] || { vm_err "--cache needs a directory"; exit 1; }
                 export HAKMEM_VM_CACHE=$2; shift 2 ;;
        --cache=*) export HAKMEM_VM_CACHE=${1#*=}; shift ;;
        --refresh) refresh=1; shift ;;
        --quiet|-q) export HAKMEM_VM_QUIET=1; shift ;;
        -h|--help) sed -n '/^# test\/numa/,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) vm_err "unknown argument: $1"; exit 1 ;;
    esac
done

cache=$(vm_cache_dir)
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# Serialise concurrent setups (parallel `make check` runs of vm-run.sh).
exec 9>"$cache/.lock"
flock 9

# ---------------------------------------------------------------- packages
need=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
command -v busybox >/dev/null 2>&1 || need+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need+=(cpio)
command -v numactl >/dev/null 2>&1 || need+=(numactl)
if [ "${#need[@]}" -gt 0 ]; then
    if ! vm_apt_install "${need[@]}"; then
        vm_err "cannot install ${need[*]} with apt-get"
        exit "$VM_EXIT_SKIP"
    fi
fi
for c in qemu-system-x86_64 busybox cpio numactl; do
    command -v "$c" >/dev/null 2>&1 ||
        { vm_err "$c still missing after installing"; exit "$VM_EXIT_SKIP"; }
done
# Optional: tools to pre-decompress the kernel.  Failure is not fatal.
opt=()
command -v xz >/dev/null 2>&1 || opt+=(xz-utils)
command -v zstd >/dev/null 2>&1 || opt+=(zstd)
command -v readelf >/dev/null 2>&1 || opt+=(binutils)
if [ "${#opt[@]}" -gt 0 ] && [ -z "${HAKMEM_VM_KERNEL:-}" ]; then
    vm_apt_install "${opt[@]}" ||
        vm_warn "could not install ${opt[*]}; booting the compressed kernel"
fi

# ------------------------------------------------------------------ kernel
# extract_vmlinux BZIMAGE OUT: find the compressed payload inside a bzImage
# and decompress it to an ELF file that has a PVH entry note.
extract_vmlinux() {
    local img=$1 out=$2 tmp="$2.tmp.$$" magic tool off
    for magic in xz zstd gzip; do
        case $magic in
            xz)   tool="xz -dc";   command -v xz >/dev/null || continue
                  off=$(LC_ALL=C grep -abo $'\xfd7zXZ\x00' "$img" | head -n1 | cut -d: -f1) ;;
            zstd) tool="zstd -dcq"; command -v zstd >/dev/null || continue
                  off=$(LC_ALL=C grep -abo $'\x28\xb5\x2f\xfd' "$img" | head -n1 | cut -d: -f1) ;;
            gzip) tool="gzip -dc"; command -v gzip >/dev/null || continue
                  off=$(LC_ALL=C grep -abo $'\x1f\x8b\x08' "$img" | head -n1 | cut -d: -f1) ;;
        esac
        [ -n "$off" ] || continue
        # Trailing garbage after the stream makes the tools complain; the
        # decompressed prefix is complete, so ignore their status.
        tail -c +"$((off + 1))" "$img" | $tool >"$tmp" 2>/dev/null || true
        if [ "$(head -c 4 "$tmp" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] &&
            readelf -n "$tmp" 2>/dev/null | grep -qE 'Xen.*(0x00000012|PHYS32_ENTRY)'; then
            mv -f "$tmp" "$out"
            return 0
        fi
        rm -f "$tmp"
    done
    return 1
}

if [ -n "${HAKMEM_VM_KERNEL:-}" ]; then
    [ -r "$HAKMEM_VM_KERNEL" ] ||
        { vm_err "HAKMEM_VM_KERNEL=$HAKMEM_VM_KERNEL is not readable"; exit 1; }
    vm_log "using kernel $HAKMEM_VM_KERNEL"
    exit 0
fi

if [ "$refresh" = 1 ] || [ ! -s "$cache/vmlinuz" ]; then
    find_kernel_pkg() {
        apt-cache depends linux-image-amd64 2>/dev/null |
            awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
    }
    pkg=$(find_kernel_pkg || true)
    if [ -z "$pkg" ]; then
        vm_apt_update || true
        pkg=$(find_kernel_pkg || true)
    fi
    if [ -z "$pkg" ]; then
        # No metapackage: take the newest versioned amd64 image.
        pkg=$(apt-cache search --names-only '^linux-image-[0-9][0-9.]*-[0-9]+-amd64$' 2>/dev/null |
            awk '{ print $1 }' | sort -V | tail -n1 || true)
    fi
    if [ -z "$pkg" ]; then
        vm_err "cannot find a Debian linux-image package (apt-cache knows none)"
        exit "$VM_EXIT_SKIP"
    fi
    vm_log "downloading $pkg"
    dl=$(mktemp -d "$cache/dl.XXXXXX")
    trap 'rm -rf "$dl"' EXIT
    aptopt=()
    # As root, apt drops to the _apt user, which cannot write into $HOME.
    [ "$(id -u)" = 0 ] && aptopt=(-o APT::Sandbox::User=root)
    if ! (cd "$dl" && apt-get -q "${aptopt[@]}" download "$pkg" </dev/null >&2); then
        vm_apt_update || true
        if ! (cd "$dl" && apt-get -q "${aptopt[@]}" download "$pkg" </dev/null >&2); then
            vm_err "apt-get download $pkg failed"
            exit "$VM_EXIT_SKIP"
        fi
    fi
    deb=$(find "$dl" -maxdepth 1 -name '*.deb' | head -n1)
    [ -n "$deb" ] || { vm_err "no .deb downloaded"; exit "$VM_EXIT_SKIP"; }
    ver=$(dpkg-deb -f "$deb" Version)
    (cd "$dl" && dpkg-deb --fsys-tarfile "$deb" | tar -x --wildcards './boot/vmlinuz-*')
    img=$(find "$dl/boot" -maxdepth 1 -name 'vmlinuz-*' 2>/dev/null | head -n1)
    if [ -z "$img" ] || [ ! -s "$img" ]; then
        vm_err "$deb has no boot/vmlinuz-*"
        exit 1
    fi
    name=${img##*/}
    mv -f "$img" "$cache/$name"
    ln -sfn "$name" "$cache/vmlinuz"
    rm -f "$cache/vmlinux"
    printf 'package=%s\nversion=%s\nimage=%s\n' "$pkg" "$ver" "$name" >"$cache/kernel.txt"
    # Drop images of older kernels.
    for old in "$cache"/vmlinuz-*; do
        [ "$old" = "$cache/$name" ] || rm -f "$old"
    done
    rm -rf "$dl"
    trap - EXIT
    vm_log "kernel: $cache/$name ($pkg $ver)"
fi

if [ ! -s "$cache/vmlinux" ] && command -v readelf >/dev/null 2>&1; then
    if extract_vmlinux "$cache/vmlinuz" "$cache/vmlinux"; then
        vm_log "decompressed kernel: $cache/vmlinux (PVH boot)"
    else
        vm_warn "could not decompress $cache/vmlinuz; booting it compressed (slower)"
    fi
fi
exit 0
