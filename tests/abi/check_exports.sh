#!/bin/sh
# check_exports.sh WFC DIR - every *.so in DIR (the project's plugins)
# passes `wfc plugin check` (cli/plugin.c, cli/elfsyms.c): exactly one
# exported symbol, wfc_plugin_entry_v1; no reference to a host symbol
# (wfc_*: plugins reach the host only through the services table); none of
# the calls only the host may make (process-global set-up: curl_global_*,
# json-c's global double format, locale and signal handlers, running or
# closing the loop, OpenSSL library-wide configuration; HTTP of its own:
# curl_easy_perform, curl_multi_*; libuv handles of its own: uv_*_init,
# uv_close); and ABI, fingerprint, init, schemas and manifest. As a cross-
# check of wfc's ELF reader, `nm -D` must list the same one function.
# Prints each result; exits non-zero if a plugin fails (or there is none).
wfc=${1:?usage: check_exports.sh WFC DIR}
dir=${2:?usage: check_exports.sh WFC DIR}
found=0
bad=0
for so in "$dir"/*.so; do
  [ -e "$so" ] || continue
  found=$((found + 1))
  # "T" (and "W"/"i") are defined functions; data symbols do not count.
  funcs=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWi]$/ {print $3}')
  if ! out=$("$wfc" plugin check "$so" 2>&1); then
    echo "FAIL $so:"
    printf '%s\n' "$out" | sed 's/^/  /'
    bad=$((bad + 1))
  elif [ "$funcs" != "wfc_plugin_entry_v1" ]; then
    echo "FAIL $so: nm -D lists" $funcs "(wfc plugin check missed it)"
    bad=$((bad + 1))
  else
    echo "ok   $so"
  fi
done
if [ "$found" -eq 0 ]; then
  echo "no plugin found in $dir"
  exit 1
fi
[ "$bad" -eq 0 ]
