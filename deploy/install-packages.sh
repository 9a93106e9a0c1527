#!/usr/bin/env bash
# Installs the Debian packages of deploy/debian-packages.txt that are missing. Runs
# `apt-get update` only when something is missing, so a second run does nothing.
set -uo pipefail
list=$(dirname "${BASH_SOURCE[0]}")/debian-packages.txt
missing=()
while read -r p; do
    [[ -z $p || $p == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done <"$list"
((${#missing[@]} == 0)) && exit 0
echo "installing: ${missing[*]}"
sudo=()
((EUID != 0)) && sudo=(sudo -n)
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}"
