#!/usr/bin/env bash
# Runs the image archive made by ops/image/build.sh without a registry or a daemon: the archive's layers are unpacked
# into a root filesystem (umoci unpack, which applies the manifest's layers in order, and writes the runtime bundle's
# config.json from the image config). Then, where runc is installed (DICE_IMAGE_RUNTIME=runc|chroot chooses), runc
# runs the bundle as a container with a read-only root filesystem; otherwise the image's entrypoint runs under chroot,
# as the image's user, with the image's environment and working directory only (env -i), in a private mount namespace
# that has /proc, /dev and a fresh /tmp, and /etc/hosts written as a runtime would.
#   ops/image/run.sh [ARCHIVE] [-- ARGS...]    ARGS replace the image's Cmd (default: --help)
# Needs root (runc or chroot, mounts) and umoci. The bundle is left in target/image/unpacked/ to look at.
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
runtime="${DICE_IMAGE_RUNTIME:-$(command -v runc >/dev/null && echo runc || echo chroot)}"
if [ "$runtime" = runc ]; then
  # A container: runc runs the runtime bundle umoci made (pid, net, ipc, uts, mount namespaces), with a read-only
  # root filesystem, a tmpfs /tmp (DJL's libtorch cache, the JVM's temp files) and the run volume writable by the
  # image's user, as the manifests mount it.
  printf '127.0.0.1 localhost dice-0\n::1 localhost\n' > "$rootfs/etc/hosts"
  python3 - "$spec" "$user" "${args[@]}" <<'PY'
import json, sys
path, user, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["hostname"] = "dice-0"
c["root"]["readonly"] = True
keep = [m for m in c["mounts"] if m["destination"] not in ("/tmp", "/var/lib/dice/runs")]
uid, gid = user.split(":")
for d in ("/tmp", "/var/lib/dice/runs"):
    keep.append({"destination": d, "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "nodev", "mode=1777" if d == "/tmp" else "mode=0755,uid=%s,gid=%s" % (uid, gid)]})
c["mounts"] = keep
json.dump(c, open(path, "w"))
PY
  id="dice-image-$$"
  echo "run: runc (read-only root) $rootfs as $user in $cwd: ${args[*]}" >&2
  cd "$work/bundle"
  set +e
  runc run "$id"
  rc=$?
  runc delete -f "$id" >/dev/null 2>&1
  exit $rc
fi
# What a container runtime provides: /etc/hosts and /etc/hostname for this host (the JVM resolves its own name).
printf '127.0.0.1 localhost %s\n::1 localhost\n' "$(hostname)" > "$rootfs/etc/hosts"
hostname > "$rootfs/etc/hostname"
echo "run: chroot $rootfs as $user in $cwd: ${args[*]}" >&2
exec unshare --mount --propagation private -- /bin/sh -c '
  rootfs="$1"; shift
  mount -t proc proc "$rootfs/proc"
  mount --rbind /dev "$rootfs/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$rootfs/tmp"
  exec "$@"' sh "$rootfs" \
  chroot --userspec="$user" "$rootfs" /usr/bin/env -i "${envs[@]}" /bin/sh -c 'cd "$0" && exec "$@"' "$cwd" "${args[@]}"
