#!/usr/bin/env bash
# list_big.sh - a large listing through `wfc card run`, as a user runs it:
# search_emails over a mailbox of N messages (default 10,000), once
# returning them all ("limit": N, the output is one JSON document) and once
# streamed ("stream": true, one JSON line per message). For each: the
# process's CPU time and peak RSS (/usr/bin/time -v), the output's size,
# and with --callgrind the instructions of the whole wfc process (callgrind,
# start-up included: the same for both), with --massif the heap's peak
# (valgrind massif: total with malloc's overhead / useful bytes). The whole
# output is compared with the streamed items joined as an array: the same
# bytes or the script fails (LIST_BIG_SAVE=DIR keeps both outputs there,
# to compare builds). Then a read-only card run
# (list_folders) with a fresh token under strace: the fdatasync/fsync calls
# it makes and whether the store file changed (bytes, mtime).
#
#   bench/list_big.sh [BUILD_DIR] [N] [--callgrind] [--massif]
#
# The emulator, the store and the connection (the real authorization-code
# flow through scripts/emu-signin) are temporary. Figures only.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
build=$(cd "$build" && pwd)
n=${2:-10000}
cg=0 ms=0
for a in "${@:3}"; do
  case $a in
  --callgrind) cg=1 ;;
  --massif) ms=1 ;;
  *) echo "list_big: unknown option $a" >&2; exit 2 ;;
  esac
done
WFC=$build/bin/wfc
EMU=$build/bin/m365-emulator
TENANT=$root/examples/tenant.json
for t in jq curl /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "list_big: needs $t" >&2; exit 2; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/wfc-listbig.XXXXXX")
emu_pid="" bg_pid=""
cleanup() {
  [ -n "$bg_pid" ] && kill "$bg_pid" 2>/dev/null
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# A tenant whose alice has n messages in the inbox (~1.3 KB of output each).
jq --argjson n "$n" '. + {mailboxes: [{user: "alice@contoso.test",
  messages: [range($n) as $i | {folder: "inbox",
    subject: "Quarterly numbers, part \($i)",
    from: "bob@contoso.test", toRecipients: ["alice@contoso.test"],
    ccRecipients: ["carol@contoso.test"],
    body: ("Hello Alice, here are the figures for part \($i). " * 6),
    receivedDateTime: (("2024-03-01T09:00:00Z" | fromdateiso8601) + $i * 60 | todateiso8601),
    isRead: ($i % 3 == 0), importance: "normal", categories: ["Blue"]}]}]}' \
  "$TENANT" >"$work/tenant.json"
"$EMU" --port 0 --port-file "$work/port" --config "$work/tenant.json" \
  >"$work/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 300); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { echo "list_big: the emulator did not start" >&2; exit 1; }
