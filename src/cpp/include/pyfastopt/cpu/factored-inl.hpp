// pyfastopt/cpu/factored-inl.hpp: the CPU driver of Adafactor (factored.hpp) on one tensor
// in place, re-included per ISA with PFO_CPU_NAMESPACE set (as loop-inl.hpp). Passes:
//   matrix (b, r, c):  1. sum p^2, row and column sums of g^2, sum u^2 in closed form
//                      [2. sum u^2, only where the closed form does not hold]   3. p update
//   vector:            1. sum p^2, v update, sum u^2            2. p update
// Work is split into fixed blocks whatever the thread count and every sum is added block by
// block in order, so results are bitwise identical for any thread count.
#pragma once

#ifndef PFO_CPU_NAMESPACE
#define PFO_CPU_NAMESPACE cpu
#endif

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "../factored.hpp"
#include "blocks-inl.hpp"

namespace pyfastopt::PFO_CPU_NAMESPACE {

using factored::AdafactorCoeffs;

/// Elements per block (rows of a matrix are never split; a block has whole rows).
inline constexpr std::size_t kFactoredBlock = std::size_t{1} << 15;

/// The fewest rows in a block of a matrix.
inline constexpr std::size_t kMinRows = 64;

/// The step size: -max(eps2, RMS(p)) rho / max(1, RMS(u) / d), from the sums of squares.
inline double adafactor_step(const AdafactorCoeffs& c, double p_sq, double u_sq, double n) {
    const double alpha = std::max(c.eps2, std::sqrt(p_sq) / std::sqrt(n)) * c.rho;
    return -alpha / std::max(1.0, std::sqrt(u_sq) / (std::sqrt(n) * c.d));
}

/// A tensor of shape (..., rows, cols) as `batch` matrices: row_var has batch * rows
/// entries, col_var batch * cols (torch's keepdim shapes, flattened).
///
/// The update g / sqrt(max(row_var col_var / row_mean, eps1^2)) is computed as
/// g min(a_r b_c, 1/eps1) with a_r = 1/sqrt(row_var / row_mean) and b_c = 1/sqrt(col_var)
/// made once per row and column: two multiplies an element instead of a division and a
/// square root (the same to a few ulps), so that the passes run at the memory's speed.
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
    if (batch == 0 || rows == 0 || cols == 0) return;  // (torch divides 0 by 0 here)
    // at least kMinRows rows a block: the column partials (one row of doubles a block) stay
    // a small fraction of the matrix
    const std::size_t rows_per_block = std::max(kMinRows, kFactoredBlock / cols);
    const std::size_t blocks_per_matrix = (rows + rows_per_block - 1) / rows_per_block;
    const std::size_t blocks = batch * blocks_per_matrix;
    const std::size_t numel = batch * rows * cols;
    const T factor = T(c.grad_factor);
    // runs each(m, r, row offset) for the rows of block blk; returns nothing
    auto rows_of = [&](std::size_t blk, auto&& each) {
        const std::size_t m = blk / blocks_per_matrix;
        const std::size_t r0 = (blk % blocks_per_matrix) * rows_per_block;
        for (std::size_t r = r0; r < std::min(rows, r0 + rows_per_block); ++r)
            each(m, r, (m * rows + r) * cols);
    };
    // 1. sum p^2, the row statistics (rows are whole in a block), the column sums of g^2 and
    //    of g^2 / row_var (one partial row of each per block)
    const T w = T(c.one_minus_beta2);
    std::vector<double> p_sq(blocks), col_part(blocks * cols), weighted_part(blocks * cols);
    for_blocks(blocks, numel, threads, [&](std::size_t blk) {
        double* col = &col_part[blk * cols];
        double* weighted = &weighted_part[blk * cols];
        double pp = 0;
        rows_of(blk, [&](std::size_t m, std::size_t r, std::size_t at) {
            const T* gr = g + at;
            const T* pr = p + at;
            const double sum = lane_sum(0, cols, [&](std::size_t j) {
                const double gj = double(factor * gr[j]);
                col[j] += gj * gj;
                return gj * gj;
            });
            T& rv = row_var[m * rows + r];
            rv = rules::lerp(rv, T(sum / double(cols)), w);
            const double inv_rv = 1.0 / double(rv);
#pragma omp simd
            for (std::size_t j = 0; j < cols; ++j) {
                const double gj = double(factor * gr[j]);
                weighted[j] += gj * gj * inv_rv;
            }
            pp += lane_sum(0, cols, [&](std::size_t j) { return double(pr[j]) * double(pr[j]); });
        });
        p_sq[blk] = pp;
    });
    // the column statistics, averaged into col_var, and the inverse roots of both
    std::vector<T> inv_root_row(batch * rows), inv_root_col(batch * cols);
    double p_total = 0, u_closed = 0;
    T max_a = 0, max_b = 0;
    for (std::size_t blk = 0; blk < blocks; ++blk) p_total += p_sq[blk];
    for (std::size_t m = 0; m < batch; ++m) {
        const T* rv = row_var + m * rows;
        T* cv = col_var + m * cols;
        double mean = 0;
        for (std::size_t r = 0; r < rows; ++r) mean += double(rv[r]);
        const double row_mean = double(std::max(T(mean / double(rows)), T(c.eps1)));
        for (std::size_t r = 0; r < rows; ++r) {
            const T a = T(1.0 / std::sqrt(double(rv[r]) / row_mean));
            inv_root_row[m * rows + r] = a;
            max_a = a > max_a || a != a ? a : max_a;  // (a NaN stays)
        }
        double* col_sum = &col_part[m * blocks_per_matrix * cols];  // block by block, in order
        double* weighted_sum = &weighted_part[m * blocks_per_matrix * cols];
        for (std::size_t b = 1; b < blocks_per_matrix; ++b) {
            for (std::size_t j = 0; j < cols; ++j) {
                col_sum[j] += col_sum[b * cols + j];
                weighted_sum[j] += weighted_sum[b * cols + j];
            }
        }
        double u_matrix = 0;
        for (std::size_t j = 0; j < cols; ++j) {
            cv[j] = rules::lerp(cv[j], T(col_sum[j] / double(rows)), w);
            const T b = T(1.0 / std::sqrt(double(cv[j])));
            inv_root_col[m * cols + j] = b;
            max_b = b > max_b || b != b ? b : max_b;
            u_matrix += double(b) * double(b) * weighted_sum[j];
        }
        u_closed += row_mean * u_matrix;
    }
    const T cap = T(1.0 / c.eps1);                 // 1 / sqrt(eps1^2): the floor of the estimate
    auto update = [factor, cap](T gj, T a, T b) {  // (by value: no reload after each store)
        const T s = a * b;
        return factor * gj * (s < cap ? s : cap);
    };
    // 2. sum u^2 = sum_ij g_ij^2 a_i^2 b_j^2 = row_mean sum_j b_j^2 sum_i g_ij^2 / row_var_i,
    // made in pass 1 (one pass less over g), unless the floor eps1^2 binds somewhere
    // (a_i b_j > cap), a factor is NaN, or an update may overflow T: then summed over the
    // updates themselves.
    const double big = double(std::numeric_limits<T>::max()) * 0.5;
    double u_total = u_closed;
    if (!(max_a * max_b <= cap) || !(u_closed < big * big)) {
        std::vector<double> u_sq(blocks);
        for_blocks(blocks, numel, threads, [&](std::size_t blk) {
            double uu = 0;
            rows_of(blk, [&](std::size_t m, std::size_t r, std::size_t at) {
                const T* gr = g + at;
                const T a = inv_root_row[m * rows + r];
                const T* b = &inv_root_col[m * cols];
                uu += lane_sum(0, cols, [&](std::size_t j) {
                    const double u = double(update(gr[j], a, b[j]));
                    return u * u;
                });
            });
            u_sq[blk] = uu;
        });
        u_total = 0;
        for (std::size_t blk = 0; blk < blocks; ++blk) u_total += u_sq[blk];
    }
    const T step = T(adafactor_step(c, p_total, u_total, double(numel))), decay = T(c.decay);
    // 3. p <- decay p + step u
    for_blocks(blocks, numel, threads, [&](std::size_t blk) {
        rows_of(blk, [&](std::size_t m, std::size_t r, std::size_t at) {
            const T* gr = g + at;
            T* pr = p + at;
            const T a = inv_root_row[m * rows + r];
            const T* b = &inv_root_col[m * cols];
#pragma omp simd
            for (std::size_t j = 0; j < cols; ++j)
                pr[j] = decay * pr[j] + step * update(gr[j], a, b[j]);
        });
    });
}

