#!/usr/bin/env bash
# Speed measurements of issue 7 on one GPU, in phases that each fit one device call (600 s).
#
#   bash benchmarks/gpu_speed.sh TAG PHASE     # PHASE: core | data | tests | regional_graphs
#                                              #        | regional | model | profile
#   bash benchmarks/gpu_speed.sh TAG list      # the phases and their steps
#   bash benchmarks/gpu_speed.sh TAG commands  # phase, step, limit and command, tab-separated
#
# One device call runs one phase, or two chained (BENCHMARKS.md, "GPU: the calls a session lent
# a GPU must make", has the exact calls and which phases the next lease runs: a session's 15
# device minutes do not hold them all); set PHASE_BUDGET to the seconds left for the last one.
# Every step has its own time limit, the limits of a phase
# add up to less than PHASE_BUDGET (540 s) and a step never runs past what is left of it, so a
# slow step loses only itself. Each step writes its record as soon as it ends, to $OUT (the
# device tool's folder; benchmarks/results without it) as TAG_<step>.json, and the phase log
# TAG_PHASE_log.txt grows line by line; a phase leaves at most 6 files (the tool returns 8).
# The profile phase prints per-component tables (benchmarks/component_times.py) into its log and
# writes the two CUDA-graph records (limits 450 s; ~3-4 min on an H200).
#
# Rehearsal on a CPU, every step of every phase with the tiny model at S=64, one timed
# iteration, small generated data, and torch.compile through dynamo's eager backend (it traces
# the graphs as on the GPU but generates no code; torch >= 2.10):
#
#   REHEARSE=1 OUT=/tmp/rehearsal bash benchmarks/gpu_speed.sh rehearse all
#
# Settings (environment; the rehearsal changes the defaults): PYTHON, DEVICE, MODEL, SIZE,
# DTYPE, ITERS, WARMUP, PHASE_BUDGET, STEPS (some of the phase's steps, in the order given; all
# of them without it), DATA_NUM, DATA_SIZE, WORKERS, FOLDER_NUM, FOLDER_SIZE
# (folder_b8's images), TRAIN_EXTRA (more train.py
# overrides), HIERA_VARIANT, HIERA_SIZE (also the U²-Net step's), U2NET_VARIANT, SAM_POINTS.
set -uo pipefail
usage="usage: bash benchmarks/gpu_speed.sh TAG core|data|tests|regional_graphs|regional|model|profile|all|list|commands"
tag=${1:?$usage}
phase=${2:?$usage}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here" || exit 2
if [[ ${REHEARSE:-0} == 1 ]]; then
  # fp32: CPU bf16 autocast is many times slower than fp32, and the flag is all it proves.
  : "${DEVICE:=cpu}" "${MODEL:=pmgsam_tiny}" "${SIZE:=64}" "${DTYPE:=fp32}" "${ITERS:=1}"
  : "${WARMUP:=0}" "${DATA_NUM:=8}" "${DATA_SIZE:=160x120}" "${WORKERS:=2}"
  : "${FOLDER_NUM:=4}" "${FOLDER_SIZE:=400x300}"
  : "${HIERA_VARIANT:=tiny}" "${HIERA_SIZE:=64}" "${U2NET_VARIANT:=u2netp}" "${SAM_POINTS:=2}" "${PHASE_BUDGET:=900}"
  : "${TRAIN_EXTRA:=train.device=cpu train.num_threads=1 model.image_size=64}"
  export TORCH_COMPILE_OVERRIDE_BACKENDS=${TORCH_COMPILE_OVERRIDE_BACKENDS:->=0:eager}
fi
py=${PYTHON:-python3}
device=${DEVICE:-cuda}
dtype=${DTYPE:-bf16}
budget=${PHASE_BUDGET:-540}
dest=${OUT:-benchmarks/results}
work=${TMPDIR:-/tmp}/pmgsam_gpu_speed_$tag
export PYTHONUNBUFFERED=1
eff=($py -m pmgsam.efficiency --model "${MODEL:-pmgsam_hiera_b+}" --device "$device"
  --dtype "$dtype" --iters "${ITERS:-20}" --warmup "${WARMUP:-5}")
[[ -n ${SIZE:-} ]] && eff+=(--size "$SIZE")
# Per-component times of the eager forward and training step (benchmarks/component_times.py).
comp=($py benchmarks/component_times.py --model "${MODEL:-pmgsam_hiera_b+}" --device "$device"
  --dtype "$dtype" --iters "${ITERS:-20}" --warmup "${WARMUP:-5}")
[[ -n ${SIZE:-} ]] && comp+=(--size "$SIZE")

