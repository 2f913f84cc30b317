// pyfastopt/cpu/loop-inl.hpp: header-only CPU driver that runs a rule over a Batch.
//
// Include it from one TU to get pyfastopt::cpu::run<Rule>() built for that TU's flags.
// The "-inl" suffix means "re-included per target": pyfastopt's extension compiles it once
// per ISA with PFO_CPU_NAMESPACE set (cpu_baseline, cpu_avx2, ...), so the per-ISA copies
// have different symbols and can never be merged by the linker.
//
// Work is split into fixed blocks of kBlock elements per tensor. Blocks are dealt to threads
// by element offset (balanced however tensor sizes vary) inside one parallel region; block
// boundaries, and so the reduction order, never depend on the thread count.
#pragma once

#ifndef PFO_CPU_NAMESPACE
#define PFO_CPU_NAMESPACE cpu
#endif

#include <algorithm>
#include <cstddef>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <pyfastopt/rules/all.hpp>  // generated (CMakeLists.txt, "The rule list")
#include "../batch.hpp"
#include "blocks-inl.hpp"

namespace pyfastopt::PFO_CPU_NAMESPACE {

/// Elements per work item; also the granularity of every reduction.
inline constexpr std::size_t kBlock = std::size_t{1} << 13;
/// Below this many elements in a call, one thread does everything (no fork/join cost).
inline constexpr std::size_t kParallelGrain = std::size_t{1} << 16;

/// Calls body(tensor, begin, end, block) for every block of every tensor, spread over
/// up to `threads` OpenMP threads.
template <class Body>
void for_each_block(const std::size_t* sizes, std::size_t count, int threads, Body&& body) {
    std::vector<std::size_t> offset(count + 1, 0);
    for (std::size_t t = 0; t < count; ++t) offset[t + 1] = offset[t] + sizes[t];
    const std::size_t total = offset[count];

    // Runs the blocks whose first element (in the concatenation of all tensors) is in [lo, hi).
    auto run_range = [&](std::size_t lo, std::size_t hi) {
        std::size_t t = static_cast<std::size_t>(
            std::upper_bound(offset.begin() + 1, offset.end(), lo) - (offset.begin() + 1));
        for (; t < count && offset[t] < hi; ++t) {
            const std::size_t first = lo > offset[t] ? (lo - offset[t] + kBlock - 1) / kBlock : 0;
            for (std::size_t b = first; b * kBlock < sizes[t] && offset[t] + b * kBlock < hi; ++b) {
                body(t, b * kBlock, std::min(sizes[t], (b + 1) * kBlock), b);
            }
        }
    };

#if defined(_OPENMP)
    if (threads > 1 && total >= kParallelGrain) {
#pragma omp parallel num_threads(threads)
        {
            const std::size_t id = static_cast<std::size_t>(omp_get_thread_num());
            const std::size_t n = static_cast<std::size_t>(omp_get_num_threads());
            run_range(total / n * id + total % n * id / n,
                      total / n * (id + 1) + total % n * (id + 1) / n);
        }
        return;
    }
#endif
    (void)threads;
    run_range(0, total);
}

/// Where an element is: rules with kIndexed (random streams) receive it.
struct ElementIndex {
    std::size_t tensor, index;
};

template <class Rule, class = void>
struct IsIndexed : std::false_type {};
template <class Rule>
struct IsIndexed<Rule, std::void_t<decltype(Rule::kIndexed)>> : std::true_type {};

template <class Rule, class = void>
struct Writes : std::true_type {};
template <class Rule>
struct Writes<Rule, std::void_t<decltype(Rule::kWrites)>> : std::bool_constant<Rule::kWrites> {};

/// One element: load it and its states into registers, apply the rule, store back.
template <class Rule, class T, class... Extra>
PFO_INLINE void apply_at(const CoeffsOf<Rule, T>& c,
                         T* p,
                         const T* g,
                         const std::array<T*, Rule::kStates>& state,
                         std::size_t tensor,
                         std::size_t i,
                         std::size_t index_base,
                         Extra... extra) {
    constexpr int K = Rule::kStates;
    T s[K > 0 ? K : 1];
    for (int k = 0; k < K; ++k) s[k] = state[k][i];
    T pi = p[i];
    if constexpr (IsIndexed<Rule>::value) {
        Rule::apply(c, pi, g[i], s, ElementIndex{tensor, index_base + i});
    } else {
        (void)tensor;
        (void)index_base;
        Rule::apply(c, pi, g[i], s, extra...);
    }
    if constexpr (Writes<Rule>::value) {
        p[i] = pi;
        for (int k = 0; k < K; ++k) state[k][i] = s[k];
    }
}

/// The block loops below are compiled once per target and called from both the serial
/// path and the OpenMP region. Inlined into each, GCC compiled the loop twice and commuted
/// the operands of an add or multiply in one copy; x86 returns the first operand's NaN, so
/// where both operands were NaN of different signs (or one was the negative "default NaN" of
/// an invalid operation such as inf - inf) the NaN's sign bit depended on the thread count
/// (seen on the baseline target). One copy, and blocks that never depend on the thread
/// count, give the same bits for any thread count. Different targets are different code: a
/// NaN's sign may differ between them (values do not); a canonical NaN on every store would
/// fix that too, but cost about 20% on cache-resident Adam, so it is not done.
#if defined(__GNUC__) && !defined(__clang__)
#define PFO_ONE_COPY __attribute__((noinline, noclone))
#elif defined(__GNUC__)
#define PFO_ONE_COPY __attribute__((noinline))
#elif defined(_MSC_VER)
#define PFO_ONE_COPY __declspec(noinline)
#else
#define PFO_ONE_COPY
#endif

/// The elements [begin, end) of one tensor (the pointers' element i is the tensor's element
/// index_base + i: tiles of the mixed-storage driver pass their offset). `omp simd` asserts the
/// iterations are independent (the buffers are checked not to overlap), so the compiler vectorises
/// the loop for the TU's ISA. Coefficients are taken by value: a local copy cannot alias the
/// stores, so they stay in registers instead of being reloaded every iteration.
template <class Rule, class T>
PFO_ONE_COPY void run_block(const CoeffsOf<Rule, T> c,
                            T* p,
                            const T* g,
                            const std::array<T*, Rule::kStates>& state,
                            std::size_t tensor,
                            std::size_t begin,
                            std::size_t end,
                            std::size_t index_base = 0) {
#pragma omp simd
    for (std::size_t i = begin; i < end; ++i)
        apply_at<Rule, T>(c, p, g, state, tensor, i, index_base);
}

/// As run_block, for a rule that also reduces one or two sums, written to sums[0..R): kLanes
/// running sums each (blocks-inl.hpp), added in a fixed order. (`omp simd reduction` over
/// two scalars left this loop scalar, a chain of dependent adds: 0.6 ns an element in cache.)
template <class Rule, class T>
PFO_ONE_COPY void run_block_reduce(const CoeffsOf<Rule, T> c,
                                   T* p,
                                   const T* g,
                                   const std::array<T*, Rule::kStates>& state,
                                   std::size_t begin,
                                   std::size_t end,
                                   double* sums) {
    static_assert(Rule::kReductions == 1 || Rule::kReductions == 2, "one or two sums");
    double a0[kLanes] = {}, a1[kLanes] = {};
    auto at = [&](std::size_t i, std::size_t lane) {
        double element[2] = {0, 0};
        apply_at<Rule, T>(c, p, g, state, 0, i, 0, element);
        a0[lane] += element[0];
        a1[lane] += element[1];
    };
    std::size_t i = begin;
    for (; i + kLanes <= end; i += kLanes) {
#pragma omp simd
        for (std::size_t k = 0; k < kLanes; ++k) at(i + k, k);
    }
    for (; i < end; ++i) at(i, 0);
    double s0 = 0, s1 = 0;
    for (std::size_t k = 0; k < kLanes; ++k) {
        s0 += a0[k];
        s1 += a1[k];
    }
    sums[0] = s0;
    if constexpr (Rule::kReductions == 2) sums[1] = s1;
}

template <class Rule, class T>
std::array<T*, Rule::kStates> states_of(const BatchOf<Rule, T>& b, std::size_t t) {
    std::array<T*, Rule::kStates> s{};
    for (int k = 0; k < Rule::kStates; ++k) s[k] = b.states[k][t];
    return s;
}

/// Applies Rule to every element of the batch, in place. (No software prefetch of the next
/// tensor: on the 2-core EPYC it made 2000 x 512 steps 1.6x slower, not faster.)
template <class Rule, class T>
void run(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, int threads) {
    for_each_block(b.sizes, b.count, threads,
                   [&](std::size_t t, std::size_t begin, std::size_t end, std::size_t) {
                       run_block<Rule, T>(c, b.params[t], b.grads[t], states_of<Rule, T>(b, t), t,
                                          begin, end);
                   });
}

template <class Rule, class = void>
struct HasSums : std::false_type {};
template <class Rule>
struct HasSums<Rule, std::void_t<decltype(Rule::kReductions)>> : std::true_type {};

/// Runs block(tensor, begin, end, out) on every block, each writing its Rule::kReductions
/// sums to out, then adds the blocks of each tensor in order into sums[t * kReductions + j]:
/// the same bits for any thread count.
template <class Rule, class Block>
void reduce_blocks(
    const std::size_t* sizes, std::size_t count, int threads, double* sums, Block&& block) {
    constexpr std::size_t R = Rule::kReductions;
    std::vector<std::size_t> first_block(count + 1, 0);
    for (std::size_t t = 0; t < count; ++t)
        first_block[t + 1] = first_block[t] + (sizes[t] + kBlock - 1) / kBlock;
    std::vector<double> partial(first_block[count] * R, 0.0);
    for_each_block(sizes, count, threads,
                   [&](std::size_t t, std::size_t begin, std::size_t end, std::size_t blk) {
                       block(t, begin, end, &partial[(first_block[t] + blk) * R]);
                   });
    for (std::size_t t = 0; t < count; ++t) {
        for (std::size_t j = 0; j < R; ++j) {
            double total = 0;
            for (std::size_t blk = first_block[t]; blk < first_block[t + 1]; ++blk)
                total += partial[blk * R + j];
            sums[t * R + j] = total;
        }
    }
}

/// Like run(), and writes Rule::kReductions sums per tensor to sums[t * kReductions + j].
/// Each block is summed on its own, then blocks are added in order.
template <class Rule, class T>
void run_reduce(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, int threads, double* sums) {
    reduce_blocks<Rule>(b.sizes, b.count, threads, sums,
                        [&](std::size_t t, std::size_t begin, std::size_t end, double* out) {
                            run_block_reduce<Rule, T>(c, b.params[t], b.grads[t],
                                                      states_of<Rule, T>(b, t), begin, end, out);
                        });
}

}  // namespace pyfastopt::PFO_CPU_NAMESPACE
