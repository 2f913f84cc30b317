// pyfastopt/kernels.hpp: the one header a C++ program includes to run pyfastopt's rules
// without Python. Public, header-only, Python-free: every rule (rules/all.hpp), the CPU
// driver (cpu/loop-inl.hpp, pyfastopt::cpu::run over a Batch) and two helpers for the
// common case of one tensor:
//
//   auto c = pyfastopt::coeffs_from<pyfastopt::rules::AdamPlain, float>(x);  // x: doubles
//   pyfastopt::cpu::update<pyfastopt::rules::AdamPlain>(c, p, g, {m, v}, n, threads);
//
// x holds the rule's per-step coefficients in the order of its Coeffs fields: exactly the
// tuple Python's pyfastopt.functional.<name>_rule(...).coeffs(t) returns (so a C++ program
// can take them from Python, or compute them as that function documents).
//
// The code is compiled with the includer's flags, for the includer's CPU. For the rounding
// of the wheel's kernels compile with -O3 -fno-math-errno -fno-trapping-math
// -ffp-contract=off (never -ffast-math) and -fopenmp-simd, or -fopenmp for `threads > 1`
// (CMake: link pyfastopt::flags, and pyfastopt::openmp from COMPONENTS OpenMP). Without
// OpenMP every call runs on the calling thread (and GCC warns about the ignored `omp simd`
// pragmas under -Wall unless -fopenmp-simd is given or the directory is a system include,
// as CMake makes it for the imported pyfastopt::kernels).
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include <pyfastopt/rules/all.hpp>  // generated (CMakeLists.txt, "The rule list")
#include "batch.hpp"
#include "coeffs.hpp"
#include "cpu/loop-inl.hpp"

namespace pyfastopt {

namespace PFO_CPU_NAMESPACE {

/// One step of Rule on one tensor of n elements, in place: param and states[k] (the
/// rule's Rule::kStateNames, in order) are updated. grad is ignored by the rules that read
/// no gradient (it may be null for them). Preconditions: every pointer is valid for n
/// elements and no two buffers overlap. threads > 1 takes effect only when compiled with
/// OpenMP and n >= kParallelGrain; the result never depends on it.
template <class Rule, class T>
void update(const CoeffsOf<Rule, T>& c,
            T* param,
            const T* grad,
            const std::array<T*, Rule::kStates>& states,
            std::size_t n,
            int threads = 1) {
    if constexpr (!ReadsGradient<Rule>::value) grad = param;  // their convention
    BatchOf<Rule, T> batch;
    batch.count = 1;
    batch.sizes = &n;
    batch.params = &param;
    batch.grads = &grad;
    for (int k = 0; k < Rule::kStates; ++k) batch.states[k] = &states[k];
    run<Rule, T>(c, batch, threads);
}

}  // namespace PFO_CPU_NAMESPACE
}  // namespace pyfastopt
