// `_core.hogwild_train`, `hogwild_decision_function`, `hogwild_objective`: Hogwild! SGD for
// sparse linear models (pyfastopt/hogwild.hpp). Private: use pyfastopt.hogwild, which
// normalises dtypes and checks hyperparameters; this layer checks everything it relies on
// for memory safety (dtypes, sizes, contiguity, indptr, index range) before any work, raising
// TypeError/ValueError naming the argument, then releases the GIL. Compiled for the baseline
// ISA only: the inner loops are gathers and scatters over a row's non-zeros, not vectorisable.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>

#include <pyfastopt/hogwild.hpp>

#include "buffers.hpp"

namespace pyfastopt::bindings {
namespace {

namespace py = pybind11;

/// `obj` as a 1-D C-contiguous aligned array of dtype Want in native byte order (no
/// conversion: pyfastopt.hogwild converts), else TypeError/ValueError.
template <class Want>
py::array_t<Want> vector_arg(py::handle obj, const char* name, bool written = false) {
    if (!py::isinstance<py::array>(obj))
        throw py::type_error(std::string(name) + " must be a numpy.ndarray");
    auto arr = py::reinterpret_borrow<py::array>(obj);
    if (!py::isinstance<py::array_t<Want>>(obj))
        throw py::type_error(std::string(name) + " has dtype " + std::string(py::str(arr.dtype())) +
                             ", expected " + std::string(py::str(py::dtype::of<Want>())));
    if (arr.ndim() != 1)
        throw py::value_error(std::string(name) + " must be 1-dimensional, got " +
                              std::to_string(arr.ndim()) + " dimensions");
    if (!(arr.flags() & py::array::c_style))
        throw py::value_error(std::string(name) + " must be C-contiguous");
    if (!(arr.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        throw py::value_error(std::string(name) + " must be aligned");
    if (written && !arr.writeable()) throw py::value_error(std::string(name) + " is read-only");
    return py::reinterpret_borrow<py::array_t<Want>>(obj);
}

/// The checked CSR arrays (kept alive here) and their view.
template <class T, class I>
struct CheckedCsr {
    py::array_t<std::int64_t> indptr;
    py::array_t<I> indices;
    py::array_t<T> data;
    hogwild::Csr<T, I> view;

    CheckedCsr(
        py::handle indptr_, py::handle indices_, py::handle data_, std::size_t n_cols, int threads)
        : indptr(vector_arg<std::int64_t>(indptr_, "indptr")),
          indices(vector_arg<I>(indices_, "indices")),
          data(vector_arg<T>(data_, "data")) {
        const auto np1 = static_cast<std::size_t>(indptr.size());
        if (np1 == 0) throw py::value_error("indptr must hold n_rows + 1 >= 1 offsets, got 0");
        const std::int64_t* p = indptr.data();
        const auto nnz = static_cast<std::int64_t>(indices.size());
        if (data.size() != indices.size())
            throw py::value_error("data has " + std::to_string(data.size()) +
                                  " values but indices " + std::to_string(indices.size()));
        if (p[0] != 0) throw py::value_error("indptr[0] must be 0, got " + std::to_string(p[0]));
        for (std::size_t i = 1; i < np1; ++i)  // order first: then p[i] - p[i - 1] cannot overflow
            if (p[i] < p[i - 1])
                throw py::value_error("indptr must be non-decreasing: indptr[" + std::to_string(i) +
                                      "] = " + std::to_string(p[i]) + " < indptr[" +
                                      std::to_string(i - 1) + "] = " + std::to_string(p[i - 1]));
            else if (p[i] - p[i - 1] >= (std::int64_t{1} << 32))
                throw py::value_error("row " + std::to_string(i - 1) + " has 2^32 or more values");
        if (p[np1 - 1] != nnz)
            throw py::value_error("indptr[-1] must equal len(indices) = " + std::to_string(nnz) +
                                  ", got " + std::to_string(p[np1 - 1]));
        // One pass over both arrays that vectorises (signed compares; x - x == 0 for finite
        // x), on `threads` threads without the GIL; the offending element is looked for only
        // when it fails.
        const I* idx = indices.data();
        const T* x = data.data();
        const auto max_index = static_cast<std::uint64_t>(std::numeric_limits<I>::max());
        const I last = n_cols == 0 ? I(-1) : I(std::min<std::uint64_t>(n_cols - 1, max_index));
        int bad = 0;
        {
            const py::gil_scoped_release release;
#if defined(_OPENMP)
#pragma omp parallel for schedule(static) reduction(| : bad) \
    num_threads(std::max(threads, 1)) if (threads > 1 && nnz > (std::int64_t{1} << 20))
#endif
            for (std::int64_t k = 0; k < nnz; ++k)
                bad |= (idx[k] < 0) | (idx[k] > last) | !(x[k] - x[k] == T(0));
        }
        if (bad) {
            const I* out = std::find_if(idx, idx + nnz, [&](I j) { return j < 0 || j > last; });
            if (out != idx + nnz)
                throw py::value_error("indices[" + std::to_string(out - idx) +
                                      "] = " + std::to_string(*out) + " is out of range for " +
                                      std::to_string(n_cols) + " features");
            const T* nan = std::find_if(x, x + nnz, [](T v) { return !std::isfinite(v); });
            throw py::value_error("data must be finite: data[" + std::to_string(nan - x) +
                                  "] = " + std::to_string(*nan));
        }
        view = {p, idx, data.data(), np1 - 1, n_cols};
    }
};

/// `obj` as the labels of n_rows rows: a 1-D C-contiguous array of dtype T, one finite
/// value per row.
template <class T>
py::array_t<T> labels_arg(py::handle obj, std::size_t n_rows) {
    auto y = vector_arg<T>(obj, "y");
    if (static_cast<std::size_t>(y.size()) != n_rows)
        throw py::value_error("y has " + std::to_string(y.size()) + " labels for " +
                              std::to_string(n_rows) + " rows");
    const T* v = y.data();
    const T* bad = std::find_if(v, v + n_rows, [](T x) { return !std::isfinite(x); });
    if (bad != v + n_rows)
        throw py::value_error("y must be finite: y[" + std::to_string(bad - v) +
                              "] = " + std::to_string(*bad));
    return y;
}

/// The n_threads argument: OpenMP runtimes abort the process (no error to catch) when
/// they cannot create that many threads, so an absurd count is refused first.
int threads_arg(int n) {
    if (n < 1 || n > hogwild::kMaxThreads)
        throw py::value_error("n_threads must be in [1, " + std::to_string(hogwild::kMaxThreads) +
                              "], got " + std::to_string(n));
    return n;
}

hogwild::Loss loss_of(int loss) {
    if (loss < 0 || loss > 2) throw py::value_error("loss must be 0, 1 or 2");
    return static_cast<hogwild::Loss>(loss);
}

/// Options::fill_rates for a Python callable fill(epoch): called with the GIL taken; its
/// exception is kept for the caller to rethrow once the run has stopped.
struct RateFiller {
    py::handle fill;
    std::exception_ptr error;

    static bool call(void* context, std::size_t epoch) {
        auto* self = static_cast<RateFiller*>(context);
        const py::gil_scoped_acquire gil;
        try {
            self->fill(epoch);
            return true;
        } catch (...) {
            self->error = std::current_exception();
            return false;
        }
    }
};

template <class T, class I>
py::tuple train(py::handle indptr,
                py::handle indices,
                py::handle data,
                py::handle y_,
                py::handle coef_,
                double intercept,
                py::handle rates_,
                int loss,
                double alpha,
                bool adagrad,
                double eps,
                bool fit_intercept,
                double intercept_lr_scale,
                bool shuffle,
                std::uint64_t seed,
                std::size_t epochs,
                int rate_unit,
                int threads,
                bool objective_history,
                py::handle fill_rates) {
    threads_arg(threads);
    auto coef = vector_arg<T>(coef_, "coef", true);
    const CheckedCsr<T, I> X(indptr, indices, data, static_cast<std::size_t>(coef.size()), threads);
    auto y = labels_arg<T>(y_, X.view.n_rows);
    if (X.view.n_rows >= (std::size_t{1} << 32))
        throw py::value_error("at most 2^32 - 1 rows are supported");
    auto rates = vector_arg<double>(rates_, "rates");
    if (rate_unit < 0 || rate_unit > 2) throw py::value_error("rate_unit must be 0, 1 or 2");
    // Per-step rates filled as the run goes live in a ring of two epochs (Options::rates).
    const std::size_t step_epochs =
        fill_rates.is_none() ? epochs : std::min<std::size_t>(epochs, 2);
    const std::size_t want = rate_unit == 0   ? 1
                             : rate_unit == 1 ? epochs
                                              : step_epochs * X.view.n_rows;
    if (static_cast<std::size_t>(rates.size()) != want)
        throw py::value_error("rates must hold " + std::to_string(want) + " values, got " +
                              std::to_string(rates.size()));
    hogwild::Options o;
    o.loss = loss_of(loss);
    o.alpha = alpha;
    o.adagrad = adagrad;
    o.eps = eps;
    o.fit_intercept = fit_intercept;
    o.intercept_lr_scale = intercept_lr_scale;
    o.shuffle = shuffle;
    o.seed = seed;
    o.epochs = epochs;
    o.threads = threads;
    o.objective_history = objective_history;
    o.rate_unit = static_cast<hogwild::RateUnit>(rate_unit);
    o.rates = rates.data();
    RateFiller filler{fill_rates, nullptr};
    if (!fill_rates.is_none()) {
        if (rate_unit != 2 || !rates.writeable())
            throw py::value_error("fill_rates needs per-step rates in a writable array");
        o.fill_rates = &RateFiller::call;
        o.rates_context = &filler;
    }
    py::array_t<double> history(static_cast<py::ssize_t>(epochs));
    double* h = history.mutable_data();
    T* w = coef.mutable_data();
    const T* yp = y.data();
    double b;
    {
        const py::gil_scoped_release release;  // no Python object touched below
        b = hogwild::train<T, I>(X.view, yp, w, intercept, o, h);
    }
    if (filler.error) std::rethrow_exception(filler.error);
    return py::make_tuple(b, history);
}

template <class T, class I>
py::array_t<double> margins(py::handle indptr,
                            py::handle indices,
                            py::handle data,
                            py::handle coef_,
                            double intercept,
                            int threads) {
    threads_arg(threads);
    auto coef = vector_arg<T>(coef_, "coef");
    const CheckedCsr<T, I> X(indptr, indices, data, static_cast<std::size_t>(coef.size()), threads);
    py::array_t<double> out(static_cast<py::ssize_t>(X.view.n_rows));
    double* m = out.mutable_data();
    const T* w = coef.data();
    const py::gil_scoped_release release;
    hogwild::decision_function<T, I>(X.view, w, intercept, m, threads);
    return out;
}

template <class T, class I>
double objective(py::handle indptr,
                 py::handle indices,
                 py::handle data,
                 py::handle y_,
                 py::handle coef_,
                 double intercept,
                 int loss,
                 double alpha,
                 int threads) {
    threads_arg(threads);
    auto coef = vector_arg<T>(coef_, "coef");
    const CheckedCsr<T, I> X(indptr, indices, data, static_cast<std::size_t>(coef.size()), threads);
    auto y = labels_arg<T>(y_, X.view.n_rows);
    const hogwild::Loss l = loss_of(loss);
    const T* w = coef.data();
    const T* yp = y.data();
    const py::gil_scoped_release release;
    return hogwild::objective<T, I>(X.view, yp, w, intercept, l, alpha, threads);
}

template <class T>
struct Tag {
    using type = T;
};

/// f(Tag<T>{}, Tag<I>{}) for the dtypes of data (T) and indices (I).
template <class F>
auto by_dtype(py::handle indices, py::handle data, F&& f) {
    const bool f64 = py::isinstance<py::array_t<double>>(data);
    if (!f64 && !py::isinstance<py::array_t<float>>(data))
        throw py::type_error("data must be a float32 or float64 numpy.ndarray (native byte order)");
    const bool i64 = py::isinstance<py::array_t<std::int64_t>>(indices);
    if (!i64 && !py::isinstance<py::array_t<std::int32_t>>(indices))
        throw py::type_error("indices must be an int32 or int64 numpy.ndarray (native byte order)");
    if (f64)
        return i64 ? f(Tag<double>{}, Tag<std::int64_t>{}) : f(Tag<double>{}, Tag<std::int32_t>{});
    return i64 ? f(Tag<float>{}, Tag<std::int64_t>{}) : f(Tag<float>{}, Tag<std::int32_t>{});
}

#define PFO_TYPES(t, i)                   \
    using T = typename decltype(t)::type; \
    using I = typename decltype(i)::type

}  // namespace

void register_hogwild(py::module_& m) {
    m.def(
        "hogwild_train",
        [](py::handle indptr, py::handle indices, py::handle data, py::handle y, py::handle coef,
           py::handle intercept_, py::handle rates, py::handle loss, py::handle alpha_,
           bool adagrad, py::handle eps_, bool fit_intercept, py::handle intercept_lr_scale_,
           bool shuffle, py::handle seed, py::handle epochs, py::handle rate_unit,
           py::handle n_threads, bool objective_history, py::handle fill_rates) {
            // numbers checked here: pybind11 answers a bad one with its dump of signatures
            const double intercept = real_arg(intercept_, "intercept");
            const double alpha = real_arg(alpha_, "alpha");
            const double eps = real_arg(eps_, "eps");
            const double intercept_lr_scale = real_arg(intercept_lr_scale_, "intercept_lr_scale");
            const auto loss_ = int_arg<int>(loss, "loss");
            const auto seed_ = int_arg<std::uint64_t>(seed, "seed");
            const auto epochs_ = int_arg<std::size_t>(epochs, "epochs");
            const auto unit_ = int_arg<int>(rate_unit, "rate_unit");
            const auto threads_ = int_arg<int>(n_threads, "n_threads");
            return by_dtype(indices, data, [&](auto t, auto i) {
                PFO_TYPES(t, i);
                return train<T, I>(indptr, indices, data, y, coef, intercept, rates, loss_, alpha,
                                   adagrad, eps, fit_intercept, intercept_lr_scale, shuffle, seed_,
                                   epochs_, unit_, threads_, objective_history, fill_rates);
            });
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("y"), py::arg("coef"),
        py::arg("intercept"), py::arg("rates"), py::arg("loss"), py::arg("alpha"),
        py::arg("adagrad"), py::arg("eps"), py::arg("fit_intercept"), py::arg("intercept_lr_scale"),
        py::arg("shuffle"), py::arg("seed"), py::arg("epochs"), py::arg("rate_unit"),
        py::arg("n_threads"), py::arg("objective_history"), py::arg("fill_rates") = py::none(),
        "Hogwild! training in place on coef; returns (intercept, history). fill_rates(e), "
        "if given, fills epoch e's per-step rates during epoch e - 1. Private: use "
        "pyfastopt.hogwild.train.");
    m.def(
        "hogwild_decision_function",
        [](py::handle indptr, py::handle indices, py::handle data, py::handle coef,
           py::handle intercept_, py::handle n_threads) {
            const double intercept = real_arg(intercept_, "intercept");
            const auto threads = int_arg<int>(n_threads, "n_threads");
            return by_dtype(indices, data, [&](auto t, auto i) {
                PFO_TYPES(t, i);
                return margins<T, I>(indptr, indices, data, coef, intercept, threads);
            });
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("coef"),
        py::arg("intercept"), py::arg("n_threads"), "X @ coef + intercept, float64.");
    m.def(
        "hogwild_objective",
        [](py::handle indptr, py::handle indices, py::handle data, py::handle y, py::handle coef,
           py::handle intercept_, py::handle loss, py::handle alpha_, py::handle n_threads) {
            const double intercept = real_arg(intercept_, "intercept");
            const double alpha = real_arg(alpha_, "alpha");
            const auto loss_ = int_arg<int>(loss, "loss");
            const auto threads = int_arg<int>(n_threads, "n_threads");
            return by_dtype(indices, data, [&](auto t, auto i) {
                PFO_TYPES(t, i);
                return objective<T, I>(indptr, indices, data, y, coef, intercept, loss_, alpha,
                                       threads);
            });
        },
        py::arg("indptr"), py::arg("indices"), py::arg("data"), py::arg("y"), py::arg("coef"),
        py::arg("intercept"), py::arg("loss"), py::arg("alpha"), py::arg("n_threads"),
        "mean loss + alpha/2 ||coef||^2, reduced in a fixed order.");
    m.def(
        "_hogwild_permutation",
        [](std::size_t n, std::uint64_t seed, std::uint64_t epoch, std::size_t piece) {
            if (n >= (std::size_t{1} << 32)) throw py::value_error("n must be < 2^32");
            py::array_t<std::uint32_t> out(static_cast<py::ssize_t>(n));
            if (piece == 0) {
                hogwild::permutation(out.mutable_data(), n, seed, epoch);
            } else {  // as the trainer draws it: a little at a time
                hogwild::Shuffle shuffle(out.mutable_data(), n, seed, epoch);
                while (!shuffle.advance(piece)) {
                }
            }
            return out;
        },
        py::arg("n"), py::arg("seed"), py::arg("epoch"), py::arg("piece") = 0,
        "Test hook: the row order of one epoch (drawn `piece` work units at a time if > 0).");
}

}  // namespace pyfastopt::bindings
