#!/usr/bin/env bash
# test/numa/vm-run.sh: run a command inside a two-node NUMA virtual machine.
#
#   vm-run.sh [OPTIONS] [--] COMMAND [ARG]...
#
# Boots Debian's kernel under qemu-system-x86_64 with software emulation
# (TCG; KVM is not used) on this topology:
#
#   -M q35 -m 1G -smp 4,sockets=2,cores=2
#   node 0: CPUs 0-1, 512 MiB        node 1: CPUs 2-3, 512 MiB
#
# from an initramfs built for this run: busybox, numactl (+ numastat,
# migratepages, memhog, migspeed) with their libraries, the dynamic loader,
# libgcc_s, and every --file with, for ELF files, the libraries `ldd` lists,
# all at the same absolute paths as on the host.  COMMAND runs as root
# (argv as given, not through a shell: use `sh -c '...'` for that) with
# stdin from /dev/null and stdout+stderr on the second serial port, which
# this script copies to its own stdout as it arrives.  The guest then
# reports the exit code on the kernel console and powers off.
#
# Options:
#   --timeout S          give up after S seconds (boot included; default 300,
#                        or $HAKMEM_VM_TIMEOUT)
#   --file HOST[:GUEST]  copy a file or a directory (recursively) into the
#                        guest, at GUEST or else at the absolute HOST path.
#                        ELF executables and shared objects get the
#                        libraries ldd lists; scripts get their #! program
#                        when it is an ELF binary (e.g. bash for libtool
#                        wrappers).  Repeatable.
#   --env NAME=VALUE     set a variable for COMMAND (e.g. LD_PRELOAD=...).
#                        Repeatable.
#   --cwd DIR            guest working directory for COMMAND (default /)
#   --append ARGS        extra kernel command-line arguments
#   --console FILE       save the guest's kernel console log to FILE
#   -v, --verbose        progress and the kernel console on stderr
#   -h, --help           this text
#
# Exit status: COMMAND's exit status; 124 when the guest did not report one
# (timeout, kernel panic, qemu died); 125 on a usage or host-side error;
# 77 when vm-setup.sh cannot get qemu or the kernel (so an automake
# LOG_COMPILER using this script turns into SKIP on such machines).
#
# Environment: HAKMEM_VM_CACHE (see vm-setup.sh), HAKMEM_VM_KERNEL,
# HAKMEM_VM_TIMEOUT, HAKMEM_VM_CPU (qemu -cpu model, default max),
# HAKMEM_VM_QEMU_ARGS (extra qemu arguments, split on spaces), TMPDIR.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=vm-common.sh
. "$here/vm-common.sh"

usage() { sed -n '/^# test\/numa/,/^set -/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { vm_err "$*"; exit "$VM_EXIT_ERROR"; }

timeout_s=${HAKMEM_VM_TIMEOUT:-300}
files=()
envs=()
cwd=/
append=
console_out=
verbose=0
while [ $# -gt 0 ]; do
    case $1 in
        --timeout) [ $# -ge 2 ] || die "--timeout needs a value"; timeout_s=$2; shift 2 ;;
        --timeout=*) timeout_s=${1#*=}; shift ;;
        --file) [ $# -ge 2 ] || die "--file needs a path"; files+=("$2"); shift 2 ;;
        --file=*) files+=("${1#*=}"); shift ;;
        --env) [ $# -ge 2 ] || die "--env needs NAME=VALUE"; envs+=("$2"); shift 2 ;;
        --env=*) envs+=("${1#*=}"); shift ;;
        --cwd) [ $# -ge 2 ] || die "--cwd needs a directory"; cwd=$2; shift 2 ;;
        --cwd=*) cwd=${1#*=}; shift ;;
        --append) [ $# -ge 2 ] || die "--append needs arguments"; append="$append $2"; shift 2 ;;
        --append=*) append="$append ${1#*=}"; shift ;;
        --console) [ $# -ge 2 ] || die "--console needs a file"; console_out=$2; shift 2 ;;
        --console=*) console_out=${1#*=}; shift ;;
        -v|--verbose) verbose=1; shift ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) die "unknown option: $1 (see --help)" ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || die "no command given (usage: vm-run.sh [OPTIONS] -- COMMAND...)"
