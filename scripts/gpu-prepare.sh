#!/usr/bin/env bash
# Fills .gpu-deps/ (ignored by git) with what scripts/gpu-check.sh needs on a lent GPU machine that has no
# network and no Debian packages: the .deb files of Eigen, doctest, cxxopts, stb and zlib (unpacked there
# with dpkg -x into .gpu-deps/root, never into /) and the Fashion-MNIST files (both splits). Runs HERE, on this
# Debian machine, before the device call; idempotent. Then: run scripts/gpu-check.sh on the device with
# .gpu-deps carried (the exact call is at the top of scripts/gpu-check.sh).
# Usage: scripts/gpu-prepare.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
deps=.gpu-deps
# The build's dependencies (what scripts/setup.sh installs here), with the runtime libraries the -dev
# packages' symlinks point at: libstb-dev's libstb.so -> libstb0's libstb.so.0.0, zlib1g-dev's libz.so -> zlib1g's.
packages=(libeigen3-dev doctest-dev libcxxopts-dev libstb-dev libstb0 zlib1g-dev zlib1g)
data_src=${DDPM_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
data_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
limit_mib=64  # what travels to the device machine: the working tree plus the carried paths

die() { echo "gpu-prepare: error: $*" >&2; exit 1; }
command -v apt-get >/dev/null || die "apt-get not found: run this on the Debian machine, not on the GPU machine"

mkdir -p "$deps/debs" "$deps/fashion-mnist" || die "cannot create $deps/"
# 1. The .debs, the versions apt would install here (the same that built and tested the project here).
for p in "${packages[@]}"; do
  if ls "$deps/debs/${p}_"*.deb >/dev/null 2>&1; then continue; fi
  if ! (cd "$deps/debs" && apt-get download -qq "$p" 2>/dev/null); then
    echo "gpu-prepare: apt-get download $p failed; running apt-get update once and retrying"
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$deps/debs" && apt-get download -qq "$p") || die "apt-get download $p failed"
  fi
done
# A package that vanished from the list above must not travel: keep exactly the listed ones.
for f in "$deps"/debs/*.deb; do
  name=$(basename "$f"); name=${name%%_*}
  printf '%s\n' "${packages[@]}" | grep -qx "$name" || rm -f "$f"
done
# 2. The data: Fashion-MNIST's images and labels, both splits (tools/train reads the training images, tools/eval
#    the test images, from DDPM_FASHION_MNIST_DIR, which gpu-check.sh points here).
for f in "${data_files[@]}"; do
  [ -f "$data_src/$f" ] || die "$data_src/$f not found (install dataset-fashion-mnist: scripts/setup.sh)"
  cmp -s "$data_src/$f" "$deps/fashion-mnist/$f" || cp "$data_src/$f" "$deps/fashion-mnist/$f" || die "cannot copy $f"
done
# 3. Which source this is, for the summary's header (the device's copy of the tree has no .git).
{
  echo "prepared: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown) ($(git log -1 --format=%s 2>/dev/null | cut -c1-80))"
  echo "uncommitted changes: $(git status --porcelain --untracked-files=no 2>/dev/null | wc -l) tracked files" \
       "($(git status --porcelain --untracked-files=no 2>/dev/null | awk '{ print $2 }' | head -20 | tr '\n' ' '))"
} >"$deps/source.txt"
# 4. What travels: the working tree (tracked and untracked files git does not ignore) plus .gpu-deps.
tree_bytes=$(git ls-files -co --exclude-standard -z | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
deps_bytes=$(du -sb "$deps" | cut -f1)
total=$(( ${tree_bytes:-0} + deps_bytes ))
echo "gpu-prepare: $deps/ holds $(ls "$deps"/debs/*.deb | wc -l) .debs and ${#data_files[@]} data files" \
     "($(( deps_bytes / 1024 / 1024 )) MiB); with the working tree ($(( ${tree_bytes:-0} / 1024 / 1024 )) MiB)" \
     "$(awk -v b="$total" 'BEGIN { printf "%.1f", b / 1048576 }') MiB travel (limit $limit_mib MiB)"
for f in "$deps"/debs/*.deb; do echo "  $(basename "$f")"; done
[ "$total" -lt $(( limit_mib * 1024 * 1024 )) ] || die "that is over the $limit_mib MiB the device call carries"
echo "gpu-prepare: ready; on the device: scripts/gpu-check.sh \$OUT/gpu-check, carrying .gpu-deps"
