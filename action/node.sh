#!/usr/bin/env bash
# Keeps the runner's Node.js when it is new enough for kpsuite (>= 20.19); otherwise asks for setup-node.
set -euo pipefail
have=$(node --version 2>/dev/null || true)
install=true
if [[ $have =~ ^v([0-9]+)\.([0-9]+) ]]; then
  major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
  if (( major > 20 || (major == 20 && minor >= 19) )); then install=false; fi
fi
echo "runner Node.js: ${have:-none}; installing another: $install"
echo "install=$install" >> "$GITHUB_OUTPUT"