/// A vector (or a 0-d tensor, n = 1) with its full second moment `variance`.
template <class T>
void adafactor_vector(
    const AdafactorCoeffs& c, T* p, const T* g, T* variance, std::size_t n, int threads) {
    using E = factored::AdafactorElement<T>;
    if (n == 0) return;
    const std::size_t blocks = (n + kFactoredBlock - 1) / kFactoredBlock;
    const T w = T(c.one_minus_beta2), eps1_sq = T(c.eps1 * c.eps1), factor = T(c.grad_factor);
    // 1. v <- lerp(v, g^2, w); sum u^2; sum p^2
    std::vector<double> p_sq(blocks), u_sq(blocks);
    for_blocks(blocks, n, threads, [&](std::size_t blk) {
        const std::size_t lo = blk * kFactoredBlock, hi = std::min(n, lo + kFactoredBlock);
        u_sq[blk] = lane_sum(lo, hi, [&](std::size_t i) {
            const T gi = factor * g[i];
            variance[i] = rules::lerp(variance[i], gi * gi, w);
            const double u = double(E::update(gi, variance[i], eps1_sq));
            return u * u;
        });
        p_sq[blk] = lane_sum(lo, hi, [&](std::size_t i) { return double(p[i]) * double(p[i]); });
    });
    double p_total = 0, u_total = 0;
    for (std::size_t blk = 0; blk < blocks; ++blk) {
        p_total += p_sq[blk];
        u_total += u_sq[blk];
    }
    const T step = T(adafactor_step(c, p_total, u_total, double(n))), decay = T(c.decay);
    // 2. p <- decay p + step u
    for_blocks(blocks, n, threads, [&](std::size_t blk) {
        const std::size_t lo = blk * kFactoredBlock, hi = std::min(n, lo + kFactoredBlock);
#pragma omp simd
        for (std::size_t i = lo; i < hi; ++i)
            p[i] = decay * p[i] + step * E::update(factor * g[i], variance[i], eps1_sq);
    });
}

}  // namespace pyfastopt::PFO_CPU_NAMESPACE
