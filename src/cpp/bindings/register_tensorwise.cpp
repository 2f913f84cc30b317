// The drivers of the optimizers whose step reduces over whole tensors, through dispatch:
// `_core.adafactor(param, grad, factors, coeffs)`, one Adafactor step on one tensor in place
// (cpu/factored-inl.hpp), and `_core.lbfgs_direction(...)`, L-BFGS's two-loop recursion
// (cpu/lbfgs-inl.hpp). Private: pyfastopt.functional.adafactor_ and optim.LBFGS check every
// argument; this layer checks what memory safety relies on (dtypes, sizes, contiguity,
// writability, row indices) before any work, then releases the GIL.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <string>

#include "../cpu/dispatch.hpp"
#include "buffers.hpp"

namespace pyfastopt::bindings {
namespace {

namespace py = pybind11;

/// `obj` as a C-contiguous aligned array of dtype T with `size` elements (any if -1), else an
/// error.
template <class T>
py::array_t<T> checked(py::handle obj, const char* name, py::ssize_t size, bool written) {
    if (!py::isinstance<py::array_t<T>>(obj))
        throw py::type_error(std::string(name) + " must be a numpy.ndarray of dtype " +
                             std::string(py::str(py::dtype::of<T>())));
    auto arr = py::reinterpret_borrow<py::array_t<T>>(obj);
    check_shape_and_layout(arr, name, nullptr, written);
    if (size >= 0 && arr.size() != size)
        throw py::value_error(std::string(name) + " has " + std::to_string(arr.size()) +
                              " elements, expected " + std::to_string(size));
    return arr;
}

template <class T>
void adafactor(py::handle param_,
               py::handle grad_,
               py::list factors,
               const factored::AdafactorCoeffs& c) {
    auto p = checked<T>(param_, "param", -1, true);
    const py::array& param = p;
    const py::ssize_t n = p.size();
    auto g = checked<T>(grad_, "grad", n, false);
    if (param.ndim() >= 2) {
        if (factors.size() != 2) throw py::value_error("factors must be [row_var, col_var]");
        const py::ssize_t cols = param.shape(param.ndim() - 1);
        const py::ssize_t rows = param.shape(param.ndim() - 2);
        py::ssize_t batch = 1;
        for (py::ssize_t d = 0; d + 2 < param.ndim(); ++d) batch *= param.shape(d);
        auto row_var = checked<T>(factors[0], "row_var", batch * rows, true);
        auto col_var = checked<T>(factors[1], "col_var", batch * cols, true);
        const py::gil_scoped_release release;
        dispatch::adafactor_matrix(c, p.mutable_data(), g.data(), row_var.mutable_data(),
                                   col_var.mutable_data(), static_cast<std::size_t>(batch),
                                   static_cast<std::size_t>(rows), static_cast<std::size_t>(cols));
    } else {
        if (factors.size() != 1) throw py::value_error("factors must be [variance]");
        auto variance = checked<T>(factors[0], "variance", n, true);
        const py::gil_scoped_release release;
        dispatch::adafactor_vector(c, p.mutable_data(), g.data(), variance.mutable_data(),
                                   static_cast<std::size_t>(n));
    }
}

template <class T>
void lbfgs_direction(py::handle grad_,
                     py::handle dirs_,
                     py::handle stps_,
                     py::handle ro_,
                     py::handle rows_,
                     double h_diag,
                     py::handle q_,
                     py::handle al_) {
    auto grad = checked<T>(grad_, "grad", -1, false);
    auto ro = checked<T>(ro_, "ro", -1, false);
    const py::ssize_t n = grad.size();
    const py::ssize_t size = ro.size();
    auto dirs = checked<T>(dirs_, "dirs", size * n, false);
    auto stps = checked<T>(stps_, "stps", size * n, false);
    auto q = checked<T>(q_, "q", n, true);
    auto al = checked<T>(al_, "al", size, true);
    if (!py::isinstance<py::array_t<std::int64_t>>(rows_))
        throw py::type_error("rows must be a numpy.ndarray of dtype int64");
    auto rows = py::reinterpret_borrow<py::array_t<std::int64_t>>(rows_);
    check_shape_and_layout(rows, "rows", nullptr, false);
    const std::int64_t* r = rows.data();
    for (py::ssize_t i = 0; i < rows.size(); ++i)
        if (r[i] < 0 || r[i] >= size)
            throw py::value_error("rows[" + std::to_string(i) + "] = " + std::to_string(r[i]) +
                                  " is not a row of dirs");
    if (rows.size() > size) throw py::value_error("rows has more entries than dirs has rows");
    const py::gil_scoped_release release;
    dispatch::lbfgs_direction(grad.data(), dirs.data(), stps.data(), ro.data(), r,
                              static_cast<std::size_t>(rows.size()), static_cast<std::size_t>(n),
                              T(h_diag), q.mutable_data(), al.mutable_data());
}

}  // namespace

void register_tensorwise(py::module_& m) {
    m.def(
        "adafactor",
        [](py::handle param, py::handle grad, py::list factors, py::tuple coeffs) {
            if (coeffs.size() != 7) throw py::value_error("coeffs must hold 7 numbers");
            std::array<double, 7> v{};
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = real_arg(coeffs[i], "coeffs");
            const factored::AdafactorCoeffs c{v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
            if (py::isinstance<py::array_t<double>>(param))
                adafactor<double>(param, grad, factors, c);
            else
                adafactor<float>(param, grad, factors, c);
        },
        py::arg("param"), py::arg("grad"), py::arg("factors"), py::arg("coeffs"),
        "One Adafactor step on one float32/float64 tensor; coeffs: (grad_factor, "
        "one_minus_beta2, eps1, eps2, rho, decay, d). factors: [row_var, col_var] for 2-D "
        "and more, [variance] else.");
    m.def(
        "lbfgs_direction",
        [](py::handle grad, py::handle dirs, py::handle stps, py::handle ro, py::handle rows,
           py::handle h_diag, py::handle q, py::handle al) {
            const double h = real_arg(h_diag, "h_diag");
            if (py::isinstance<py::array_t<double>>(grad))
                lbfgs_direction<double>(grad, dirs, stps, ro, rows, h, q, al);
            else
                lbfgs_direction<float>(grad, dirs, stps, ro, rows, h, q, al);
        },
        py::arg("grad"), py::arg("dirs"), py::arg("stps"), py::arg("ro"), py::arg("rows"),
        py::arg("h_diag"), py::arg("q"), py::arg("al"),
        "q <- -H grad by L-BFGS's two-loop recursion over the history rows `rows` (oldest "
        "first) of dirs (y) and stps (s); al gets the first loop's coefficients.");
}

}  // namespace pyfastopt::bindings