case $timeout_s in ''|*[!0-9]*) die "--timeout wants whole seconds, not '$timeout_s'" ;; esac
[ "$timeout_s" -gt 0 ] || die "--timeout must be positive"
case $cwd in /*) ;; *) die "--cwd wants an absolute guest path" ;; esac
for e in "${envs[@]}"; do
    [[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || die "--env wants NAME=VALUE, not '$e'"
done
[ "$verbose" = 1 ] || export HAKMEM_VM_QUIET=1

t_start=$(date +%s.%N)

# ------------------------------------------------------------------ setup
kernel=$(vm_kernel_path)
if [ -z "$kernel" ] || ! command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    ! command -v busybox >/dev/null 2>&1 || ! command -v cpio >/dev/null 2>&1 ||
    ! command -v numactl >/dev/null 2>&1; then
    "$here/vm-setup.sh"
    rc=$?
    if [ "$rc" != 0 ]; then
        vm_err "vm-setup.sh failed (exit $rc)"
        [ "$rc" = "$VM_EXIT_SKIP" ] && exit "$VM_EXIT_SKIP"
        exit "$VM_EXIT_ERROR"
    fi
    kernel=$(vm_kernel_path)
    [ -n "$kernel" ] || die "no kernel after vm-setup.sh"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hakmem-vm.XXXXXX") || die "mktemp failed"
work=$(realpath -- "$work")
qpid=
tailpid=
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill -TERM "$qpid" 2>/dev/null
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            kill -0 "$qpid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$qpid" 2>/dev/null
        wait "$qpid" 2>/dev/null
    fi
    if [ -n "$tailpid" ]; then
        kill "$tailpid" 2>/dev/null
        wait "$tailpid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

root=$work/root
mkdir -p "$root"/{.vm/bin,proc,sys,dev,tmp,run,root,etc} || die "cannot create $root"

# ------------------------------------------------- staging into the guest
# The guest's directory layout mirrors the host's: a directory that is a
# symlink on the host (/lib -> usr/lib on merged-/usr systems) is the same
# symlink in the guest.  Symlinks are written relative, so that following
# them on the host while staging never leaves $root.

declare -A staged=()      # guest path -> 1
declare -A elf_seen=()    # host path of an ELF file to run ldd on -> 1
elf_list=()
interp_list=()

# lexically normalised absolute path (no symlinks resolved)
abspath() { realpath -m -s -- "$1"; }

# guest_ln TARGET LINK: create symlink LINK (guest path) -> TARGET
guest_ln() {
    local target=$1 link=$2 dir phys
    # relative to the directory the link physically lands in (its parent
    # may itself be a staged symlink, e.g. /bin -> usr/bin)
    dir=$(dirname "$link")
    phys=$(realpath -m -- "$root$dir")
    case $phys in
        "$root") phys=/ ;;
        "$root"/*) phys=${phys#"$root"} ;;
        *) phys=$dir ;;
    esac
    case $target in
        /*) target=$(realpath -m -s --relative-to="$phys" -- "$target") ;;
    esac
    rm -rf -- "$root$link"
    ln -s -- "$target" "$root$link"
}

# stage_dir DIR: make guest directory DIR, mirroring host symlinks.
stage_dir() {
    local d cur='' comp t abs
    d=$(abspath "$1")
    [ "$d" = / ] && return 0
    local -a comps
    IFS=/ read -r -a comps <<<"${d#/}"
    for comp in "${comps[@]}"; do
        [ -n "$comp" ] || continue
        cur="$cur/$comp"
        if [ -L "$root$cur" ] || [ -d "$root$cur" ]; then
            continue
        fi
        if [ -L "$cur" ]; then
            t=$(readlink -- "$cur")
            case $t in /*) abs=$(abspath "$t") ;; *) abs=$(abspath "$(dirname "$cur")/$t") ;; esac
            stage_dir "$abs"
            guest_ln "$abs" "$cur"
        else
            mkdir -p -- "$root$cur" || die "cannot create guest directory $cur"
        fi
    done
}

# elf_kind FILE: prints "dyn" for ELF executables/shared objects,
# "script" for #! files, nothing otherwise
elf_kind() {
    local h
    h=$(od -An -tx1 -N18 -- "$1" 2>/dev/null | tr -d ' \n')
    if [ "${h:0:8}" = 7f454c46 ]; then
        # e_type (offset 16): 2 = executable, 3 = shared object / PIE
        case ${h:32:2} in 02|03) echo dyn ;; esac
    elif [ "${h:0:4}" = 2321 ]; then
        echo script
    fi
}

# note_file HOSTPATH: remember what a staged regular file needs
note_file() {
    local f=$1 line interp
    case $(elf_kind "$f") in
        dyn)
            if [ -z "${elf_seen[$f]+x}" ]; then
                elf_seen[$f]=1
                elf_list+=("$f")
            fi ;;
        script)
            IFS= read -r line <"$f" || true
            line=${line#\#!}
            read -r interp line <<<"$line"
            if [ "$interp" = /usr/bin/env ] || [ "$interp" = /bin/env ]; then
                read -r interp _ <<<"$line"
                case $interp in -*|'') return 0 ;; esac
                interp=$(command -v -- "$interp" 2>/dev/null) || return 0
            fi
            case $interp in /*) interp_list+=("$interp") ;; esac ;;
    esac
}

# stage_mirror PATH: copy host file PATH to the same guest path, keeping
# symlinks as symlinks (and staging their targets)
stage_mirror() {
    local p t abs
    p=$(abspath "$1")
    [ -n "${staged[$p]+x}" ] && return 0
    staged[$p]=1
    [ -e "$p" ] || { vm_warn "not found on the host: $p"; return 0; }
    stage_dir "$(dirname "$p")"
    if [ -L "$p" ]; then
        t=$(readlink -- "$p")
        case $t in /*) abs=$(abspath "$t") ;; *) abs=$(abspath "$(dirname "$p")/$t") ;; esac
        guest_ln "$abs" "$p"
        stage_mirror "$abs"
    elif [ -d "$p" ]; then
        stage_tree "$p" "$p"
    else
        rm -f -- "$root$p"
        cp -L --preserve=mode,timestamps -- "$p" "$root$p" || die "cannot copy $p"
        note_file "$p"
    fi
}

# stage_tree HOSTDIR GUESTDIR: recursive copy (symlinks kept as they are)
stage_tree() {
    local src=$1 dst=$2 f
    stage_dir "$dst"
    cp -a --no-preserve=ownership -- "$src/." "$root$dst/" || die "cannot copy $src"
    if command -v perl >/dev/null 2>&1; then
        # one process for the whole tree (perl-base is Essential on Debian):
        # print the ELF executables/shared objects and the #! scripts
        while IFS= read -r -d '' f; do
            note_file "$f"
        done < <(find "$src" -type f -size +3c -print0 | perl -0 -ne '
            chomp; open(my $fh, "<", $_) or next; my $h = "";
            read($fh, $h, 18);
            if (substr($h, 0, 4) eq "\x7fELF" && length($h) == 18) {
                my $t = unpack("v", substr($h, 16, 2));
                print "$_\0" if $t == 2 || $t == 3;
            } elsif (substr($h, 0, 2) eq "#!") { print "$_\0" }')
    else
        while IFS= read -r -d '' f; do
            note_file "$f"
        done < <(find "$src" -type f -size +3c -print0)
    fi
}

# stage_user HOST[:GUEST]
stage_user() {
    local spec=$1 src dst
    src=$spec dst=
    if [[ $spec == *:/* ]]; then
        src=${spec%:/*}
        dst=/${spec##*:/}
        # a host path that itself contains ":/": take it whole
        if [ ! -e "$src" ] && [ -e "$spec" ]; then src=$spec dst=; fi
    fi
    [ -e "$src" ] || die "--file: no such file or directory: $src"
    src=$(abspath "$src")
    [ -n "$dst" ] || dst=$src
    dst=$(abspath "$dst")
    [ "$dst" != / ] || die "--file: cannot copy onto the guest's /"
    case $dst in
        /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/.vm|/.vm/*|/init)
            die "--file: guest path $dst is reserved" ;;
    esac
    if [ -d "$src" ]; then
        stage_tree "$src" "$dst"
    else
        stage_dir "$(dirname "$dst")"
        rm -rf -- "$root$dst"
        cp -L --preserve=mode,timestamps -- "$src" "$root$dst" || die "cannot copy $src"
        staged[$dst]=1
        note_file "$src"
    fi
    [ "$verbose" = 1 ] && vm_log "staged $src -> $dst"
    return 0
}

# busybox (its applets are linked into /.vm/bin by /init), with /bin/sh
# and /usr/bin/env pointing at it unless a --file replaces them.
bb=$(command -v busybox)
cp -L -- "$bb" "$root/.vm/bin/busybox" || die "cannot copy $bb"
chmod 755 "$root/.vm/bin/busybox"
note_file "$bb"
stage_dir /bin
guest_ln /.vm/bin/busybox /bin/sh
stage_dir /usr/bin
stage_dir /sbin
stage_dir /usr/sbin
[ -L "$root/usr/bin/env" ] || [ -e "$root/usr/bin/env" ] || guest_ln /.vm/bin/busybox /usr/bin/env

# numactl and friends
for t in numactl numastat migratepages migspeed memhog; do
    p=$(command -v "$t" 2>/dev/null) || continue
    [ "$(elf_kind "$p")" = dyn ] && stage_mirror "$p"
done
# the dynamic loader and libgcc_s (glibc dlopens it for pthread_cancel and
# unwinding, so ldd does not list it)
[ -e /lib64/ld-linux-x86-64.so.2 ] && stage_mirror /lib64/ld-linux-x86-64.so.2
ldc=$(command -v ldconfig 2>/dev/null || echo /sbin/ldconfig)
p=$("$ldc" -p 2>/dev/null | awk '/libgcc_s\.so\.1 \(libc6,x86-64\)/ { print $NF; exit }')
[ -n "$p" ] && stage_mirror "$p"

for spec in "${files[@]}"; do
    stage_user "$spec"
done

# #! interpreters that are ELF binaries on the host
for p in "${interp_list[@]}"; do
    [ -L "$root$p" ] || [ -e "$root$p" ] && continue
    [ "$(elf_kind "$p")" = dyn ] && stage_mirror "$p"
done

# libraries of every ELF file (ldd lists them transitively)
declare -A missing_libs=()
i=0
while [ "$i" -lt "${#elf_list[@]}" ]; do
    f=${elf_list[$i]}
    i=$((i + 1))
    while IFS= read -r line; do
        case $line in
            *"=> not found"*)
                l=${line%% =>*}; l=${l//[[:space:]]/}
                missing_libs[$l]=1 ;;
            *"=> /"*)
                p=${line#*=> }; p=${p%% (*}
                stage_mirror "$p" ;;
            [[:space:]]/*|/*)
                p=${line#"${line%%[![:space:]]*}"}; p=${p%% (*}
                stage_mirror "$p" ;;
        esac
    done < <(ldd -- "$f" 2>/dev/null)
done
for l in "${!missing_libs[@]}"; do
    if [ -z "$(find "$root" -name "$l" -print -quit 2>/dev/null)" ]; then
        vm_warn "ldd found no '$l' on the host and no --file provides it"
    fi
done

# minimal /etc
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"
printf 'hakmem-vm\n' >"$root/etc/hostname"

# ------------------------------------------------------------ guest /init
nonce=$(od -An -tx4 -N4 /dev/urandom | tr -d ' \n')
marker="HAKMEM-VM-EXIT-$nonce"

shq() { local s=$1; printf "'%s'" "${s//\'/\'\\\'\'}"; }

{
    printf 'cd %s || { echo %s >&2; exit 125; }\n' \
        "$(shq "$cwd")" "$(shq "vm-run: guest: cannot cd to $cwd")"
    for e in "${envs[@]}"; do
        printf 'export %s\n' "$(shq "$e")"
    done
    printf 'exec'
    for a in "$@"; do printf ' %s' "$(shq "$a")"; done
    printf '\n'
} >"$root/.vm/cmd"

cat >"$root/init" <<EOF
#!/.vm/bin/busybox sh
/.vm/bin/busybox --install -s /.vm/bin
# also at their usual paths (/bin/sed, /usr/bin/awk, ...) where no --file put
# a real program: scripts such as libtool wrappers name them absolutely
/.vm/bin/busybox --install -s >/dev/null 2>&1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/.vm/bin
export HOME=/root TMPDIR=/tmp TERM=dumb LANG=C
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/shm /dev/pts /dev/hugepages
# / is the initramfs (tmpfs, in RAM): /tmp and /run stay on it, since
# --file may have put things there
chmod 1777 /tmp
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t hugetlbfs hugetlbfs /dev/hugepages 2>/dev/null
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
[ -e /dev/stdin ] || ln -s /proc/self/fd/0 /dev/stdin
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
[ -e /dev/stderr ] || ln -s /proc/self/fd/2 /dev/stderr
hostname hakmem-vm
ip link set lo up 2>/dev/null
stty -F /dev/ttyS1 raw -echo 2>/dev/null
/.vm/bin/busybox sh /.vm/cmd </dev/null >/dev/ttyS1 2>&1
rc=\$?
# setting the line again waits until everything written has left the UART
stty -F /dev/ttyS1 raw -echo 2>/dev/null
echo "<2>$marker: \$rc" >/dev/kmsg
poweroff -f
sleep 5
echo o >/proc/sysrq-trigger
EOF
chmod 755 "$root/init"

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
    cpio --null -o -H newc -R 0:0 --quiet) >"$work/initramfs.cpio" ||
    die "cpio failed"
isize=$(stat -c %s "$work/initramfs.cpio")
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
[ "$verbose" = 1 ] &&
    vm_log "initramfs: $((isize / 1024)) KiB, ${#elf_list[@]} ELF files, ready after $(since "$t_start") s"
if [ "$isize" -gt $((300 * 1024 * 1024)) ]; then
    vm_warn "initramfs is $((isize >> 20)) MiB; the guest has 1 GiB of RAM for it and the tests"
fi

# ------------------------------------------------------------------- boot
cmdline="console=ttyS0 quiet panic=-1 numa_balancing=disable mitigations=off"
cmdline="$cmdline tsc=reliable printk.devkmsg=on rdinit=/init$append"
: >"$work/console.log"
: >"$work/output.log"
# shellcheck disable=SC2054  # commas belong to qemu's option syntax
qemu=(qemu-system-x86_64
    -name hakmem-numa-vm
    -accel tcg,thread=multi
    -cpu "${HAKMEM_VM_CPU:-max}"
    -M q35 -m 1G -smp 4,sockets=2,cores=2
    -object memory-backend-ram,id=mem0,size=512M
    -object memory-backend-ram,id=mem1,size=512M
    -numa node,nodeid=0,cpus=0-1,memdev=mem0
    -numa node,nodeid=1,cpus=2-3,memdev=mem1
    -kernel "$kernel" -initrd "$work/initramfs.cpio" -append "$cmdline"
    -nodefaults -no-user-config -display none -no-reboot
    -chardev "file,id=con,path=$work/console.log" -serial chardev:con
    -chardev "file,id=out,path=$work/output.log" -serial chardev:out)
# shellcheck disable=SC2206
[ -n "${HAKMEM_VM_QEMU_ARGS:-}" ] && qemu+=($HAKMEM_VM_QEMU_ARGS)
[ "$verbose" = 1 ] && vm_log "kernel: $kernel" && vm_log "qemu: ${qemu[*]}"

# qemu dies with this script even when it is SIGKILLed (no leftover VM).
pdeath=()
setpriv --help 2>/dev/null | grep -q -- --pdeathsig && pdeath=(setpriv --pdeathsig KILL --)
"${pdeath[@]}" "${qemu[@]}" </dev/null >"$work/qemu.log" 2>&1 &
qpid=$!
# Stream the command's output as it arrives.
"${pdeath[@]}" tail -n +1 -s 0.2 -f --pid="$qpid" "$work/output.log" &
tailpid=$!

alive() {
    kill -0 "$qpid" 2>/dev/null || return 1
    # a zombie counts as dead
    [ "$(sed 's/^.*) \(.\).*/\1/' "/proc/$qpid/stat" 2>/dev/null)" != Z ]
}
got_rc() { sed -n "s/.*$marker: \([0-9][0-9]*\).*/\1/p" "$work/console.log" | head -n1; }

