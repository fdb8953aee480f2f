#!/usr/bin/env bash
# The device bench: Mnemo and llama.cpp on one GPU, one command, results in $OUT.
#
#   bash scripts/bench-gpu/run.sh            on the GPU machine (the `run` tool, carry [".gpu"])
#   bash scripts/bench-gpu/run.sh --dry-run  here, on SwiftShader (npm run bench:gpu -- --dry-run)
#
# Both modes unpack .gpu/ (made by `npm run bench:gpu -- prepare`) into a scratch folder outside
# the checkout and run the bundled CLI from there, so the dry run proves what travels. What
# differs: the device run unpacks the Debian libraries into / and points Vulkan at NVIDIA's
# driver; the dry run leaves / alone, lets the CLI find SwiftShader, adds llama.cpp's CPU build
# from this checkout's node_modules (llama.cpp's Vulkan backend skips CPU devices) and uses
# small token counts. Every part has its own time limit and the whole run a budget (8 minutes on
# the device); the report is rewritten after each part, so a hang or a kill still leaves results.
# $OUT gets bench-gpu.json (every part, the adapter, timings), bench-gpu.md (the table), log.txt.
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PACK="$ROOT/.gpu"
WORK="${BENCH_WORK:-/tmp/mnemo-bench-gpu}"
MODE=device
[ "${1:-}" = "--dry-run" ] && MODE=dry

if [ "$MODE" = device ]; then
  PROMPT=128 GEN=128 LONG=1024 PROFILE=8 REPS=3 BUDGET=480 SCALE=1
else
  # SwiftShader: a 124M decode step takes ~0.5-0.9 s, a 128-token prefill ~4-13 s.
  PROMPT=16 GEN=4 LONG=32 PROFILE=2 REPS=2 BUDGET=1500 SCALE=5
  OUT="${OUT:-$ROOT/.gpu-dry}"
fi
PROMPT="${BENCH_PROMPT:-$PROMPT}" GEN="${BENCH_GEN:-$GEN}" LONG="${BENCH_LONG:-$LONG}"
BUDGET="${BENCH_BUDGET:-$BUDGET}"
: "${OUT:?set OUT to the folder the results go to}"
mkdir -p "$OUT"
rm -f "$OUT/bench-gpu.json" "$OUT/bench-gpu.md" "$OUT/log.txt"
exec > >(tee -a "$OUT/log.txt") 2>&1
START=$(date +%s)
RESERVE=10 # seconds kept for the last report

[ -f "$PACK/manifest.json" ] || { echo "no .gpu/manifest.json: run 'npm run bench:gpu -- prepare' here first (and carry .gpu)"; exit 2; }

