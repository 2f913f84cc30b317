// pyfastopt/sparse.hpp: row-sparse updates of a table (rows x dim), such as an embedding.
//
// A gradient given as (row index, row values) pairs becomes a Batch whose tensors are the
// touched rows, so every element rule and every driver updates tables unchanged. Rows that
// no index names are never read or written ("lazy" updates: their state does not decay, as
// in torch.optim.SparseAdam).
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

#include "batch.hpp"
#include "config.hpp"
#include "rules/common.hpp"

namespace pyfastopt::sparse {

/// Position of the first index outside [0, rows), or n if every index is in range.
template <class I>
std::size_t first_out_of_range(const I* indices, std::size_t n, std::size_t rows) {
    for (std::size_t i = 0; i < n; ++i)
        if (indices[i] < 0 || static_cast<std::size_t>(indices[i]) >= rows) return i;
    return n;
}

/// The touched rows of a sparse gradient, in ascending order, each once with its gradient:
/// a row of `values` when its index occurs once, else the sum of its rows in order of
/// occurrence (so the bits never depend on threads), kept in `summed`.
template <class T>
struct TouchedRows {
    std::vector<std::size_t> rows;
    std::vector<const T*> grads;
    std::vector<T> summed;

    // grads point into summed: a copy's would point into the original's (a move keeps them).
    TouchedRows(const TouchedRows&) = delete;
    TouchedRows& operator=(const TouchedRows&) = delete;
    TouchedRows(TouchedRows&&) = default;
    TouchedRows& operator=(TouchedRows&&) = default;

    /// indices[i] names the table row that values[i * dim, (i + 1) * dim) belongs to.
    /// The indices must be in range (first_out_of_range).
    template <class I>
    TouchedRows(const I* indices, std::size_t n, const T* values, std::size_t dim) {
        std::vector<std::size_t> order(n);
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t a, std::size_t b) { return indices[a] < indices[b]; });
        std::size_t repeated = 0;  // rows of `summed`, counted first: its data never moves
        for (std::size_t i = 1; i < n; ++i)
            repeated += indices[order[i]] == indices[order[i - 1]] &&
                        (i == 1 || indices[order[i - 1]] != indices[order[i - 2]]);
        summed.resize(repeated * dim);
        T* next = summed.data();
        for (std::size_t i = 0; i < n;) {
            std::size_t end = i + 1;
            while (end < n && indices[order[end]] == indices[order[i]]) ++end;
            rows.push_back(static_cast<std::size_t>(indices[order[i]]));
            if (end == i + 1) {
                grads.push_back(values + order[i] * dim);
            } else {
                std::copy_n(values + order[i] * dim, dim, next);
                for (std::size_t j = i + 1; j < end; ++j)
                    for (std::size_t k = 0; k < dim; ++k) next[k] += values[order[j] * dim + k];
                grads.push_back(next);
                next += dim;
            }
            i = end;
        }
    }
};

/// The Batch of a rule over the touched rows of a table and its K state tables.
template <class T, int K>
class RowBatch {
public:
    RowBatch(const TouchedRows<T>& touched,
             std::size_t dim,
             T* table,
             const std::array<T*, K>& state_tables)
        : sizes_(touched.rows.size(), dim), params_(touched.rows.size()) {
        for (std::size_t i = 0; i < touched.rows.size(); ++i)
            params_[i] = table + touched.rows[i] * dim;
        for (int k = 0; k < K; ++k) {
            states_[k].resize(touched.rows.size());
            for (std::size_t i = 0; i < touched.rows.size(); ++i)
                states_[k][i] = state_tables[k] + touched.rows[i] * dim;
        }
        batch_.count = touched.rows.size();
        batch_.sizes = sizes_.data();
        batch_.params = params_.data();
        batch_.grads = touched.grads.data();
        for (int k = 0; k < K; ++k) batch_.states[k] = states_[k].data();
    }
    const Batch<T, K>& batch() const { return batch_; }

private:
    std::vector<std::size_t> sizes_;
    std::vector<T*> params_;
    std::array<std::vector<T*>, K> states_;
    Batch<T, K> batch_;
};

/// Row-wise Adagrad (the "rowwise" Adagrad of large recommender systems): one accumulator
/// per row, grown by the row's mean squared gradient, scales the whole row's step:
///   sum_r <- sum_r + mean_k(g_rk^2);  p_rk <- p_rk - lr * g_rk / (sqrt(sum_r) + eps).
/// The mean is summed in double, in element order.
struct RowwiseAdagrad {
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T eps;
        T neg_lr;  ///< -lr
    };
    template <class T>
    static void apply_row(const Coeffs<T>& c, T* p, const T* g, T& sum, std::size_t dim) {
        double squares = 0;
        for (std::size_t k = 0; k < dim; ++k) {
            const T gk = rules::effective_grad(g[k], p[k], c.grad_sign, c.weight_decay);
            squares += static_cast<double>(gk) * static_cast<double>(gk);
        }
        sum = sum + static_cast<T>(dim ? squares / static_cast<double>(dim) : 0.0);
        const T scale = c.neg_lr / (rules::sqrt(sum) + c.eps);
        for (std::size_t k = 0; k < dim; ++k)
            p[k] = p[k] + scale * rules::effective_grad(g[k], p[k], c.grad_sign, c.weight_decay);
    }
};

}  // namespace pyfastopt::sparse
