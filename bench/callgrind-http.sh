#!/bin/sh
# callgrind-http.sh - instructions per request of the client thread, engine
# vs raw libcurl multi, counted by valgrind's callgrind: a figure that does
# not move with the machine's load, unlike CPU time. Each mode runs twice
# (N1 and N2 requests); the difference cancels the fixed start-up cost.
#   bench/callgrind-http.sh [build-dir] [concurrency] [max-host-connections]
set -eu
build=${1:-build}
c=${2:-8}
k=${3:-8}
n1=1000
n2=3000
bin=$(cd "$build" && pwd)/bin/wfc-bench-http
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() { # mode n -> Ir of the main thread
  rm -f "$tmp"/cg.*
  valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$tmp/cg.%p" "$bin" -n "$2" -r 1 -c "$c" -k "$k" \
    -m "$1" >/dev/null 2>&1
  grep -h '^totals:' "$tmp"/cg.*-01 | awk '{print $2}'
}
e=$(( ($(ir engine $n2) - $(ir engine $n1)) / (n2 - n1) ))
r=$(( ($(ir raw $n2) - $(ir raw $n1)) / (n2 - n1) ))
echo "in flight $c, max host connections $k: engine $e Ir/request," \
  "raw libcurl $r Ir/request, ratio $(awk "BEGIN{printf \"%.3f\", $e/$r}")"
