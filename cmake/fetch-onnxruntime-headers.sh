#!/usr/bin/env bash
# Extracts ONNX Runtime's C/C++ headers (build time only) from Debian's
# libonnxruntime-dev package of the Debian release after this machine's,
# without installing it or touching the system's apt configuration: a
# temporary source list (this machine's own Debian mirror, next suite name),
# `apt-get download`, `dpkg -x` into DEST.
set -euo pipefail

dest=${1:?usage: $0 DEST}
[ -f /etc/os-release ] || { echo "not a Debian system: set ONNXRUNTIME_ROOT to an ONNX Runtime release instead" >&2; exit 1; }
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
case "$codename" in
  bullseye) next=bookworm ;;
  bookworm) next=trixie ;;
  trixie) next=forky ;;
  *) echo "no next Debian suite known for '$codename': set ONNXRUNTIME_ROOT to an ONNX Runtime release" >&2; exit 1 ;;
esac

# The Debian mirror this machine already uses (deb822 or one-line format).
mirror=$({ cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true; } \
  | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^https?:\/\/.*\/debian\/?$/) { print $i; exit } }')
[ -n "$mirror" ] || { echo "cannot find a Debian mirror in the apt sources" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/} $next main" > "$work/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Sandbox::User=root")
apt-get "${apt_opts[@]}" update -qq
(cd "$work" && apt-get "${apt_opts[@]}" download -qq libonnxruntime-dev)
mkdir -p "$dest"
dpkg -x "$work"/libonnxruntime-dev_*.deb "$dest"
echo "ONNX Runtime headers from Debian $next's $(basename "$work"/libonnxruntime-dev_*.deb) in $dest/usr/include/onnxruntime"