steps_core="infer_b1 infer_b8 train_b4 vs_sam hiera_attention"
# The efficiency steps time the package's speed defaults (cuDNN's algorithm timing on, the
# U²-Net's BatchNorms folded, channels-last off) plus what their names add. train_b4_cl: the
# speed options the GPU training configs set (channels-last, with cuDNN's algorithm timing),
# which the H200 measured one at a time (2026-11-30), together.
steps_data="synth train_py train_b4_cl infer_b8_cl u2net_bn_fold"
# train_b4_cl_bf16_gn: the fusion's GroupNorms in bf16 (performance.bf16_group_norm, never
# measured yet), against data's train_b4_cl.
steps_tests="cuda_tests train_b4_cl_bf16_gn"
# Training's compile, never measured yet, first: infer_b8_regional has an H200 record (a 121 s
# first call). train_b4_regional's limit allows for the frozen branches' graphs (as inference's)
# plus forward and backward graphs of the trainable blocks.
steps_regional="train_b4_regional infer_b1_regional infer_b8_regional"
# Regional compile with CUDA graphs over it (never measured yet): regional compile took batch 8
# to 54.1 images/s on the H200, eager CUDA graphs remove Python's per-operator launches; these
# two are the likeliest to meet the inference targets. Each record's first_call_ms is the
# compile (cold unless the regional phase ran on this machine before).
steps_regional_graphs="infer_b8_regional_graphs infer_b1_regional_graphs"
steps_model="infer_b8_model infer_b1_model"
# Where the eager time goes (issue 7: ~125 ms of 260 per batch of 8 was outside both branches),
# and how much of it is the host's: _graphs replays predictions as CUDA graphs
# (performance.cuda_graphs, never measured yet), against core's infer_b1 / infer_b8 (an eager
# batch 1 launches ~1,700 operators one by one from Python).
# folder_b8: a folder of 4000x3000 JPEGs through Predictor.predict_dataset with inference's
# default loader workers on a GPU, the maps written in between or on writer threads (MapWriter,
# on by default on a GPU; neither measured there yet).
steps_profile="infer_b1_graphs components_b8 components_b8_cl components_train_b4 infer_b8_graphs folder_b8"

# step NAME: the limit (s) and the command of one step.
define() {
  local name=$1 j=$dest/${tag}_$1.json
  case $name in
    infer_b1) limit=90 cmd=("${eff[@]}" --batch 1 --json "$j") ;;
    infer_b8) limit=100 cmd=("${eff[@]}" --batch 8 --json "$j") ;;
    infer_b1_graphs) limit=60 cmd=("${eff[@]}" --batch 1 --cuda-graphs --json "$j") ;;
    infer_b8_graphs) limit=80 cmd=("${eff[@]}" --batch 8 --cuda-graphs --json "$j") ;;
    train_b4) limit=110 cmd=("${eff[@]}" --batch 4 --train --json "$j") ;;
    vs_sam) limit=150 cmd=("${eff[@]}" --batch 1 --iters "${ITERS:-10}" --compare sam_vit_b
      --sam-points-per-side "${SAM_POINTS:-32}" --json "$j") ;;
    hiera_attention) limit=60 cmd=($py benchmarks/hiera_attention.py --device "$device"
      --dtype "$dtype" --variant "${HIERA_VARIANT:-base_plus}" --size "${HIERA_SIZE:-1024}"
      --batch 8 --iters "${ITERS:-10}") ;;
    synth) limit=90 cmd=($py -m pmgsam.data.synthetic --layout dis5k --num "${DATA_NUM:-128}"
      --size "${DATA_SIZE:-1024x768}" --out "$work/data" --overwrite --no-progress) ;;
    # Three epochs with persistent workers (the config's, on since they were measured): epochs
    # 2 and 3 show the steady loader + step rate. Overrides only what the config sets otherwise.
    train_py) limit=240 cmd=($py train.py --config configs/pmgsam_dis5k.yaml
      --output-dir "$work/run" data.root="$work/data/DIS5K" data.num_workers="${WORKERS:-12}"
      schedule.epochs=3 schedule.warmup_epochs=0 train.log_every=8 train.preview_every=0
      model.hiera_checkpoint=null model.u2net_checkpoint=null ${TRAIN_EXTRA:-}) ;;
    infer_b8_cl) limit=80 cmd=("${eff[@]}" --batch 8 --channels-last --json "$j") ;;
    train_b4_cl) limit=90 cmd=("${eff[@]}" --batch 4 --train --channels-last --json "$j") ;;
    train_b4_cl_bf16_gn) limit=90 cmd=("${eff[@]}" --batch 4 --train --channels-last
      --bf16-group-norm --json "$j") ;;
    u2net_bn_fold) limit=40 cmd=($py benchmarks/u2net_bn_fold.py --device "$device"
      --dtype "$dtype" --variant "${U2NET_VARIANT:-u2net}" --size "${HIERA_SIZE:-1024}"
      --batch 8 --iters "${ITERS:-10}" --channels-last) ;;
    infer_b8_regional) limit=160 cmd=("${eff[@]}" --batch 8 --channels-last --compile regional
      --json "$j") ;;
    train_b4_regional) limit=280 cmd=("${eff[@]}" --batch 4 --train --channels-last
      --compile regional --json "$j") ;;
    infer_b1_regional) limit=100 cmd=("${eff[@]}" --batch 1 --channels-last --compile regional
      --json "$j") ;;
    infer_b8_regional_graphs) limit=230 cmd=("${eff[@]}" --batch 8 --channels-last
      --compile regional --cuda-graphs --json "$j") ;;
    # SAM's generator in the same run as the fastest batch-1 path: the >= 25x target's ratio.
    infer_b1_regional_graphs) limit=200 cmd=("${eff[@]}" --batch 1 --channels-last
      --compile regional --cuda-graphs --compare sam_vit_b
      --sam-points-per-side "${SAM_POINTS:-32}" --json "$j") ;;
    cuda_tests) limit=390 cmd=($py -m pytest -q -p no:cacheprovider --durations=15 tests/test_cuda.py
      tests/test_performance_equivalence.py tests/test_performance_training.py
      tests/test_performance_compile.py tests/test_sam_finetune_host_reads.py
      tests/test_cuda_graphs.py tests/test_bf16_group_norm.py tests/test_loss_targets.py
      tests/test_map_writer.py) ;;
    infer_b8_model) limit=300 cmd=("${eff[@]}" --batch 8 --channels-last --compile model
      --json "$j") ;;
    infer_b1_model) limit=230 cmd=("${eff[@]}" --batch 1 --channels-last --compile model
      --json "$j") ;;
    components_b8) limit=60 cmd=("${comp[@]}" --batch 8 --kernels 25) ;;
    components_b8_cl) limit=60 cmd=("${comp[@]}" --batch 8 --channels-last --kernels 15) ;;
    components_train_b4) limit=70 cmd=("${comp[@]}" --batch 4 --train --channels-last --kernels 25) ;;
    folder_b8) limit=120 cmd=($py benchmarks/folder_inference.py --model "${MODEL:-pmgsam_hiera_b+}"
      --device "$device" --dtype "$dtype" --num "${FOLDER_NUM:-24}"
      --image-size "${FOLDER_SIZE:-4000x3000}" --batch 8 --writers 0,1,2,4 --rounds 2
      ${WORKERS:+--workers "$WORKERS"} ${SIZE:+--size "$SIZE"}) ;;
    *) echo "unknown step $name" >&2; return 2 ;;
  esac
}

