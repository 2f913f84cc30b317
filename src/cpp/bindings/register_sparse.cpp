// Row-sparse kernels: `_core.<rule>_rows(param, indices, values, states, coeffs)` applies a
// rule to the rows of a table that `indices` names (sparse.hpp), and
// `_core.rowwise_adagrad_rows(param, indices, values, sum, coeffs)` keeps one accumulator
// per row. Duplicate indices are summed first; nothing is written unless every index is in
// range and every array passes its checks.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include <pyfastopt/rules/all.hpp>
#include <pyfastopt/sparse.hpp>

#include "../cpu/dispatch.hpp"
#include "buffers.hpp"
#include "rule_traits.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace pyfastopt::bindings {
namespace {

/// A table's row count and the elements per row; it needs at least one dimension.
struct TableShape {
    std::size_t rows, dim;
};

TableShape table_shape(const py::array& param) {
    if (param.ndim() < 1)
        throw py::value_error("param must have at least one dimension (its rows)");
    const auto rows = static_cast<std::size_t>(param.shape(0));
    return {rows, rows ? static_cast<std::size_t>(param.size()) / rows : 0};
}

/// The checked index and value arrays of a sparse gradient, and what the code that runs
/// without the GIL needs of them.
struct SparseGrad {
    py::array indices, values;
    std::size_t n;
    const void* index_data;
    std::size_t index_size;  ///< 4 or 8
    bool index_signed;

