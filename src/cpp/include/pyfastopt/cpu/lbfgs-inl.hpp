// pyfastopt/cpu/lbfgs-inl.hpp: L-BFGS's two-loop recursion (Nocedal 1980) as torch.optim.LBFGS
// computes it, in one pass over memory per history pair and loop: each pass makes the
// pair's axpy and, on the updated vector, the next pair's dot product (NumPy makes a dot, a
// multiply and a subtraction: three passes). Re-included per ISA with PFO_CPU_NAMESPACE set,
// as loop-inl.hpp. Dots are summed in double in fixed blocks and lanes, so results are
// bitwise the same for any thread count; each dot is then rounded to T, as torch's are.
#pragma once

#ifndef PFO_CPU_NAMESPACE
#define PFO_CPU_NAMESPACE cpu
#endif

#include <cstddef>
#include <cstdint>
#include <vector>

#include "blocks-inl.hpp"

namespace pyfastopt::PFO_CPU_NAMESPACE {

/// Elements per block of a pass.
inline constexpr std::size_t kHistoryBlock = std::size_t{1} << 14;

/// x[j] <- update(x[j], j) over all j, and the dot product of z with the new x.
template <class T, class Update>
double update_then_dot(T* x, const T* z, std::size_t n, int threads, Update&& update) {
    const std::size_t blocks = (n + kHistoryBlock - 1) / kHistoryBlock;
    std::vector<double> part(blocks);
    for_blocks(blocks, n, threads, [&](std::size_t b) {
        const std::size_t lo = b * kHistoryBlock, hi = std::min(n, lo + kHistoryBlock);
        part[b] = lane_sum(lo, hi, [&](std::size_t j) {
            x[j] = update(x[j], j);
            return double(z[j]) * double(x[j]);
        });
    });
    double sum = 0;
    for (double s : part) sum += s;
    return sum;
}

/// q <- -H grad by the two-loop recursion over the pairs (y = dirs[row], s = stps[row],
/// ro = 1 / y's) of rows[0..k) (oldest first), H's initial diagonal h_diag; al[i] gets the
/// first loop's coefficient of pair i. dirs and stps are rows of n elements.
template <class T>
void lbfgs_direction(const T* grad,
                     const T* dirs,
                     const T* stps,
                     const T* ro,
                     const std::int64_t* rows,
                     std::size_t k,
                     std::size_t n,
                     T h_diag,
                     T* q,
                     T* al,
                     int threads) {
    auto y = [&](std::size_t i) { return dirs + std::size_t(rows[i]) * n; };
    auto s = [&](std::size_t i) { return stps + std::size_t(rows[i]) * n; };
    if (k == 0) {  // q = -h_diag g
        update_then_dot(q, grad, n, threads, [&](T, std::size_t j) { return -grad[j] * h_diag; });
        return;
    }
    // q = -g, and the newest pair's s.q; then newest to oldest: a = ro s.q, q -= a y, the
    // next pair's s.q (after the oldest pair: q *= h_diag, and the oldest pair's y.q)
    double dot =
        update_then_dot(q, s(k - 1), n, threads, [&](T, std::size_t j) { return -grad[j]; });
    for (std::size_t i = k; i-- > 0;) {
        const T a = al[i] = T(dot) * ro[rows[i]];
        const T* yi = y(i);
        if (i > 0)
            dot = update_then_dot(q, s(i - 1), n, threads,
                                  [&](T x, std::size_t j) { return x - yi[j] * a; });
        else
            dot = update_then_dot(q, y(0), n, threads,
                                  [&](T x, std::size_t j) { return (x - yi[j] * a) * h_diag; });
    }
    // oldest to newest: q += (a - ro y.q) s, and the next pair's y.q
    for (std::size_t i = 0; i < k; ++i) {
        const T c = al[i] - T(dot) * ro[rows[i]];
        const T* si = s(i);
        dot = update_then_dot(q, i + 1 < k ? y(i + 1) : si, n, threads,
                              [&](T x, std::size_t j) { return x + si[j] * c; });
    }
}

}  // namespace pyfastopt::PFO_CPU_NAMESPACE
