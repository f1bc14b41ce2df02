# shellcheck shell=bash disable=SC2034
# test/numa/vm-common.sh: helpers shared by vm-setup.sh, vm-run.sh and
# vm-selftest.sh.  Sourced, never run.  bash only.
#
# Environment (all optional):
#   HAKMEM_VM_CACHE   cache directory for the guest kernel
#                     (default: ${XDG_CACHE_HOME:-$HOME/.cache}/hakmem-vm)
#   HAKMEM_VM_KERNEL  use this kernel image instead of the cached Debian one
#                     (bzImage, or an uncompressed ELF vmlinux with a PVH note)
#   HAKMEM_VM_QUIET   1: vm_log prints nothing

# Exit codes used by the vm-* scripts.
VM_EXIT_SKIP=77      # prerequisites cannot be had (no registry, no qemu)
VM_EXIT_TIMEOUT=124  # guest timed out or died without reporting an exit code
VM_EXIT_ERROR=125    # usage error or host-side failure

vm_prog=${0##*/}

vm_log() {
    [ "${HAKMEM_VM_QUIET:-0}" = 1 ] && return 0
    printf '%s: %s\n' "$vm_prog" "$*" >&2
}
vm_warn() { printf '%s: warning: %s\n' "$vm_prog" "$*" >&2; }
vm_err() { printf '%s: error: %s\n' "$vm_prog" "$*" >&2; }

vm_cache_dir() {
    if [ -n "${HAKMEM_VM_CACHE:-}" ]; then
        printf '%s\n' "$HAKMEM_VM_CACHE"
    else
        printf '%s\n' "${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/hakmem-vm"
    fi
}

# Run a command as root: directly when we are root, otherwise through
# non-interactive sudo (never prompts; fails when a password is needed).
vm_as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n -- "$@"
    else
        vm_err "not root and no sudo: cannot run: $*"
        return 1
    fi
}

vm_apt_updated=0
vm_apt_update() {
    [ "$vm_apt_updated" = 1 ] && return 0
    vm_log "apt-get update"
    if vm_as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -q -o Dpkg::Use-Pty=0 update </dev/null >&2; then
        vm_apt_updated=1
        return 0
    fi
    return 1
}

# vm_apt_install PKG...: install the packages that are not installed yet.
# Returns non-zero when apt-get cannot install them.
vm_apt_install() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
            missing+=("$p")
        fi
    done
    [ "${#missing[@]}" = 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        vm_err "apt-get not found; install by hand: ${missing[*]}"
        return 1
    fi
    vm_log "installing: ${missing[*]}"
    # A first try without an update is enough on a machine with fresh lists;
    # otherwise update once and try again.
    if [ "$vm_apt_updated" = 0 ] &&
        vm_as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
            -o Dpkg::Use-Pty=0 --no-install-recommends install "${missing[@]}" \
            </dev/null >&2 2>/dev/null; then
        return 0
    fi
    vm_apt_update || return 1
    vm_as_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
        -o Dpkg::Use-Pty=0 --no-install-recommends install "${missing[@]}" \
        </dev/null >&2
}

# Print the kernel image vm-run.sh should boot, or nothing.
# Prefers the pre-decompressed ELF vmlinux (PVH boot: about 2.5 s faster
# under TCG than letting the kernel decompress itself).
vm_kernel_path() {
    local c
    if [ -n "${HAKMEM_VM_KERNEL:-}" ]; then
        [ -r "$HAKMEM_VM_KERNEL" ] && printf '%s\n' "$HAKMEM_VM_KERNEL"
        return 0
    fi
    c=$(vm_cache_dir)
    if [ "${HAKMEM_VM_NO_PVH:-0}" != 1 ] && [ -s "$c/vmlinux" ]; then
        printf '%s\n' "$c/vmlinux"
    elif [ -s "$c/vmlinuz" ]; then
        printf '%s\n' "$c/vmlinuz"
    fi
}
