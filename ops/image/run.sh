#!/usr/bin/env bash
# Runs the image archive made by ops/image/build.sh without a container runtime (none can start here): the archive's
# layers are unpacked into a root filesystem (umoci unpack, which applies the manifest's layers in order), and the
# image's entrypoint runs in it under chroot, as the image's user, with the image's environment and working directory
# only (env -i), in a private mount namespace that has /proc, /dev and a fresh /tmp.
#   ops/image/run.sh [ARCHIVE] [-- ARGS...]    ARGS replace the image's Cmd (default: --help)
# Needs root (chroot, mounts) and umoci. The unpacked tree is kept in target/image/rootfs-<digest> for reruns.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
archive="$root/target/image/dice-cluster-0.1.0.oci.tar"
if [ $# -gt 0 ] && [ "$1" != "--" ]; then archive="$1"; shift; fi
[ "${1:-}" = "--" ] && shift
[ -f "$archive" ] || { echo "run: no image archive at $archive (build it with ops/image/build.sh)" >&2; exit 2; }
tag="0.1.0"
work="$(dirname "$archive")/unpacked"
rm -rf "$work" && mkdir -p "$work/layout"
tar -xf "$archive" -C "$work/layout"
umoci unpack --image "$work/layout:$tag" "$work/bundle" >/dev/null
rm -rf "$work/layout"
# The runtime config umoci derives from the image config: args (entrypoint + cmd), env, cwd, user.
spec="$work/bundle/config.json"
mapfile -t args < <(python3 -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["process"]["args"]]' "$spec")
mapfile -t envs < <(python3 -c 'import json,sys; [print(e) for e in json.load(open(sys.argv[1]))["process"]["env"]]' "$spec")
cwd="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["process"]["cwd"])' "$spec")"
user="$(python3 -c 'import json,sys; u=json.load(open(sys.argv[1]))["process"]["user"]; print(str(u["uid"]) + ":" + str(u["gid"]))' "$spec")"
if [ $# -gt 0 ]; then   # the image's Cmd replaced, as `docker run IMAGE ARGS` does: entrypoint kept
  args=("${args[0]}" "$@")
fi
rootfs="$work/bundle/rootfs"
echo "run: chroot $rootfs as $user in $cwd: ${args[*]}" >&2
exec unshare --mount --propagation private -- /bin/sh -c '
  rootfs="$1"; shift
  mount -t proc proc "$rootfs/proc"
  mount --rbind /dev "$rootfs/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$rootfs/tmp"
  exec "$@"' sh "$rootfs" \
  chroot --userspec="$user" "$rootfs" /usr/bin/env -i "${envs[@]}" /bin/sh -c 'cd "$0" && exec "$@"' "$cwd" "${args[@]}"