deadline=$(( $(date +%s) + timeout_s ))
rc=
timed_out=0
while alive; do
    rc=$(got_rc)
    [ -n "$rc" ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
        timed_out=1
        break
    fi
    sleep 0.1
done
if [ -n "$rc" ]; then
    # the guest is powering off; give it a moment, then make sure
    for _ in $(seq 50); do alive || break; sleep 0.1; done
fi
if alive; then
    kill -TERM "$qpid" 2>/dev/null
    for _ in $(seq 20); do alive || break; sleep 0.1; done
    kill -KILL "$qpid" 2>/dev/null
fi
wait "$qpid" 2>/dev/null
qrc=$?
qpid=
wait "$tailpid" 2>/dev/null
tailpid=
[ -n "$rc" ] || rc=$(got_rc)
[ "$verbose" = 1 ] && vm_log "qemu exited (status $qrc) after $(since "$t_start") s"

t_end=$(date +%s.%N)
elapsed=$(awk -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", b - a }')

if [ -n "$console_out" ]; then
    cp -- "$work/console.log" "$console_out" || vm_warn "cannot write $console_out"
fi
if [ "$verbose" = 1 ]; then
    {
        echo "---- guest kernel console ----"
        tr -d '\r' <"$work/console.log"
        echo "---- end of console ----"
    } >&2
fi
if [ -n "$rc" ]; then
    [ "$verbose" = 1 ] && vm_log "exit status $rc (${elapsed} s in all)"
    exit "$rc"
fi
if [ "$timed_out" = 1 ]; then
    vm_err "timed out after ${timeout_s} s; guest killed"
else
    vm_err "the guest stopped without reporting an exit status (qemu exit $qrc)"
fi
if [ "$verbose" != 1 ]; then
    {
        echo "---- last lines of the guest kernel console ----"
        tr -d '\r' <"$work/console.log" | tail -n 30
        [ -s "$work/qemu.log" ] && { echo "---- qemu ----"; tail -n 20 "$work/qemu.log"; }
    } >&2
fi
exit "$VM_EXIT_TIMEOUT"
