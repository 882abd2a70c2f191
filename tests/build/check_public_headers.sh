#!/bin/sh
# check_public_headers.sh SRCDIR - the public headers (include/wfc/*.h) are
# what plugin and host authors read: every line fits in 80 columns (a macro
# that clang-format cut one character per line, like WFC_ABI_FINGERPRINT
# once, fails here). (Whether clang-format would change them depends on its
# version; `make format` is the place for that.)
src=${1:?usage: check_public_headers.sh SRCDIR}
bad=0
for h in "$src"/include/wfc/*.h; do
  long=$(awk 'length > 80 { printf "%d ", FNR }' "$h")
  if [ -n "$long" ]; then
    echo "FAIL $h: lines longer than 80 columns: $long"
    bad=1
  fi
  # A line holding one quoted character is what clang-format leaves of a
  # string literal it could not fit.
  cut=$(grep -nE '^[[:space:]]*"[^"]"[[:space:]]*\\?$' "$h" | cut -d: -f1 | tr '\n' ' ')
  if [ -n "$cut" ]; then
    echo "FAIL $h: a string cut one character per line at lines $cut"
    bad=1
  fi
done
[ "$bad" -eq 0 ] && echo "ok   public headers"
[ "$bad" -eq 0 ]
