#!/usr/bin/env bash
# Prints the first Debian mirror of this machine's apt sources (deb822 *.sources files or the
# one-line sources.list, whichever exist), else Debian's own. ETC_APT: /etc/apt by default.
set -euo pipefail
etc="${1:-/etc/apt}"
files=()
for f in "$etc"/sources.list.d/*.sources "$etc"/sources.list; do
  [ -f "$f" ] && files+=("$f")
done
mirror=""
if [ "${#files[@]}" -gt 0 ]; then
  mirror="$(grep -hoE '^(URIs:|deb) +https?://[^ ]+' "${files[@]}" | head -1 | awk '{print $2}' \
            || true)"
fi
echo "${mirror:-http://deb.debian.org/debian}"
