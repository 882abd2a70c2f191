#!/bin/sh
# check_feature_macros.sh CC SOURCE_DIR GENERATED_INCLUDE_DIR...
#
# Every C file of sdk/, cli/, plugin/, cards/ and emulator/ compiles on its own
# with the plain compiler: -std=c11, the dependencies' pkg-config cflags and
# the project's include directories, and NO project defines (no
# -D_GNU_SOURCE from the build system). A file that uses a POSIX or GNU
# function beyond C11 (strptime, clock_gettime, memmem, explicit_bzero, ...)
# must define the feature macro it needs itself, before its first include;
# otherwise the function is implicitly declared (int-returning: a pointer
# result is truncated and the program crashes) and this check fails with
# the file and the function named. The public headers (include/wfc/*.h)
# must compile alone the same way, since hosts include them under their own
# flags.
#
# GENERATED_INCLUDE_DIR: directories of generated headers (the emulator's
# embedded tenant and OpenAPI data live in the build tree).
cc=${1:?usage: check_feature_macros.sh CC SOURCE_DIR [GENERATED_INCLUDE_DIR...]}
src=${2:?usage: check_feature_macros.sh CC SOURCE_DIR [GENERATED_INCLUDE_DIR...]}
shift 2
gen=
for d in "$@"; do gen="$gen -I$d"; done

deps=$(pkg-config --cflags libuv libcurl json-c libcrypto libssl sqlite3 libpq \
       libmicrohttpd) || { echo "FAIL pkg-config --cflags of the dependencies"; exit 1; }
# The project's own warning choice (-Wno-unused-parameter: callbacks ignore
# arguments) plus what catches a missing feature macro.
flags="-std=c11 -Wall -Wextra -Wno-unused-parameter -Werror \
-Werror=implicit-function-declaration -Werror=int-conversion -fsyntax-only"
incs="-I$src/include -I$src/sdk -I$src/cli -I$src/plugin -I$src/emulator $gen $deps"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
bad=0
check() { # $1: label, $2: file to compile
  n=$((n + 1))
  # shellcheck disable=SC2086 # word splitting of the flag lists is wanted
  if ! "$cc" $flags $incs -c "$2" -o /dev/null >"$tmp/out" 2>&1; then
    bad=$((bad + 1))
    echo "FAIL $1"
    sed 's/^/    /' "$tmp/out" | head -20
  fi
}

for dir in sdk cli plugin cards emulator; do
  for f in "$src/$dir"/*.c; do
    [ -e "$f" ] || continue
    check "${f#"$src"/}" "$f"
  done
done
for h in "$src"/include/wfc/*.h; do
  [ -e "$h" ] || continue
  rel=${h#"$src"/include/}
  printf '#include <%s>\n' "$rel" >"$tmp/hdr.c"
  check "include/$rel (alone)" "$tmp/hdr.c"
done

echo "feature macros: $n files checked, $bad failed"
[ "$n" -gt 0 ] && [ "$bad" -eq 0 ]