base=http://127.0.0.1:$(cat "$work/port")
export WFC_STORE=$work/store.db WFC_BLOB_DIR=$work/blobs
export WFC_PLUGIN_PATH=$build/plugins
WFC_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export WFC_MASTER_KEY
export O365MAIL_AUTHORITY_URL=$base O365MAIL_GRAPH_URL=$base/v1.0
O365MAIL_PREVIEW_CLIENT_ID=$(jq -r '.applications[] |
  select(.displayName == "Office 365 Mail (Preview)") | .clientId' "$TENANT")
export O365MAIL_PREVIEW_CLIENT_ID
# No throttling in the way of a benchmark.
curl -sfS -X POST -d '{"requestsPerWindow":100000,"windowSeconds":600}' \
  "$base/__emulator/throttle" >/dev/null

"$WFC" connection new --plugin o365mail --nickname alice --env preview \
  --tenant contoso.test --param login_hint=alice@contoso.test --print-url \
  --timeout 60 >"$work/conn.out" 2>"$work/conn.err" &
bg_pid=$!
url=""
for _ in $(seq 100); do
  url=$(head -n 1 "$work/conn.out" 2>/dev/null || true)
  [ -n "$url" ] && break
  sleep 0.1
done
pw=$(jq -r '.users[] | select(.userPrincipalName == "alice@contoso.test") |
  .password' "$TENANT")
"$root/scripts/emu-signin" "$url" alice@contoso.test "$pw" >/dev/null
wait "$bg_pid"
bg_pid=""

# measure NAME INPUT: one card run, its CPU, peak RSS and output size.
measure() {
  local name=$1 in=$2
  /usr/bin/time -v -o "$work/time" "$WFC" card run o365mail.search_emails \
    --connection alice --input "$in" --json >"$work/out" 2>"$work/err" ||
    { cat "$work/err" >&2; exit 1; }
  local u s rss bytes
  u=$(sed -n 's/.*User time (seconds): //p' "$work/time")
  s=$(sed -n 's/.*System time (seconds): //p' "$work/time")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/time")
  bytes=$(wc -c <"$work/out")
  local ir=""
  if [ "$cg" = 1 ]; then
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$WFC" \
      card run o365mail.search_emails --connection alice --input "$in" \
      --json >/dev/null 2>"$work/cg.err" || { cat "$work/cg.err" >&2; exit 1; }
    ir=", $(grep -h '^totals:' "$work/cg.out" | awk '{print $2}') Ir"
  fi
  local heap=""
  if [ "$ms" = 1 ]; then
    valgrind --tool=massif --massif-out-file="$work/ms.out" "$WFC" \
      card run o365mail.search_emails --connection alice --input "$in" \
      --json >/dev/null 2>"$work/ms.err" || { cat "$work/ms.err" >&2; exit 1; }
    heap=$(awk -F= '/^mem_heap_B=/{h=$2} /^mem_heap_extra_B=/{if (h + $2 > t)
      {t = h + $2; u = h}} END{printf ", heap peak %.1f / %.1f MB", t / 1e6,
      u / 1e6}' "$work/ms.out")" (massif: total / useful)"
  fi
  cp "$work/out" "$work/$name.out"
  echo "list $n $name: $(awk "BEGIN{printf \"%.0f\", ($u + $s) * 1000}") ms CPU" \
    "(user $u s, sys $s s), peak RSS $((rss / 1024)) MB ($rss KiB)," \
    "output $bytes bytes$ir$heap"
}
measure whole "{\"folder\":\"inbox\",\"limit\":$n,\"page_size\":1000}"
measure stream "{\"folder\":\"inbox\",\"stream\":true,\"page_size\":1000}"
# The whole output must be the streamed items (every line but the last,
# the output {"count":n,...}) joined as the "messages" array.
{
  printf '{"messages":['
  sed '$d' "$work/stream.out" | paste -sd, - | tr -d '\n'
  printf '],"count":%s,"more":false}\n' "$n"
} >"$work/joined.out"
if cmp -s "$work/whole.out" "$work/joined.out"; then
  echo "whole output = streamed items joined: same bytes"
else
  echo "list_big: the whole output differs from the streamed items" >&2
  exit 1
fi
if [ -n "${LIST_BIG_SAVE:-}" ]; then
  mkdir -p "$LIST_BIG_SAVE"
  cp "$work/whole.out" "$work/stream.out" "$LIST_BIG_SAVE/"
fi

# A read-only card run with a fresh token: what it writes to the store.
sum0=$(sha256sum "$WFC_STORE" | cut -d' ' -f1)
mt0=$(stat -c %Y.%y "$WFC_STORE")
syncs="(strace not installed)"
if command -v strace >/dev/null; then
  strace -f -e trace=fsync,fdatasync,pwrite64,write -o "$work/strace" \
    "$WFC" card run o365mail.list_folders --connection alice \
    --input '{"recursive":false}' --json >/dev/null 2>"$work/err" ||
    { cat "$work/err" >&2; exit 1; }
  syncs="$(grep -cE 'fsync|fdatasync' "$work/strace" || true) fsync/fdatasync"
else
  "$WFC" card run o365mail.list_folders --connection alice \
    --input '{"recursive":false}' --json >/dev/null
fi
sum1=$(sha256sum "$WFC_STORE" | cut -d' ' -f1)
mt1=$(stat -c %Y.%y "$WFC_STORE")
echo "read-only card run (list_folders): $syncs;" \
  "store file $([ "$sum0" = "$sum1" ] && echo same bytes || echo changed)," \
  "mtime $([ "$mt0" = "$mt1" ] && echo same || echo changed)"