    /// f(const I* indices) with I the index type: int32/int64, signed or not.
    template <class F>
    decltype(auto) with_indices(F&& f) const {
        if (index_size == 4)
            return index_signed ? f(static_cast<const std::int32_t*>(index_data))
                                : f(static_cast<const std::uint32_t*>(index_data));
        return index_signed ? f(static_cast<const std::int64_t*>(index_data))
                            : f(static_cast<const std::uint64_t*>(index_data));
    }
};

/// Whether `a` holds I in native byte order (numpy's equivalence: int64 is 'l' or 'q').
template <class I>
bool holds(const py::array& a) {
    return py::isinstance<py::array_t<I>>(a);
}

template <class T, int K>
SparseGrad check_sparse(const CheckedBatch<T, K>& table,
                        py::handle indices_obj,
                        py::handle values_obj) {
    const py::array indices = as_ndarray(indices_obj, "indices");
    // Read in place, never converted, like every array argument (buffers.hpp): an index
    // array in the other byte order (np.dtype(">i8")) is refused, not misread, and so is an
    // unaligned one (misaligned loads).
    const bool is32 = holds<std::int32_t>(indices) || holds<std::uint32_t>(indices);
    if (!is32 && !holds<std::int64_t>(indices) && !holds<std::uint64_t>(indices))
        throw py::type_error("indices has dtype " + std::string(py::str(indices.dtype())) +
                             ", expected int32 or int64 (native byte order)");
    if (indices.ndim() != 1) throw py::value_error("indices must be one-dimensional");
    if (!(indices.flags() & py::array::c_style))
        throw py::value_error("indices must be C-contiguous");
    if (!(indices.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        throw py::value_error("indices must be aligned");
    const auto n = static_cast<std::size_t>(indices.shape(0));

    auto values = CheckedBatch<T, K>::checked_input(values_obj, "values");
    const py::array& param = table.param(0);
    bool same = values.ndim() == param.ndim() && static_cast<std::size_t>(values.shape(0)) == n;
    for (py::ssize_t d = 1; same && d < param.ndim(); ++d) same = values.shape(d) == param.shape(d);
    if (!same) throw py::value_error("values must have shape (len(indices),) + param.shape[1:]");
    table.check_read(values, "values");
    table.check_read(indices, "indices");  // an update must not write the caller's indices
    return {indices, values, n, indices.data(), is32 ? 4u : 8u, indices.dtype().kind() == 'i'};
}

/// Without the GIL: checks the indices' range, sorts them, sums the rows of duplicates and
/// calls f(touched rows), which writes. With the GIL again, raises a ValueError naming the
/// first index out of range (f not called: nothing written).
template <class T, class F>
void with_touched_rows(const SparseGrad& grad, TableShape shape, F&& f) {
    const auto* values = static_cast<const T*>(grad.values.data());
    std::size_t bad;
    {
        const py::gil_scoped_release release;  // no Python object touched below
        bad = grad.with_indices([&](const auto* indices) {
            const std::size_t first = sparse::first_out_of_range(indices, grad.n, shape.rows);
            if (first == grad.n) f(sparse::TouchedRows<T>(indices, grad.n, values, shape.dim));
            return first;
        });
    }
    if (bad != grad.n)
        throw py::value_error("indices[" + std::to_string(bad) +
                              "] = " + std::string(py::str(grad.indices.attr("__getitem__")(bad))) +
                              " is out of range for param with " + std::to_string(shape.rows) +
                              " rows");
}

template <class Rule>
void call_rows(
    py::handle param, py::handle indices, py::handle values, py::handle states, py::handle coeffs) {
    py::list params;
    params.append(param);
    py::list state_lists;
    for (py::handle s : states) {
        py::list one;
        one.append(s);
        state_lists.append(one);
    }
    with_dtype_of(params, [&](auto zero) {
        using T = decltype(zero);
        constexpr int K = Rule::kStates;
        CheckedBatch<T, K> table(params, state_lists, Rule::kStateNames);
        const auto shape = table_shape(table.param(0));
        const auto grad = check_sparse(table, indices, values);
        const auto c = coeffs_from<Rule, T>(coeffs);
        const auto whole = table.without_grads();
        std::array<T*, K> state_tables{};
        for (int k = 0; k < K; ++k) state_tables[k] = whole.states[k][0];
        with_touched_rows<T>(grad, shape, [&](const sparse::TouchedRows<T>& touched) {
            const sparse::RowBatch<T, K> rows(touched, shape.dim, whole.params[0], state_tables);
            dispatch::run<Rule, T>(c, rows.batch());
        });
        return py::none();
    });
}

template <class T>
void rowwise_adagrad(
    py::handle param, py::handle indices, py::handle values, py::handle sum, py::handle coeffs) {
    using Rule = sparse::RowwiseAdagrad;
    py::list params;
    params.append(param);
    CheckedBatch<T, 0> table(params, py::list(), nullptr);
    const auto shape = table_shape(table.param(0));
    const auto grad = check_sparse(table, indices, values);
    // sum: one value per row, written, so it must not share memory with anything else
    py::list sums;
    sums.append(sum);
    CheckedBatch<T, 0> accumulator(sums, py::list(), nullptr, Roles{"sum", "values"});
    const py::array& acc = accumulator.param(0);
    if (acc.ndim() != 1 || static_cast<std::size_t>(acc.shape(0)) != shape.rows)
        throw py::value_error("sum must have shape (param.shape[0],)");
    accumulator.check_read(table.param(0), "param");
    accumulator.check_read(grad.values, "values");
    accumulator.check_read(grad.indices, "indices");
    const auto c = coeffs_from<Rule, T>(coeffs);
    T* p = static_cast<T*>(const_cast<void*>(table.param(0).data()));
    T* s = static_cast<T*>(const_cast<void*>(accumulator.param(0).data()));
    const int max_threads = dispatch::num_threads();
    with_touched_rows<T>(grad, shape, [&](const sparse::TouchedRows<T>& touched) {
        const auto count = static_cast<std::ptrdiff_t>(touched.rows.size());
        const int threads =
            touched.rows.size() * shape.dim >= (std::size_t{1} << 16) ? max_threads : 1;
        (void)threads;
#pragma omp parallel for num_threads(threads) schedule(static)
        for (std::ptrdiff_t i = 0; i < count; ++i) {
            const std::size_t r = touched.rows[static_cast<std::size_t>(i)];
            Rule::apply_row(c, p + r * shape.dim, touched.grads[static_cast<std::size_t>(i)], s[r],
                            shape.dim);
        }
    });
}

constexpr const char* kRowsDoc =
    "In-place step of the rows of param (a table) that indices names; values holds one "
    "gradient row per index (duplicates are summed first). Private: use "
    "pyfastopt.sparse / pyfastopt.functional with a SparseRows gradient.";

}  // namespace

void register_sparse(py::module_& m) {
#define PFO_REGISTER_ROWS(Rule, name)                                                       \
    if constexpr (ReadsGrad<rules::Rule>::value && #name[0] != '_')                         \
        m.def(#name "_rows", &call_rows<rules::Rule>, py::arg("param"), py::arg("indices"), \
              py::arg("values"), py::arg("states"), py::arg("coeffs"), kRowsDoc);
    PFO_FOR_EACH_RULE(PFO_REGISTER_ROWS)
#undef PFO_REGISTER_ROWS
    m.def(
        "rowwise_adagrad_rows",
        [](py::handle param, py::handle indices, py::handle values, py::handle sum,
           py::handle coeffs) {
            py::list params;
            params.append(param);
            return with_dtype_of(params, [&](auto zero) {
                rowwise_adagrad<decltype(zero)>(param, indices, values, sum, coeffs);
                return py::none();
            });
        },
        py::arg("param"), py::arg("indices"), py::arg("values"), py::arg("sum"), py::arg("coeffs"),
        kRowsDoc);
}

}  // namespace pyfastopt::bindings
