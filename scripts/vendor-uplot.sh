#!/usr/bin/env bash
# Re-fetch the pinned uPlot (the Metrics Collector's charting library) from the npm
# registry and place its browser build, stylesheet and licence under
# metrics_collector/static/vendor/uplot-<version>/. The tarball is checked against
# the registry's published sha512 before anything is copied.
#
#   bash scripts/vendor-uplot.sh            # the pinned version below
#   UPLOT_VERSION=1.6.33 bash scripts/vendor-uplot.sh   # try another (then update the
#       <script>/<link> version in metrics_collector/web_ui.py: UPLOT_DIR)
set -euo pipefail

VERSION="${UPLOT_VERSION:-1.6.32}"
# sha512 of uplot-1.6.32.tgz as published on the npm registry (`npm view uplot@1.6.32 dist.integrity`).
PINNED_INTEGRITY="sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw=="

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/metrics_collector/static/vendor/uplot-$VERSION"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "uplot@$VERSION" >/dev/null
TARBALL="uplot-$VERSION.tgz"
if [ "$VERSION" = "1.6.32" ]; then
  EXPECTED="$PINNED_INTEGRITY"
else
  EXPECTED="$(npm view "uplot@$VERSION" dist.integrity)"
fi
ACTUAL="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [ "$ACTUAL" != "$EXPECTED" ]; then
  echo "integrity mismatch for $TARBALL: expected $EXPECTED, got $ACTUAL" >&2
  exit 1
fi
tar xzf "$TARBALL"

mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$DEST/"
cat > "$DEST/README.md" <<README
uPlot $VERSION (MIT, see LICENSE) by Leon Sorokin

Fetched from the npm registry by \`bash scripts/vendor-uplot.sh\`
(\`npm pack uplot@$VERSION\`, integrity $EXPECTED);
files: dist/uPlot.iife.min.js, dist/uPlot.min.css and LICENSE, unmodified.
Served by the Metrics Collector itself, so its UI needs no CDN.
README
echo "vendored uPlot $VERSION into ${DEST#"$ROOT"/}"
