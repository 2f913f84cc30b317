// pyfastopt/factored.hpp: Adafactor (Shazeer & Stern 2018) as torch.optim.Adafactor, on one
// tensor in place. Not a rule of the rule list: a matrix's second moment is the outer product
// of its row and column statistics, so an element's update depends on its row's and column's
// sums over the whole gradient, and the step size on the norms of the parameter and the
// update. The element math is written once (AdafactorElement); the CPU driver below makes the
// passes over memory:
//   matrix (b, r, c):  1. sum p^2, row and column sums of g^2   2. sum u^2   3. p update
//   vector:            1. sum p^2, v update, sum u^2            2. p update
// Work is split into fixed blocks whatever the thread count and every sum is added block by
// block in order, so results are bitwise identical for any thread count.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <vector>
#if defined(_OPENMP)
#include <omp.h>
#endif

#include "config.hpp"

namespace pyfastopt::factored {

/// The per-step scalars, computed by the caller in double (pyfastopt.functional.adafactor_).
struct AdafactorCoeffs {
    double grad_factor;      ///< -1 when maximizing, over grad_scale when there is one
    double one_minus_beta2;  ///< t^beta2_decay: the weight of this step's statistics
    double eps1;             ///< floor of the variance estimate's row mean; eps1^2 of the estimate
    double eps2;             ///< floor of the parameter's RMS in the step size
    double rho;              ///< min(lr, 1/sqrt(t))
    double decay;            ///< 1 - lr * weight_decay
    double d;                ///< clipping threshold of the update's RMS
};

/// The element math, shared by every driver.
template <class T>
struct AdafactorElement {
    /// torch.lerp: a + w (b - a) for w < 0.5, else b - (b - a)(1 - w) (exact at w = 1).
    PFO_HD static PFO_INLINE T lerp(T a, T b, T w) {
        return w < T(0.5) ? a + w * (b - a) : b - (b - a) * (T(1) - w);
    }
    /// The unclipped update of gradient g given its variance estimate v.
    PFO_HD static PFO_INLINE T update(T g, T v, T eps1_sq) {
        const T floor = v < eps1_sq ? eps1_sq : v;
        return g * (T(1) / std::sqrt(floor));
    }
};

/// Running sums per quantity (kLanes of them, combined in a fixed order) of term(i), an
/// array of Q values, over i in [lo, hi): the same bits at every call site. (With `omp simd
/// reduction` the compiler picks the order per call site, and the serial and the threaded
/// call of one loop differed.)
inline constexpr std::size_t kLanes = 8;

template <std::size_t Q, class Term>
std::array<double, Q> ordered_sums(std::size_t lo, std::size_t hi, Term&& term) {
    double acc[Q][kLanes] = {};
    std::size_t i = lo;
    for (; i + kLanes <= hi; i += kLanes)
        for (std::size_t k = 0; k < kLanes; ++k) {
            const std::array<double, Q> t = term(i + k);
            for (std::size_t q = 0; q < Q; ++q) acc[q][k] += t[q];
        }
    for (; i < hi; ++i) {
        const std::array<double, Q> t = term(i);
        for (std::size_t q = 0; q < Q; ++q) acc[q][0] += t[q];
    }
    std::array<double, Q> sums{};
    for (std::size_t q = 0; q < Q; ++q)
        for (std::size_t k = 0; k < kLanes; ++k) sums[q] += acc[q][k];
    return sums;
}

/// Elements per block (rows of a matrix are never split; a block has whole rows).
inline constexpr std::size_t kFactoredBlock = std::size_t{1} << 15;

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

/// A tensor of shape (..., rows, cols) as `batch` matrices: row_var has batch * rows
/// entries, col_var batch * cols (torch's keepdim shapes, flattened).
template <class T>
void adafactor_matrix(const AdafactorCoeffs& c,
                      T* p,
                      const T* g,
                      T* row_var,
                      T* col_var,
                      std::size_t batch,
                      std::size_t rows,
                      std::size_t cols,
                      int threads) {
    using E = AdafactorElement<T>;
    if (batch == 0 || rows == 0 || cols == 0) return;  // (torch divides 0 by 0 here)
    const std::size_t rows_per_block = std::max<std::size_t>(1, kFactoredBlock / cols);
    const std::size_t blocks_per_matrix = (rows + rows_per_block - 1) / rows_per_block;
    const std::size_t blocks = batch * blocks_per_matrix;
    const std::size_t numel = batch * rows * cols;
    auto row_range = [&](std::size_t blk, std::size_t& m, std::size_t& r0, std::size_t& r1) {
        m = blk / blocks_per_matrix;
        r0 = (blk % blocks_per_matrix) * rows_per_block;
        r1 = std::min(rows, r0 + rows_per_block);
    };
    // 1. sum p^2 and the row and column sums of g^2 (columns: one partial row per block)
    std::vector<double> p_sq(blocks), col_part(blocks * cols), row_sum(batch * rows);
    for_blocks(blocks, numel, threads, [&](std::size_t blk) {
        std::size_t m, r0, r1;
        row_range(blk, m, r0, r1);
        double* col = &col_part[blk * cols];
        double pp = 0;
        for (std::size_t r = r0; r < r1; ++r) {
            const T* gr = g + (m * rows + r) * cols;
            const T* pr = p + (m * rows + r) * cols;
            const auto sums = ordered_sums<2>(0, cols, [&](std::size_t j) {
                const double gj = double(T(c.grad_factor) * gr[j]), pj = double(pr[j]);
                col[j] += gj * gj;
                return std::array<double, 2>{gj * gj, pj * pj};
            });
            row_sum[m * rows + r] = sums[0];
            pp += sums[1];
        }
        p_sq[blk] = pp;
    });
    // the factored statistics: row and column means of g^2, averaged into row_var, col_var
    const T w = T(c.one_minus_beta2);
    std::vector<T> row_mean_of(batch);
    double p_total = 0;
    for (std::size_t blk = 0; blk < blocks; ++blk) p_total += p_sq[blk];
    for (std::size_t m = 0; m < batch; ++m) {
        double mean = 0;
        for (std::size_t r = 0; r < rows; ++r) {
            T& rv = row_var[m * rows + r];
            rv = E::lerp(rv, T(row_sum[m * rows + r] / double(cols)), w);
            mean += double(rv);
        }
        const T floor = T(c.eps1);
        row_mean_of[m] = std::max(T(mean / double(rows)), floor);
        for (std::size_t j = 0; j < cols; ++j) {
            double sum = 0;
            for (std::size_t b = m * blocks_per_matrix; b < (m + 1) * blocks_per_matrix; ++b)
                sum += col_part[b * cols + j];
            T& cv = col_var[m * cols + j];
            cv = E::lerp(cv, T(sum / double(rows)), w);
        }
    }
    const T eps1_sq = T(c.eps1 * c.eps1);
    // the update at an element: g / sqrt(max(row_var col_var / row_mean, eps1^2))
    auto update_row = [&](std::size_t m, std::size_t r, auto&& use) {
        const T rv = row_var[m * rows + r];
        const T rm = row_mean_of[m];
        const T* cv = col_var + m * cols;
        const T* gr = g + (m * rows + r) * cols;
        use(gr, rv, rm, cv);
    };
    // 2. sum u^2
    std::vector<double> u_sq(blocks);
    for_blocks(blocks, numel, threads, [&](std::size_t blk) {
        std::size_t m, r0, r1;
        row_range(blk, m, r0, r1);
        double uu = 0;
        for (std::size_t r = r0; r < r1; ++r) {
            update_row(m, r, [&](const T* gr, T rv, T rm, const T* cv) {
                uu += ordered_sums<1>(0, cols, [&](std::size_t j) {
                    const T u = E::update(T(c.grad_factor) * gr[j], rv * cv[j] / rm, eps1_sq);
                    return std::array<double, 1>{double(u) * double(u)};
                })[0];
            });
        }
        u_sq[blk] = uu;
    });
    double u_total = 0;
    for (std::size_t blk = 0; blk < blocks; ++blk) u_total += u_sq[blk];
    const double n = double(numel);
    const double alpha = std::max(c.eps2, std::sqrt(p_total) / std::sqrt(n)) * c.rho;
    const double denom = std::max(1.0, std::sqrt(u_total) / (std::sqrt(n) * c.d));
    const T step = T(-alpha / denom), decay = T(c.decay);
    // 3. p <- decay p + step u
    for_blocks(blocks, numel, threads, [&](std::size_t blk) {
        std::size_t m, r0, r1;
        row_range(blk, m, r0, r1);
        for (std::size_t r = r0; r < r1; ++r) {
            T* pr = p + (m * rows + r) * cols;
            update_row(m, r, [&](const T* gr, T rv, T rm, const T* cv) {
#pragma omp simd
                for (std::size_t j = 0; j < cols; ++j) {
                    const T u = E::update(T(c.grad_factor) * gr[j], rv * cv[j] / rm, eps1_sq);
                    pr[j] = decay * pr[j] + step * u;
                }
            });
        }
    });
}

/// A vector (or a 0-d tensor, n = 1) with its full second moment `variance`.
template <class T>
void adafactor_vector(
    const AdafactorCoeffs& c, T* p, const T* g, T* variance, std::size_t n, int threads) {
    using E = AdafactorElement<T>;
    if (n == 0) return;
    const std::size_t blocks = (n + kFactoredBlock - 1) / kFactoredBlock;
    const T w = T(c.one_minus_beta2), eps1_sq = T(c.eps1 * c.eps1), sign = T(c.grad_factor);
    // 1. sum p^2; v <- lerp(v, g^2, w); sum u^2
    std::vector<double> p_sq(blocks), u_sq(blocks);
    for_blocks(blocks, n, threads, [&](std::size_t blk) {
        const std::size_t lo = blk * kFactoredBlock, hi = std::min(n, lo + kFactoredBlock);
        const auto sums = ordered_sums<2>(lo, hi, [&](std::size_t i) {
            const T gi = sign * g[i];
            const T v = E::lerp(variance[i], gi * gi, w);
            variance[i] = v;
            const T u = E::update(gi, v, eps1_sq);
            return std::array<double, 2>{double(p[i]) * double(p[i]), double(u) * double(u)};
        });
        p_sq[blk] = sums[0];
        u_sq[blk] = sums[1];
    });
    double p_total = 0, u_total = 0;
    for (std::size_t blk = 0; blk < blocks; ++blk) {
        p_total += p_sq[blk];
        u_total += u_sq[blk];
    }
    const double size = double(n);
    const double alpha = std::max(c.eps2, std::sqrt(p_total) / std::sqrt(size)) * c.rho;
    const double denom = std::max(1.0, std::sqrt(u_total) / (std::sqrt(size) * c.d));
    const T step = T(-alpha / denom), decay = T(c.decay);
    // 2. p <- decay p + step u
    for_blocks(blocks, n, threads, [&](std::size_t blk) {
        const std::size_t lo = blk * kFactoredBlock, hi = std::min(n, lo + kFactoredBlock);
#pragma omp simd
        for (std::size_t i = lo; i < hi; ++i) {
            const T u = E::update(sign * g[i], variance[i], eps1_sq);
            p[i] = decay * p[i] + step * u;
        }
    });
}

}  // namespace pyfastopt::factored
