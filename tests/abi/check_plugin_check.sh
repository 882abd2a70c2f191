#!/bin/sh
# check_plugin_check.sh WFC BUILD SRC - `wfc plugin check FILE` on good and
# deliberately broken plugins (tests/abi/broken.c, built by
# tests/abi/CMakeLists.txt): each failure is named on its own line, the
# exit status is 0 only for a conforming plugin, and a plugin that crashes
# in init is reported by the parent, which survives it.
wfc=${1:?usage: check_plugin_check.sh WFC BUILD SRC}
build=${2:?}
src=${3:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect NAME STATUS FILE [ARGS...] -- PATTERN...: runs the check, wants
# exit STATUS and every PATTERN (grep -E) in its stdout.
expect() {
  name=$1 want=$2 file=$3
  shift 3
  args=
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
    args="$args $1"
    shift
  done
  shift
  # shellcheck disable=SC2086
  "$wfc" plugin check "$file" $args > "$tmp/out" 2> "$tmp/err"
  got=$?
  ok=1
  [ "$got" -eq "$want" ] || ok=0
  for pat in "$@"; do
    grep -Eq -- "$pat" "$tmp/out" || { ok=0; echo "  missing: $pat"; }
  done
  if [ "$ok" -eq 1 ]; then
    echo "ok   $name"
  else
    echo "FAIL $name: exit $got (want $want)"
    sed 's/^/  out: /' "$tmp/out"
    sed 's/^/  err: /' "$tmp/err"
    failures=$((failures + 1))
  fi
}

good=$build/plugins/wfc-testplugin.so
bad=$build/tests/abi-plugins
expect "conforming plugin" 0 "$good" -- \
  '^ok   exports: one symbol, wfc_plugin_entry_v1$' \
  '^ok   host symbols: none referenced$' '^ok   host-only calls: none$' \
  '^ok   abi: ' '^ok   fingerprint: ' \
  '^ok   init: testplugin 1\.2\.3 registered 16 cards, 1 connection types$' \
  '^ok   flow: testconn: browser$' \
  '^ok   schemas: ' '^ok   manifest: .*matches' ': conforms$'
expect "the o365mail plugin" 0 "$build/plugins/wfc-o365mail.so" -- ': conforms$'
expect "two exported symbols" 1 "$build/tests/check-plugins/wfc-check-exports.so" -- \
  '^FAIL exports: 2 symbols \((wfc_plugin_entry_v1, broken_helper|broken_helper, wfc_plugin_entry_v1)\)' \
  'does NOT conform$'
expect "a host symbol" 1 "$build/tests/check-plugins/wfc-check-hostsym.so" -- \
  '^ok   exports: ' '^FAIL host symbols: references wfc_strerror' \
  'does NOT conform$'
expect "a call only the host may make" 1 \
  "$build/tests/check-plugins/wfc-check-global.so" -- \
  '^ok   host symbols: none' '^FAIL host-only calls: calls setlocale' \
  'does NOT conform$'
expect "ABI major" 1 "$bad/wfc-broken-major.so" -- '^FAIL load: .*ABI' \
  'does NOT conform$'
expect "ABI fingerprint" 1 "$bad/wfc-broken-fingerprint.so" -- \
  '^FAIL load: .*fingerprint differs' 'does NOT conform$'
expect "bad schema" 1 "$bad/wfc-broken-badschema.so" -- \
  '^FAIL load: .*bad input schema: schema\.recipients: LIST needs \.items' \
  'does NOT conform$'
expect "unknown connection flow" 1 "$bad/wfc-broken-badflow.so" -- \
  '^FAIL load: .*connection type "flowy": unknown flow 7' 'does NOT conform$'
expect "none flow with a secret" 1 "$bad/wfc-broken-nonesecret.so" -- \
  '^FAIL load: .*flow none takes no secret param, but "api_key" is secret' \
  'does NOT conform$'
expect "init fails" 1 "$bad/wfc-broken-init.so" -- \
  '^FAIL load: .*missing setting BROKEN_TENANT' 'does NOT conform$'
expect "no entry symbol" 1 "$bad/wfc-broken-noentry.so" -- \
  '^FAIL exports: 1 symbols \(not_a_plugin_entry\)' '^FAIL load: '
# A crash in init ends the child only: the parent reports it and exits 1
# (SIGABRT under ASan with abort_on_error=1, which catches the SIGSEGV).
expect "crash in init" 1 "$build/tests/abi-extra-plugins/wfc-broken-crash.so" -- \
  '^FAIL load: crashed in the child process: SIG(SEGV|ABRT)' 'does NOT conform$'
# The manifest: required, and compared.
cp "$good" "$tmp/wfc-testplugin.so"
expect "no manifest" 1 "$tmp/wfc-testplugin.so" -- \
  "^FAIL manifest: none found \(looked for $tmp/wfc-testplugin.manifest.json\)"
expect "manifest mismatch" 1 "$good" --manifest "$src/manifest.json" -- \
  '^FAIL manifest: ' 'does NOT conform$'
printf 'not a plugin\n' > "$tmp/text.so"
expect "not ELF" 1 "$tmp/text.so" -- '^FAIL exports: not an ELF file' \
  '^FAIL load: '
expect "missing file" 1 "$tmp/nonexistent.so" -- '^FAIL exports: No such file'

[ "$failures" -eq 0 ]
