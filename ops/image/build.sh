#!/usr/bin/env bash
# Builds the DICE node image as an OCI image archive, from Debian packages only (no registry pull):
#   layer 1  base:  Debian bookworm + openjdk-17-jre-headless + libgomp1, made by mmdebstrap, user dice (10001)
#   layer 2  deps:  third-party jars of coordinator/target/lib (pekko, grpc, DJL, the libtorch native jar, ...)
#   layer 3  app:   the project's jars (coordinator, actors, algo, ...) + the ./dice launcher (a code change ships
#                   only this layer)
# Output: target/image/dice-cluster-0.1.0.oci.tar (an OCI layout, tag 0.1.0); prints the manifest digest.
# The base layer is cached in target/image/base.tar (delete it to rebuild; DICE_IMAGE_REBUILD_BASE=1 does that).
# Needs root (mmdebstrap --mode=root) and the Debian packages mmdebstrap and umoci (and runc, for ops/image/run.sh),
# installed when absent.
# Load elsewhere with e.g. `skopeo copy oci-archive:target/image/dice-cluster-0.1.0.oci.tar docker-daemon:dice-cluster:0.1.0`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/target/image"
tag="0.1.0"
name="dice-cluster"
archive="$out/$name-$tag.oci.tar"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-1700000000}"   # fixed timestamps: the same inputs give the same digest
mkdir -p "$out"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v mmdebstrap >/dev/null || ! command -v umoci >/dev/null || ! command -v runc >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap umoci runc >/dev/null
fi
t0=$SECONDS

# ---- base layer --------------------------------------------------------------------------------------------
if [ ! -s "$out/base.tar" ] || [ -n "${DICE_IMAGE_REBUILD_BASE:-}" ]; then
  echo "image: base layer (mmdebstrap bookworm + openjdk-17-jre-headless) ..." >&2
  as_root mmdebstrap --mode=root --variant=essential --quiet \
    --include=openjdk-17-jre-headless,libgomp1 \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --setup-hook='mkdir -p "$1/usr/share/man/man1"' \
    --customize-hook='echo "dice:x:10001:10001:dice:/home/dice:/bin/bash" >> "$1/etc/passwd"' \
    --customize-hook='echo "dice:x:10001:" >> "$1/etc/group"' \
    --customize-hook='mkdir -p "$1/home/dice" "$1/var/lib/dice/runs" && chown 10001:10001 "$1/home/dice" "$1/var/lib/dice/runs"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*' \
    bookworm "$out/base.tmp.tar" \
    "deb http://deb.debian.org/debian bookworm main" "deb http://deb.debian.org/debian-security bookworm-security main"
  mv "$out/base.tmp.tar" "$out/base.tar"
  echo "image: base layer in $((SECONDS - t0)) s" >&2
fi

# ---- application layers ------------------------------------------------------------------------------------
jar="$root/coordinator/target/coordinator-0.1.0-SNAPSHOT.jar"
if [ ! -f "$jar" ] || [ ! -d "$root/coordinator/target/lib" ] || [ -z "${DICE_IMAGE_NO_BUILD:-}" ]; then
  echo "image: mvn package -pl coordinator -am ..." >&2
  (cd "$root" && mvn -B -q -DskipTests package -pl coordinator -am ${DICE_MVN_OPTS:-}) >&2
fi
stage="$(mktemp -d "$out/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
# The launcher finds the jar and lib/ where the repository's build puts them, and builds nothing when the stamp is
# there and no sources are: the image keeps the repository's layout under /opt/dice.
mkdir -p "$stage/deps/opt/dice/coordinator/target/lib" "$stage/app/opt/dice/coordinator/target/lib"
# Third-party jars in deps; the project's own modules (actors, algo, proto, ...) in app with the coordinator jar.
for f in "$root"/coordinator/target/lib/*.jar; do
  case "$(basename "$f")" in
    *-0.1.0-SNAPSHOT.jar) cp "$f" "$stage/app/opt/dice/coordinator/target/lib/" ;;
    *) cp "$f" "$stage/deps/opt/dice/coordinator/target/lib/" ;;
  esac
done
cp "$jar" "$stage/app/opt/dice/coordinator/target/"
cp "$root/dice" "$stage/app/opt/dice/dice"
chmod 0755 "$stage/app/opt/dice/dice"
touch "$stage/app/opt/dice/coordinator/target/lib/.built"
layer() {   # layer DIR TAR: a reproducible tar of DIR's contents, owned by root
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -C "$1" -cf "$2" .
}
layer "$stage/deps" "$stage/deps.tar"
layer "$stage/app" "$stage/app.tar"

# ---- OCI layout, config, archive ---------------------------------------------------------------------------
layout="$stage/layout"
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
created="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
for l in base deps app; do
  f="$stage/$l.tar"; [ "$l" = base ] && f="$out/base.tar"
  umoci raw add-layer --image "$layout:$tag" --history.created="$created" \
    --history.created_by="ops/image/build.sh: $l layer" "$f"
done
# Env mirrors what the launcher sets or needs: DJL offline (-Dai.djl.offline=true in the launcher), DJL's cache
# (where the libtorch native jar's library is unpacked) under /tmp, which a read-only root filesystem mounts.
umoci config --image "$layout:$tag" --no-history \
  --config.user=10001:10001 \
  --config.workingdir=/opt/dice \
  --config.entrypoint=/opt/dice/dice \
  --config.cmd=--help \
  --config.env=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.env=JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
  --config.env=HOME=/home/dice \
  --config.env=DJL_CACHE_DIR=/tmp/djl \
  --config.env=XDG_CACHE_HOME=/tmp/cache \
  --config.exposedports=25520/tcp --config.exposedports=7626/tcp --config.exposedports=9464/tcp \
  --config.volume=/var/lib/dice/runs \
  --created="$created" \
  --config.label=org.opencontainers.image.title=$name \
  --config.label=org.opencontainers.image.version=$tag
umoci gc --layout "$layout"
(cd "$layout" && find . -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} + \
  && tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner -cf "$archive.tmp" .)
mv "$archive.tmp" "$archive"
digest="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$layout/index.json")"
echo "$digest" > "$out/$name-$tag.digest"
echo "image: $archive ($(du -m "$archive" | cut -f1) MiB) in $((SECONDS - t0)) s" >&2
echo "$name:$tag@$digest"
