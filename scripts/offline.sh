#!/bin/sh
# Run a command without network access, proven by the kernel rather than by a patch:
#   scripts/offline.sh CMD [ARG...]
# The script decides for itself where it runs; no variable inherited from the environment can
# vouch for it. It reads this process's own view of the network (/proc/self/net/dev lists the
# interfaces of the current network namespace):
# - only loopback there: the process is already isolated; CMD runs directly.
# - other interfaces, and the machine allows it (root, `unshare -n`, `ip`): CMD runs in a fresh
#   network namespace whose only interface is loopback (brought up first: Jupyter kernels talk
#   over it), checked again from inside before CMD starts, so no packet can leave.
# - otherwise: a loud warning that the run is NOT isolated, then CMD runs with the network;
#   only the notebooks' in-process socket guard (visrec_book.netguard) still applies.
# Only shell built-ins do the check, so it works with any PATH.
if [ "$#" -eq 0 ]; then
    echo "usage: scripts/offline.sh CMD [ARG...]" >&2
    exit 2
fi
ONLY_LOOPBACK='only_loopback() {
    [ -r /proc/self/net/dev ] || return 1
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        [ "$n" -le 2 ] && continue
        name=${line%%:*}
        name=${name#"${name%%[! ]*}"}
        [ "$name" = lo ] || return 1
    done < /proc/self/net/dev
    [ "$n" -gt 2 ]
}'
eval "$ONLY_LOOPBACK"
if only_loopback; then
    echo "offline.sh: this process's network namespace has loopback only (/proc/self/net/dev); running" >&2
    exec "$@"
fi
if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    echo "offline.sh: running in a network namespace with loopback only (unshare -n)" >&2
    exec unshare -n sh -c "$ONLY_LOOPBACK"'
        only_loopback || { echo "offline.sh: the new namespace still has other interfaces; refusing" >&2; exit 97; }
        ip link set lo up && exec "$@"' offline.sh "$@"
fi
{
    echo "offline.sh: ***************************************************************************"
    echo "offline.sh: WARNING: NOT ISOLATED. No network namespace here (needs root, unshare and ip),"
    echo "offline.sh: and this process sees network interfaces other than loopback. The command runs"
    echo "offline.sh: WITH network access; only the notebooks' socket guard still blocks downloads."
    echo "offline.sh: ***************************************************************************"
} >&2
exec "$@"
