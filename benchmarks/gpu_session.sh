#!/usr/bin/env bash
# One call on a lent NVIDIA machine (DESIGN.md, "Measuring on a GPU"): versions, the
# host cost of a launch, the matrix products, the convolutions against cuDNN, the GPU time of each kernel of a step, the
# host profile of a step, the model table of benchmarks/bench_gpu.py (through the engine's
# launch and through numba-cuda's dispatcher), the start-up to a first step (compiling, and
# with the kernels kept on disk), then the CUDA tests on the real device. Every part has its own time limit, so one that
# hangs or fails leaves the others' output; logs go to $OUT (or /tmp/atlas-gpu).
#
#     bash benchmarks/gpu_session.sh                  # every part
#     PARTS="products profile" bash benchmarks/gpu_session.sh
set -u
out=${OUT:-/tmp/atlas-gpu}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 NUMBA_ENABLE_CUDASIM=0
py=${PYTHON:-python3}
parts=" ${PARTS:-versions launch products convolutions profile host steps steps-numba startup tests} "
part() {  # part SECONDS NAME COMMAND...: run with a limit, log to $out/NAME.txt
    local limit=$1 name=$2
    shift 2
    [[ $parts == *" $name "* ]] || return 0
    echo "=== $name ($(date +%T), limit ${limit}s)"
    timeout "$limit" "$@" > "$out/$name.txt" 2>&1
    echo "=== $name: exit $? after ${SECONDS}s in all"
    tail -n 60 "$out/$name.txt"
}
part 30 versions bash -c "nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem \
    --format=csv; nproc; $py -c 'import numpy, numba, numba_cuda, torch; \
print(numpy.__version__, numba.__version__, numba_cuda.__version__, torch.__version__)'"
part 60 launch "$py" benchmarks/bench_gpu.py --launch
part 120 products "$py" benchmarks/bench_gpu.py --products
part 90 convolutions "$py" benchmarks/bench_gpu.py --convolutions
part 120 profile "$py" benchmarks/bench_gpu.py --profile
part 120 host "$py" benchmarks/bench_gpu.py --host-profile
part 150 steps "$py" benchmarks/bench_gpu.py
part 100 steps-numba env ATLAS_CUDA_LAUNCH=numba "$py" benchmarks/bench_gpu.py --repeats 20
part 240 startup "$py" benchmarks/bench_gpu.py --startup --families lenet lstm
# (not the machine-code check: it needs the cuda-toolkit wheels of the dev extra, which the
# GPU machine's python3 lacks, and it needs no GPU)
part "${TEST_LIMIT:-170}" tests "$py" -m pytest -q -x -p no:cacheprovider \
    -k "(cuda or twin or blocked or split or device_array) and not values_on_chip" \
    tests/kernels tests/test_arena.py tests/nn/test_sequential.py tests/nn/test_recurrent.py \
    tests/nn/test_graph.py tests/models/test_gan.py tests/models/test_autoencoder.py \
    tests/test_style_transfer.py tests/test_views.py
