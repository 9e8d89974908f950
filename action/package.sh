#!/usr/bin/env bash
# Which kpsuite to install, and the cache key of its install: the package spec, the OS and the Node.js major.
set -euo pipefail
spec=${INPUT_PACKAGE:-}
if [ -z "$spec" ]; then
  version=$(node -p 'require(process.argv[1]).version' "$GITHUB_ACTION_PATH/package.json")
  spec="kp-relay-suite@$version"
fi
# A local tarball is keyed by its bytes, a registry spec by its text.
if [ -f "$spec" ]; then
  spec=$(cd "$(dirname "$spec")" && pwd)/$(basename "$spec")
  id=$(sha256sum "$spec" | cut -c1-16)
else
  id=$(printf '%s' "$spec" | sha256sum | cut -c1-16)
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
{
  echo "spec=$spec"
  echo "cache-key=kpsuite-${RUNNER_OS:-local}-node$node_major-$id"
} >> "$GITHUB_OUTPUT"
echo "kpsuite package: $spec"
