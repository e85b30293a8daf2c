#!/bin/sh
# Run a command without network access, proven by the kernel rather than by a patch:
#   scripts/offline.sh CMD [ARG...]
# Where the machine allows it (root and `unshare -n`), CMD runs in a fresh network namespace
# whose only interface is loopback (brought up first: Jupyter kernels talk over it), so no
# packet can leave. Elsewhere CMD runs directly, with a note; the notebooks' in-process socket
# guard (visrec_book.netguard) still applies there.
if [ "$#" -eq 0 ]; then
    echo "usage: scripts/offline.sh CMD [ARG...]" >&2
    exit 2
fi
if [ "${VISREC_OFFLINE_NETNS:-}" = 1 ]; then
    exec "$@"  # already inside a namespace made by this script
fi
if command -v unshare >/dev/null 2>&1 && command -v ip >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
    echo "offline.sh: running in a network namespace with loopback only (unshare -n)" >&2
    exec unshare -n sh -c 'ip link set lo up && VISREC_OFFLINE_NETNS=1 exec "$@"' offline.sh "$@"
fi
echo "offline.sh: no network namespace here (needs root, unshare and ip); running with network," \
     "the notebooks' socket guard still blocks downloads" >&2
exec "$@"
