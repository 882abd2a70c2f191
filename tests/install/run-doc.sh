#!/bin/sh
# run-doc.sh DOC PREFIX EXAMPLES WORK - runs the ```sh blocks of the
# markdown file DOC, in order, as one script (set -eu, each command echoed),
# in the directory WORK, against the SDK installed in PREFIX, with the
# example sources of EXAMPLES; the environment is emptied first (env -i)
# but for PATH, HOME (WORK/home) and PREFIX, EXAMPLES: what the installed
# programs need must come from the install, not from the environment.
# Fails when a block fails or DOC has no block.
set -eu
doc=${1:?usage: run-doc.sh DOC PREFIX EXAMPLES WORK}
prefix=${2:?}
examples=${3:?}
work=${4:?}
rm -rf "$work"
mkdir -p "$work/home"
script="$work/doc.sh"
{
  echo 'set -eux'
  awk '/^```sh[[:space:]]*$/ { on = 1; next }
       /^```/ { if (on) print ""; on = 0; next }
       on { print }' "$doc"
} > "$script"
if [ "$(grep -cv '^\(set -eux\)\?$' "$script")" -eq 0 ]; then
  echo "run-doc.sh: no \`\`\`sh block in $doc"
  exit 1
fi
cd "$work"
exec env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$work/home" \
  PREFIX="$prefix" EXAMPLES="$examples" sh "$script"
