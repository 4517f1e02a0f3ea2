#!/bin/sh
# Prometheus on this machine, scraping the local engine where it listens: the committed
# prometheus.yml names 127.0.0.1:8080; this runs it with TIMELINE_HOST and TIMELINE_PORT
# (the engine's own settings) instead. Data under ${PROM_DATA:-/tmp/timeline-prometheus}.
#   TIMELINE_PORT=9090 sh deploy/prometheus/local.sh [prometheus flags...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
host=${TIMELINE_HOST:-127.0.0.1}
port=${TIMELINE_PORT:-8080}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
cp -r "$here/rules" "$work/rules"
sed "s|\"127.0.0.1:8080\"|\"$host:$port\"|" "$here/prometheus.yml" > "$work/prometheus.yml"
if ! grep -q "\"$host:$port\"" "$work/prometheus.yml"; then
  echo "local.sh: prometheus.yml no longer names 127.0.0.1:8080; edit its target by hand" >&2
  exit 1
fi
exec prometheus --config.file="$work/prometheus.yml" \
  --storage.tsdb.path="${PROM_DATA:-/tmp/timeline-prometheus}" "$@"
