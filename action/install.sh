#!/usr/bin/env bash
# Installs kpsuite without devDependencies into its own prefix, unless the cache already holds this exact spec.
set -euo pipefail
bin="$INSTALL_DIR/bin/kpsuite"
if [ -x "$bin" ] && [ "$(cat "$INSTALL_DIR/.kpsuite-spec" 2>/dev/null)" = "$PACKAGE_SPEC" ]; then
  echo "kpsuite from the cache: $PACKAGE_SPEC"
else
  npm install --global --prefix "$INSTALL_DIR" --omit=dev --no-audit --no-fund -- "$PACKAGE_SPEC"
  printf '%s' "$PACKAGE_SPEC" > "$INSTALL_DIR/.kpsuite-spec"
fi
"$bin" --version