run_phase() {
  local p=$1 names var log start deadline name left t0 rc summary=()
  var=steps_$p
  names=${!var:-}
  [[ -n $names ]] || { echo "unknown phase '$p'; $usage" >&2; return 2; }
  if [[ -n ${STEPS:-} ]]; then
    for name in $STEPS; do
      [[ " $names " == *" $name "* ]] || { echo "STEPS: '$name' is no step of phase $p ($names)" >&2; return 2; }
    done
    names=$STEPS
  fi
  mkdir -p "$dest" "$work"
  log=$dest/${tag}_${p}_log.txt
  start=$(date +%s)
  deadline=$((start + budget))
  echo "== phase $p of $tag on $device, $(date -u +%FT%TZ), budget ${budget}s: $names" | tee -a "$log"
  for name in $names; do
    define "$name" || return 2
    left=$((deadline - $(date +%s)))
    if ((left < 20)); then
      echo "== $name: skipped, ${left}s of the phase left" | tee -a "$log"
      summary+=("$name skipped")
      continue
    fi
    ((limit > left)) && limit=$left
    # The step's own scratch run: a phase run again on a warm machine starts it afresh.
    [[ $name == train_py ]] && rm -rf "$work/run"
    echo "== $name (limit ${limit}s): ${cmd[*]}" | tee -a "$log"
    t0=$(date +%s)
    timeout -k 5 "$limit" "${cmd[@]}" 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $(($(date +%s) - t0))s" | tee -a "$log"
    summary+=("$name exit $rc $(($(date +%s) - t0))s")
    if [[ $name == train_py ]]; then
      # The trainer's own per-epoch record (images/s, time) and log, even from a killed run.
      cp "$work/run/metrics.jsonl" "$dest/${tag}_train_py_metrics.jsonl" 2>/dev/null
      cp "$work/run/train.log" "$dest/${tag}_train_py_log.txt" 2>/dev/null
    fi
  done
  echo "== phase $p done in $(($(date +%s) - start))s: ${summary[*]}" | tee -a "$log"
  if compgen -G "$dest/${tag}_*.json" >/dev/null; then
    # The table of this TAG's records in $dest alone: a scratch folder left by an earlier
    # rehearsal (another commit, another torch) must not add rows.
    rm -rf "$work/records" && mkdir -p "$work/records"
    cp "$dest/${tag}"_*.json "$work/records/"
    $py benchmarks/render_table.py --results "$work/records" --print 2>&1 | tee -a "$log"
  fi
}

phases="core data tests regional_graphs regional model profile"
case $phase in
  list)
    for p in $phases; do var=steps_$p; echo "$p: ${!var}"; done ;;
  commands)  # read by tests/test_performance_gpu_script.py, which checks every command without running it
    for p in $phases; do
      var=steps_$p
      for name in ${!var}; do
        define "$name" || exit 2
        (IFS=$'\t'; echo "$p"$'\t'"$name"$'\t'"$limit"$'\t'"${cmd[*]}")
      done
    done ;;
  all)
    for p in $phases; do run_phase "$p" || exit 2; done ;;
  *)
    run_phase "$phase" || exit 2 ;;
esac