# --- unpack ---------------------------------------------------------------------------------
echo "== unpack ($MODE) into $WORK"
rm -rf "$WORK"
mkdir -p "$WORK/bin" "$WORK/parts"
if [ "$MODE" = device ]; then
  # The GPU machine lacks the Vulkan loader and GL/EGL libraries that Dawn loads.
  for f in "$PACK"/deb/*.deb; do dpkg -x "$f" / || echo "dpkg -x $f failed"; done
  ldconfig
else
  # Only proves the packages unpack; this machine has its own.
  mkdir -p "$WORK/debroot"
  for f in "$PACK"/deb/*.deb; do dpkg -x "$f" "$WORK/debroot" || echo "dpkg -x $f failed"; done
fi
tar -C "$WORK/bin" -xJf "$PACK/node.tar.xz" || { echo "node.tar.xz did not unpack"; exit 3; }
tar -C "$WORK" -xJf "$PACK/node_modules.tar.xz" || { echo "node_modules.tar.xz did not unpack"; exit 3; }
cp "$PACK/mnemo.mjs" "$PACK/manifest.json" "$ROOT/scripts/bench-gpu/llama-bench.mjs" "$ROOT/scripts/bench-gpu/report.mjs" "$WORK/"
export PATH="$WORK/bin:$PATH"
cd "$WORK" || exit 3

if [ "$MODE" = device ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd"; break; fi
  done
  export XDG_RUNTIME_DIR=/tmp
else
  mkdir -p /tmp/mnemo-xdg
  export XDG_RUNTIME_DIR=/tmp/mnemo-xdg
  cp -r "$ROOT/node_modules/@node-llama-cpp/linux-x64" "$WORK/node_modules/@node-llama-cpp/" 2>/dev/null ||
    echo "no @node-llama-cpp/linux-x64 in this checkout: the llama.cpp CPU row is skipped"
fi

{
  printf '{"mode":"%s","started":"%s","host":"%s","kernel":"%s","node":"%s",' "$MODE" "$(date -u +%FT%TZ)" "$(hostname)" "$(uname -r)" "$(node --version)"
  printf '"vk_driver_files":"%s","prompt_tokens":%d,"gen_tokens":%d,"long_prompt_tokens":%d,"profile_steps":%d,"reps":%d,"budget_s":%d,' \
    "${VK_DRIVER_FILES:-}" "$PROMPT" "$GEN" "$LONG" "$PROFILE" "$REPS" "$BUDGET"
  printf '"nvidia_smi":"%s"}\n' "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | tr -d '"\n')"
} > "$WORK/parts/_meta.json"

report() { node "$WORK/report.mjs" "$WORK/parts" "$OUT" > /dev/null || echo "report failed"; }

# part NAME ROW KIND LIMIT_S COMMAND...   ROW: "runtime|model|weights"; KIND: main or long (a
# table cell), step (work others need) or check (reported, never a row).
FAILED=0
part() {
  local name=$1 row=$2 kind=$3 limit=$(( $4 * SCALE )); shift 4
  local left=$(( START + BUDGET - RESERVE - $(date +%s) ))
  if [ "$left" -lt 15 ]; then
    echo "== $name: skipped (budget spent)"
    FAILED=$((FAILED + 1))
    printf '{"name":"%s","row":"%s","kind":"%s","status":"skipped","rc":null,"seconds":0,"limit_s":0,"ended":%d}\n' "$name" "$row" "$kind" "$(( $(date +%s%N) / 1000000 ))" > "parts/$name.status.json"
    report
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (limit ${limit}s): $*"
  local t0 t1 rc status
  t0=$(date +%s%N)
  timeout -k 5 "$limit" "$@" > "parts/$name.json" 2> >(tee "parts/$name.err" >&2)
  rc=$?
  t1=$(date +%s%N)
  case $rc in 0) status=ok ;; 124 | 137) status=timeout ;; *) status=failed ;; esac
  printf '{"name":"%s","row":"%s","kind":"%s","status":"%s","rc":%d,"seconds":%s,"limit_s":%d,"ended":%d}\n' \
    "$name" "$row" "$kind" "$status" "$rc" "$(( (t1 - t0) / 1000000 ))e-3" "$limit" "$(( t1 / 1000000 ))" > "parts/$name.status.json"
  echo "== $name: $status (rc $rc)"
  [ "$status" = ok ] || [ "$kind" = check ] || FAILED=$((FAILED + 1))
  report
}

MNEMO_BENCH=(node mnemo.mjs bench --json)
GGUF="$WORK/gpt2-124m-q8_0.gguf"
BENCH=(--prompt-tokens "$PROMPT" --gen-tokens "$GEN" --profile-steps "$PROFILE")
# Prefill only: the prompt fills the context (1024), so one token is generated and not profiled.
LONGB=(--prompt-tokens "$LONG" --gen-tokens 1 --profile-steps 0)

# Most wanted first: if the budget runs out, the tail is what is lost.
part mnemo-124m-q8_0 "Mnemo|GPT-2 124M (synthetic)|Q8_0" main 90 "${MNEMO_BENCH[@]}" --model synthetic:gpt2-124m --quant q8_0 "${BENCH[@]}"
# The same weights as a GGUF file (136 MB: made here, it cannot travel) for llama.cpp.
part convert-124m-q8_0 "convert|GPT-2 124M (synthetic)|Q8_0" step 90 node mnemo.mjs convert --in synthetic:gpt2-124m --out "$GGUF" --type q8_0 --json
LLAMA=(node llama-bench.mjs --model "$GGUF" --prompt "$PROMPT" --gen "$GEN" --long "$LONG" --reps "$REPS")
if [ "$MODE" = device ]; then
  part llama-vulkan-124m-q8_0 "llama.cpp Vulkan|GPT-2 124M (same GGUF)|Q8_0" main 150 "${LLAMA[@]}" --backend vulkan
else
  # The Vulkan build must load from what travels, then refuse SwiftShader (a CPU device):
  # a check, not a row. The CPU build gives the dry run its llama.cpp row.
  part llama-vulkan-loads "llama.cpp Vulkan|GPT-2 124M (same GGUF)|Q8_0" check 60 "${LLAMA[@]}" --backend vulkan
  part llama-cpu-124m-q8_0 "llama.cpp CPU (dry run only)|GPT-2 124M (same GGUF)|Q8_0" main 150 "${LLAMA[@]}" --backend cpu
fi
part mnemo-124m-f16 "Mnemo|GPT-2 124M (synthetic)|F16" main 90 "${MNEMO_BENCH[@]}" --model synthetic:gpt2-124m --quant f16 "${BENCH[@]}"
part mnemo-124m-q8_0-long "Mnemo|GPT-2 124M (synthetic)|Q8_0" long 90 "${MNEMO_BENCH[@]}" --model synthetic:gpt2-124m --quant q8_0 "${LONGB[@]}"
part mnemo-124m-f16-long "Mnemo|GPT-2 124M (synthetic)|F16" long 90 "${MNEMO_BENCH[@]}" --model synthetic:gpt2-124m --quant f16 "${LONGB[@]}"
part mnemo-gguf-124m-q8_0 "Mnemo|GPT-2 124M (same GGUF)|Q8_0" main 90 "${MNEMO_BENCH[@]}" --model "$GGUF" "${BENCH[@]}"
part mnemo-355m-q8_0 "Mnemo|GPT-2 355M (synthetic)|Q8_0" main 120 "${MNEMO_BENCH[@]}" --model synthetic:gpt2-355m --quant q8_0 "${BENCH[@]}"
part mnemo-lstm-2x512 "Mnemo|LSTM 2x512 (synthetic)|F32" main 60 "${MNEMO_BENCH[@]}" --model synthetic:lstm-2x512 "${BENCH[@]}"

report
echo "== done in $(( $(date +%s) - START )) s; results in $OUT"
cat "$OUT/bench-gpu.md" 2>/dev/null
# Non-zero when a part that makes the table failed: the caller sees it in rc.
[ "$FAILED" -eq 0 ]
