# Shared by the scripts: find Swift, install missing Debian packages (as root, or with sudo).
# shellcheck shell=bash

if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
if ! command -v swift >/dev/null 2>&1; then
    echo "deferwatch: Swift 6 is needed (https://www.swift.org/install/); 'swift' is not on PATH" >&2
    exit 2
fi

# need_packages PKG...: installs the Debian packages that are not installed yet.
need_packages() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "deferwatch: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The packages the build and the tests use.
BUILD_PACKAGES=(pkg-config zlib1g-dev libdeflate-dev libsystemd-dev libspf2-dev)
# libidn12 is what the unpacked exim4 needs beyond the build's libraries, libnss-wrapper
# gives the unpacked postfix and exim4 their users (scripts/test, ConfigFixMTATests).
TEST_PACKAGES=(gzip rsyslog python3 systemd-journal-remote dnsmasq-base groff-base man-db libidn12 libnss-wrapper)
