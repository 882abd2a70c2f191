#!/usr/bin/env bash
# emu_load.sh - m365-emulator throughput over keep-alive (DESIGN.md 7 /
# bench bar: >= 10,000 small requests/s on one core).
#
#   bench/emu_load.sh [build-dir] [seconds] [connections] [--perf]
#
# Starts build/bin/m365-emulator (examples/tenant.json) pinned to core 0
# (taskset, when there), wrk pinned to core 1, and runs
# `wrk -t1 -c<connections> -d<seconds>s` on
#   1. GET /__emulator/health            (small, unauthenticated)
#   2. GET /v1.0/me/mailFolders?$top=100 (Graph, Authorization: Bearer)
#   3. GET /v1.0/me                      (Graph, small body)
# The token comes from the real flow: authorize (PKCE plain) -> sign-in
# page (scripts/emu-signin) -> token endpoint. It stays in a private temp
# file and is never printed. Graph throttling (4 concurrent / 10,000 per
# 10 min per mailbox) is lifted through the admin API first, else wrk would
# measure 429s. --perf records the emulator with perf during (1) and prints
# where the time goes. Figures only.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
secs=${2:-5}
conns=${3:-8}
perf=0
[ "${4:-}" = "--perf" ] && perf=1

command -v wrk >/dev/null || { echo "emu_load: wrk not installed (scripts/install-deps)" >&2; exit 1; }
tmp=$(mktemp -d)
chmod 700 "$tmp"
emu_pid=
cleanup() {
  [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

pin_emu=() pin_wrk=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_emu=(taskset -c 0) pin_wrk=(taskset -c 1)
fi
"${pin_emu[@]}" "$build/bin/m365-emulator" --port 0 --port-file "$tmp/port" \
  --config "$src/examples/tenant.json" >"$tmp/emu.log" 2>&1 &
emu_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "emu_load: emulator did not start" >&2; cat "$tmp/emu.log" >&2; exit 1; }
base="http://127.0.0.1:$(cat "$tmp/port")"

# ---- a token through the real authorization-code flow -------------------
client=5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a # Preview app: public client
redirect=http://127.0.0.1:53682/callback
verifier=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 64)
scope="openid offline_access User.Read Mail.ReadWrite"
auth_url="$base/contoso.test/oauth2/v2.0/authorize?client_id=$client&response_type=code&redirect_uri=$(printf %s "$redirect" | jq -sRr @uri 2>/dev/null || echo 'http%3A%2F%2F127.0.0.1%3A53682%2Fcallback')&scope=openid%20offline_access%20User.Read%20Mail.ReadWrite&state=bench&code_challenge=$verifier&code_challenge_method=plain"
final=$("$src/scripts/emu-signin" --no-deliver "$auth_url" alice@contoso.test 'Alice-Passw0rd!')
code=$(printf '%s' "$final" | sed -n 's/.*[?&]code=\([^&]*\).*/\1/p')
[ -n "$code" ] || { echo "emu_load: no code in the redirect" >&2; exit 1; }
curl -sS -o "$tmp/token.json" "$base/contoso.test/oauth2/v2.0/token" \
  --data-urlencode grant_type=authorization_code --data-urlencode "client_id=$client" \
  --data-urlencode "code=$code" --data-urlencode "redirect_uri=$redirect" \
  --data-urlencode "code_verifier=$verifier" --data-urlencode "scope=$scope"
sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p' "$tmp/token.json" >"$tmp/token"
[ -s "$tmp/token" ] || { echo "emu_load: no access token" >&2; exit 1; }
# wrk takes headers on its command line: keep the token out of ps through a
# lua script in the private temp dir instead.
printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$(cat "$tmp/token")" >"$tmp/auth.lua"
rm -f "$tmp/token" "$tmp/token.json"

# 0 disables a limit (docs/emulator.md, admin API).
st=$(curl -sS -o "$tmp/throttle" -w '%{http_code}' -X POST "$base/__emulator/throttle" \
  -H 'Content-Type: application/json' \
  -d '{"concurrency":0,"requestsPerWindow":0,"windowSeconds":600}')
case "$st" in 2*) ;; *) echo "emu_load: lifting throttling failed: $st $(cat "$tmp/throttle")" >&2; exit 1 ;; esac

# Emulator CPU (user+sys, clock ticks) from /proc.
emu_ticks() { awk '{print $14 + $15}' "/proc/$emu_pid/stat"; }
tck=$(getconf CLK_TCK)

# run NAME PATH [wrk args]: one line: req/s as measured, the emulator's CPU
# per request and what that gives on one whole core (the machine may be
# shared: the projection does not move with the load, req/s does).
run() {
  local name="$1" path="$2"
  shift 2
  local t0 t1
  t0=$(emu_ticks)
  "${pin_wrk[@]}" wrk -t1 -c"$conns" -d"${secs}s" "$@" "$base$path" >"$tmp/wrk.out" 2>&1 || true
  t1=$(emu_ticks)
  local rps n non2xx
  rps=$(sed -n 's/^Requests\/sec: *//p' "$tmp/wrk.out")
  n=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$tmp/wrk.out")
  non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *//p' "$tmp/wrk.out")
  awk -v name="$name" -v rps="${rps:-0}" -v n="${n:-0}" -v ticks=$((t1 - t0)) \
    -v tck="$tck" -v c="$conns" -v s="$secs" -v bad="${non2xx:-0}" 'BEGIN {
      us = n > 0 ? ticks * 1e6 / tck / n : 0
      printf "emulator %-30s %8.0f req/s, %6.1f us CPU/req -> %6.0f req/s per core (wrk -t1 -c%d -d%ds, non-2xx %d)\n",
        name, rps, us, (us > 0 ? 1e6 / us : 0), c, s, bad }'
}

if [ "$perf" = 1 ] && command -v perf >/dev/null; then
  perf record -q -F 2999 -a -C 0 -o "$tmp/perf.data" -- sleep "$((secs + 1))" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.3
  run "GET /__emulator/health" /__emulator/health
  wait "$perf_pid" || true
  echo "--- perf: emulator, GET /__emulator/health: by library ---"
  perf report -q -i "$tmp/perf.data" --comms m365-emulator --sort dso 2>/dev/null | grep '%' | head -8
  echo "--- perf: by symbol (top 25) ---"
  perf report -q -i "$tmp/perf.data" --comms m365-emulator --sort dso,symbol 2>/dev/null |
    grep '%' | head -25
else
  run "GET /__emulator/health" /__emulator/health
fi
run "GET /v1.0/me/mailFolders?\$top=100" '/v1.0/me/mailFolders?$top=100' -s "$tmp/auth.lua"
run "GET /v1.0/me" /v1.0/me -s "$tmp/auth.lua"
echo "emulator pinned: ${pin_emu[*]:-no}; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
