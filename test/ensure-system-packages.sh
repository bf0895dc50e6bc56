#!/usr/bin/env bash
# The tests talk to real foreign peers from Debian's packages. Installs them when missing
# (as root, non-interactive), otherwise says exactly what to install.
set -euo pipefail
PACKAGES=(mosquitto mosquitto-clients glpk-utils victoria-metrics openssl chromium)
COMMANDS=(mosquitto mosquitto_pub glpsol victoria-metrics openssl chromium)
missing=()
for i in "${!COMMANDS[@]}"; do
  command -v "${COMMANDS[$i]}" >/dev/null 2>&1 || [ -x "/usr/sbin/${COMMANDS[$i]}" ] || [ -x "/usr/bin/${COMMANDS[$i]}" ] || missing+=("${PACKAGES[$i]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages the tests need: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "the tests need these Debian packages: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
