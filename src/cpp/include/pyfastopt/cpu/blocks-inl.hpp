// pyfastopt/cpu/blocks-inl.hpp: fixed blocks and sums in a fixed order, for the drivers that
// reduce over whole tensors (factored-inl.hpp, lbfgs-inl.hpp); re-included per ISA with
// PFO_CPU_NAMESPACE set, as loop-inl.hpp.
#pragma once

#ifndef PFO_CPU_NAMESPACE
#define PFO_CPU_NAMESPACE cpu
#endif

#include <cstddef>
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace pyfastopt::PFO_CPU_NAMESPACE {

/// Running sums per lane, combined in a fixed order: 32 keep four to eight vector adds in
/// flight (8 would wait on the add latency).
inline constexpr std::size_t kLanes = 32;

/// The sum of f(i) over [lo, hi) in double, f called once per i in order of i within each
/// lane: kLanes running sums added up in a fixed order, so the same bits whatever the call
/// site (`omp simd reduction` lets the compiler choose an order per
/// call site: the serial and the threaded call of one loop differed).
template <class F>
double lane_sum(std::size_t lo, std::size_t hi, F&& f) {
    double acc[kLanes] = {};
    std::size_t i = lo;
    for (; i + kLanes <= hi; i += kLanes) {
#pragma omp simd
        for (std::size_t k = 0; k < kLanes; ++k) acc[k] += f(i + k);
    }
    for (; i < hi; ++i) acc[0] += f(i);
    double sum = 0;
    for (std::size_t k = 0; k < kLanes; ++k) sum += acc[k];
    return sum;
}

/// Runs body(block) for blocks [0, count) over up to `threads` OpenMP threads (static split).
template <class Body>
void for_blocks(std::size_t count, std::size_t elements, int threads, Body&& body) {
#if defined(_OPENMP)
    if (threads > 1 && count > 1 && elements >= (std::size_t{1} << 16)) {
#pragma omp parallel for schedule(static) num_threads(threads)
        for (std::ptrdiff_t b = 0; b < static_cast<std::ptrdiff_t>(count); ++b)
            body(static_cast<std::size_t>(b));
        return;
    }
#endif
    (void)threads;
    (void)elements;
    for (std::size_t b = 0; b < count; ++b) body(b);
}

}  // namespace pyfastopt::PFO_CPU_NAMESPACE
