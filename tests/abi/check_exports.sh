#!/bin/sh
# check_exports.sh DIR - every *.so in DIR exports exactly one dynamic
# function symbol, and it is wfc_plugin_entry_v1. Prints each offender.
dir=${1:?usage: check_exports.sh DIR}
found=0
bad=0
for so in "$dir"/*.so; do
  [ -e "$so" ] || continue
  found=$((found + 1))
  # "T" (and "W"/"i") are defined functions; data symbols do not count.
  funcs=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TtWi]$/ {print $3}')
  n=$(printf '%s\n' "$funcs" | grep -c .)
  if [ "$n" -ne 1 ] || [ "$funcs" != "wfc_plugin_entry_v1" ]; then
    echo "FAIL $so exports $n functions:" $funcs
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
