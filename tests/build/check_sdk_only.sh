#!/bin/sh
# check_sdk_only.sh CMAKE SRC WORK - the SDK alone configures as README.md
# says: -DWFC_BUILD_TESTS=OFF -DWFC_BUILD_EMULATOR=OFF -DWFC_BUILD_PLUGIN=OFF
# looks for neither libmicrohttpd nor cmocka, and gives libwfc and wfc
# without the emulator, the plugin or a test. (Configure only: compiling
# the SDK again would cost CI a minute for what the main build compiles.)
set -u
cmake=${1:?usage: check_sdk_only.sh CMAKE SRC WORK}
src=${2:?}
work=${3:?}
rm -rf "$work"
if ! "$cmake" -S "$src" -B "$work" -DWFC_BUILD_TESTS=OFF \
    -DWFC_BUILD_EMULATOR=OFF -DWFC_BUILD_PLUGIN=OFF > "$work.log" 2>&1; then
  echo "FAIL the SDK alone does not configure:"
  cat "$work.log"
  exit 1
fi
bad=0
# pkg_check_modules prints "Checking for module 'x'" and caches x's
# variables under its prefix (MHD_..., CMOCKA_...).
for dep in libmicrohttpd:MHD cmocka:CMOCKA; do
  mod=${dep%%:*} var=${dep#*:}
  if grep -q "module '$mod'" "$work.log" ||
      grep -q "^${var}_[A-Z_]*:" "$work/CMakeCache.txt"; then
    echo "FAIL the SDK alone looks for $mod"
    bad=1
  fi
done
targets=$("$cmake" --build "$work" --target help 2>/dev/null)
for t in wfc wfc-cli; do
  printf '%s\n' "$targets" | grep -q "^\.\.\. $t\$" ||
    { echo "FAIL no target $t"; bad=1; }
done
for t in m365-emulator wfc-o365mail abi_cli; do
  printf '%s\n' "$targets" | grep -q "^\.\.\. $t\$" &&
    { echo "FAIL target $t built with it off"; bad=1; }
done
rm -rf "$work" "$work.log"
[ "$bad" -eq 0 ] && echo "ok   the SDK alone: no libmicrohttpd, no cmocka"
[ "$bad" -eq 0 ]
