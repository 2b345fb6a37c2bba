#!/usr/bin/env bash
# Build a registry-free Debian base image from Debian packages only, for air-gapped sites and CI:
#   debootstrap --variant=minbase bookworm ROOTFS MIRROR | tar | podman import
# Usage: containers/base-image.sh [IMAGE_NAME]   (default localhost/segbook-base:bookworm)
# Environment: ENGINE (podman|docker, default podman), DEBIAN_MIRROR (default deb.debian.org;
#   a snapshot such as http://snapshot.debian.org/archive/debian/20250520T000000Z/ pins the bytes),
#   DEBIAN_SUITE (default bookworm), FORCE=1 rebuilds an existing image.
# Needs root (debootstrap) and the Debian packages debootstrap + podman (or docker).
set -euo pipefail

name=${1:-localhost/segbook-base:bookworm}
engine=${ENGINE:-podman}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${DEBIAN_SUITE:-bookworm}

if [[ ${FORCE:-0} != 1 ]] && "$engine" image inspect "$name" >/dev/null 2>&1; then
    echo "base-image: $name already exists (FORCE=1 rebuilds it)"
    exit 0
fi
for tool in debootstrap "$engine" tar; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "error: $tool not found" >&2
        echo "hint: apt-get install debootstrap podman (Debian packages)" >&2
        exit 78
    fi
done
if [[ $(id -u) != 0 ]]; then
    echo "error: debootstrap needs root" >&2
    echo "hint: run as root (sudo make base-image), or use the official base: make image BASE_IMAGE=..." >&2
    exit 78
fi

rootfs=$(mktemp -d /tmp/segbook-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
start=$(date +%s)
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror"
# no downloaded .debs or package lists in the image; apt-get update fetches fresh lists when needed
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/tmp/*
created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tar -C "$rootfs" --numeric-owner -c . | "$engine" import \
    --change 'CMD ["/bin/bash"]' \
    --change "LABEL org.opencontainers.image.title=segbook-base" \
    --change "LABEL org.opencontainers.image.description=debootstrap --variant=minbase $suite from $mirror" \
    --change "LABEL org.opencontainers.image.created=$created" \
    - "$name" >/dev/null
echo "base-image: built $name from $mirror ($suite, minbase) in $(($(date +%s) - start)) s"
