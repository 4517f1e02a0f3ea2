#!/bin/sh
# Install promtool and the prometheus server from Debian's `prometheus` package.
#
# Idempotent: a fast no-op when both are already on PATH. Non-interactive. Needs root
# (or sudo) and apt-get. Does not start the Prometheus service: while it installs, a
# policy-rc.d (if the machine has none) tells the package's scripts not to start it.
set -eu

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install.sh: apt-get not found; install Prometheus 2.x (promtool and prometheus) by hand" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install.sh: installing the prometheus package needs root or sudo" >&2
        exit 1
    fi
fi

POLICY=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
    $SUDO chmod 755 "$POLICY"
    made_policy=yes
fi
cleanup() {
    if [ "$made_policy" = yes ]; then
        $SUDO rm -f "$POLICY"
    fi
}
trap cleanup EXIT INT TERM

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null

# Debian ships the binaries in /usr/bin; make sure they are really there.
command -v promtool >/dev/null 2>&1 || { echo "install.sh: promtool missing after install" >&2; exit 1; }
command -v prometheus >/dev/null 2>&1 || { echo "install.sh: prometheus missing after install" >&2; exit 1; }
echo "install.sh: $(promtool --version 2>&1 | head -n 1)"
