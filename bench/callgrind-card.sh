#!/bin/sh
# callgrind-card.sh - instructions per card execution of the client process
# (runtime + wfc-o365mail.so), per raw libcurl exchange and per raw
# exchange + json-c parse, counted by callgrind: a figure that does not move
# with the machine's load, unlike CPU time. wfc-bench-card brackets its
# measured loop with CALLGRIND_START/STOP_INSTRUMENTATION, so set-up (the
# emulator, the OAuth flow, the warm-up run) is not counted. The emulator
# is another process and runs natively (no --trace-children).
#   bench/callgrind-card.sh [build-dir] [executions] [-k]
set -eu
build=${1:-build}
n=${2:-100}
kflag=${3:-} # -k: keep the output checks (tests) on
bin=$(cd "$build" && pwd)/bin/wfc-bench-card
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() { # mode -> Ir per execution
  rm -f "$tmp"/cg.*
  valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$tmp/cg.%p" "$bin" -m "$1" -n "$n" -r 1 $kflag \
    >"$tmp/out" 2>&1 || { cat "$tmp/out" >&2; exit 1; }
  total=$(grep -h '^totals:' "$tmp"/cg.* | awk '{s += $2} END {print s}')
  echo $((total / n))
}
c=$(ir card)
r=$(ir raw)
j=$(ir rawjson)
echo "card list_folders: $c Ir/execution, raw libcurl $r Ir/exchange," \
  "raw libcurl+json-c $j Ir;" \
  "ratio card/raw $(awk "BEGIN{printf \"%.3f\", $c/$r}")," \
  "card/raw+json $(awk "BEGIN{printf \"%.3f\", $c/$j}")"
