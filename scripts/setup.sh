#!/usr/bin/env bash
# Installs the Debian packages ddpmcpp needs to build, test and train. Idempotent and quiet when
# everything is already there. The CUDA toolkit is not installed here: the build uses nvcc from
# /usr/local/cuda when it exists and builds the CPU backend alone otherwise.
set -euo pipefail

packages=(cmake g++ make libeigen3-dev doctest-dev libcxxopts-dev libstb-dev zlib1g-dev dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
