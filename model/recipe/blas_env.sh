# blas_env.sh - sourced by the training and benchmark scripts: chooses OpenBLAS's kernels by CPU flags.
# OpenBLAS picks its kernels by CPU model and falls back to its SSE3 "Prescott" ones on CPUs it does
# not know (virtual machines): about 3x slower training here. Unless OPENBLAS_CORETYPE is already set,
# this exports SkylakeX on AVX-512 CPUs and Haswell on AVX2+FMA ones, and says so on stderr.
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    _flags=" $(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true) "
    if [[ $_flags == *" avx512f "* && $_flags == *" avx512vl "* && $_flags == *" avx512bw "* ]]; then
        export OPENBLAS_CORETYPE=SkylakeX
    elif [[ $_flags == *" avx2 "* && $_flags == *" fma "* ]]; then
        export OPENBLAS_CORETYPE=Haswell
    fi
    [ -n "${OPENBLAS_CORETYPE:-}" ] && echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE (from the CPU flags)" >&2
    unset _flags
fi
