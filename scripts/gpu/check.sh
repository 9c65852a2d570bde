#!/usr/bin/env bash
# Runs ON THE GPU DEVICE MACHINE (via the device tool), from the repo root, with .gpu-pack carried:
#   run(command='bash scripts/gpu/check.sh', carry=['.gpu-pack'], timeout_s=420)
# Restores Node and ONNX Runtime from .gpu-pack (built by scripts/gpu/pack.sh), makes a Vulkan loader available
# (the machine's, else the carried one via LD_LIBRARY_PATH, else the README's `dpkg -x … /`), points the loader at
# the NVIDIA ICD, then: prints the devices, runs `demo placement` with the GPU present, and measures
# (bench/gpu.ts) matmul 1024/4096/8192 float32 GFLOP/s and MNIST-softmax / CNN inference throughput at batch
# 1/64/1024 on CPU and GPU, then runs the GPU kernel survey, the GPU tests (the MNIST ones on the pack's first
# digits), and batching on vs off for the CNN served on the GPU. Everything lands under $OUT (at most 8 files come
# back): check.log, gpu-bench.json, devices.json, nvidia-smi.txt, vulkan.txt, gpu-kernels.json, gpu-tests.txt,
# serve-cnn-gpu.json. On an H200 it took 56–83 s after the machine started. FLOWSERVE_BENCH_BUDGET_S caps each
# measurement's repetitions, FLOWSERVE_BENCH_QUICK=1 uses small sizes (a dry run on a development machine).
set -uo pipefail
cd "$(dirname "$0")/../.."
PACK=$PWD/.gpu-pack
OUT=${OUT:-/tmp/flowserve-gpu-out}
mkdir -p "$OUT"
exec > >(tee "$OUT/check.log") 2>&1
T0=$(date +%s)
step() { echo; echo "== [$(($(date +%s) - T0))s] $*"; }

unxz_to() { # SRC.xz DEST
  if command -v xz >/dev/null; then xz -dc "$1" >"$2"
  else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

if [ ! -d "$PACK/app" ] && [ -f "$PACK/app.tar.xz" ]; then
  unxz_to "$PACK/app.tar.xz" /tmp/flowserve-app.tar && tar -C "$PACK" -xf /tmp/flowserve-app.tar && rm /tmp/flowserve-app.tar
fi
[ -d "$PACK/app" ] || { echo "error: .gpu-pack/app missing: run scripts/gpu/pack.sh here and carry .gpu-pack" >&2; exit 2; }

step "restore node and onnxruntime"
mkdir -p /tmp/flowserve-node/bin
unxz_to "$PACK/node.xz" /tmp/flowserve-node/bin/node && chmod +x /tmp/flowserve-node/bin/node
export PATH=/tmp/flowserve-node/bin:$PATH
LIB=$PACK/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
[ -f "$LIB" ] || unxz_to "$PACK/libonnxruntime.so.1.xz" "$LIB"
DAWN=$PACK/app/node_modules/webgpu/dist/linux-x64/dawn.node
[ -f "$DAWN" ] || [ ! -f "$PACK/dawn.node.xz" ] || unxz_to "$PACK/dawn.node.xz" "$DAWN"
node --version || { echo "error: the carried node does not run here" >&2; exit 3; }

step "GPU and Vulkan"
nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt" | head -15
# The NVIDIA Vulkan ICD ships with the driver mount; Dawn (ONNX Runtime's WebGPU) needs it, not CUDA.
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd; break; fi
done
[ -f /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ] &&
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -d /usr/local/nvidia/lib64 ] && export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:${LD_LIBRARY_PATH:-}
{
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-<none found>}"
  [ -n "${VK_DRIVER_FILES:-}" ] && cat "$VK_DRIVER_FILES"
  echo "system libvulkan: $(ldconfig -p | grep -c 'libvulkan.so.1')"
} | tee "$OUT/vulkan.txt"
if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
  export LD_LIBRARY_PATH=$PACK/vulkan/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  echo "using the carried Vulkan loader: $PACK/vulkan/usr/lib/x86_64-linux-gnu"
fi

export FLOWSERVE_DEBUG=1 FLOWSERVE_GPU_PROBE_CACHE=0
cd "$PACK/app"
probe() { node -e "import('./dist/src/devices/webgpu.js').then(m=>m.discoverGpus()).then(r=>{console.log(JSON.stringify(r));process.exit(r.available?0:1)})"; }
step "WebGPU probe"
if ! probe; then
  # Only on a GPU machine (never write to / of a development machine).
  if command -v nvidia-smi >/dev/null && ! ldconfig -p | grep -q 'libvulkan.so.1' && ls "$PACK"/debs/*.deb >/dev/null 2>&1; then
    echo "no adapter with the carried loader on LD_LIBRARY_PATH; unpacking the .debs into / (device README recipe)"
    for f in "$PACK"/debs/*.deb; do dpkg -x "$f" /; done
    ldconfig
    probe || echo "still no WebGPU adapter: the GPU rows below will be skipped (see the reason above)"
  else
    echo "no WebGPU adapter: the GPU rows below will be skipped (see the reason above)"
  fi
fi

step "flowserve devices"
node dist/bench/gpu.js devices --json >"$OUT/devices.json" || true
node dist/bench/gpu.js devices

step "flowserve demo placement"
node dist/bench/gpu.js demo

step "benchmarks (matmul, MNIST softmax, CNN; CPU vs GPU)"
node --max-old-space-size=16384 dist/bench/gpu.js bench --out "$OUT/gpu-bench.json" ${FLOWSERVE_BENCH_QUICK:+--quick}
RC=$?

step "GPU kernel survey (every op × dtype on the WebGPU EP, CPU fallback off)"
# Only the survey's verdict: how many table entries the EP disagreed with, and which cases it ran beyond the table.
timeout 120 node dist/bench/gpu-kernels.js --json "$OUT/gpu-kernels.json" | sed -n '/^The kernel table/,$p' || echo "survey failed: $?"

step "GPU tests (numerics, placement, resident tensors, training and serving on the first MNIST digits, kernel table)"
timeout 180 node --test --test-reporter=spec dist/test/gpu/ dist/test/devices/gpu-kernels.test.js >"$OUT/gpu-tests.txt" 2>&1
echo "node --test exit $?"
grep -E '^ℹ (tests|pass|fail|skipped)|✖' "$OUT/gpu-tests.txt" | head -30

step "serving on the GPU: the MNIST CNN with batching on vs off, gRPC, concurrency 64"
timeout 150 node dist/bench/serve.js --only cnn-batching --device gpu --concurrency 64 --seconds 5 --rounds 2 |
  tail -8 || echo "serving bench failed"
cp bench/results/serve-cnn-gpu.json "$OUT/" 2>/dev/null || true

step "done (rc=$RC)"
exit $RC
