// `_core.adafactor(param, grad, factors, coeffs)`: one Adafactor step on one tensor in place
// (pyfastopt/factored.hpp). Private: pyfastopt.functional.adafactor_ checks every argument
// and computes the coefficients; this layer checks what memory safety relies on (dtypes,
// shapes, contiguity, writability) before any work, then releases the GIL and runs the
// selected ISA's driver (cpu/factored-inl.hpp, through dispatch).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <string>

#include "../cpu/dispatch.hpp"
#include "buffers.hpp"

namespace pyfastopt::bindings {
namespace {

namespace py = pybind11;

/// `obj` as a C-contiguous aligned array of dtype T with `size` elements, else an error.
template <class T>
py::array_t<T> checked(py::handle obj, const char* name, py::ssize_t size, bool written) {
    if (!py::isinstance<py::array_t<T>>(obj))
        throw py::type_error(std::string(name) + " must be a numpy.ndarray of dtype " +
                             std::string(py::str(py::dtype::of<T>())));
    auto arr = py::reinterpret_borrow<py::array_t<T>>(obj);
    check_shape_and_layout(arr, name, nullptr, written);
    if (arr.size() != size)
        throw py::value_error(std::string(name) + " has " + std::to_string(arr.size()) +
                              " elements, expected " + std::to_string(size));
    return arr;
}

template <class T>
void adafactor(py::handle param_,
               py::handle grad_,
               py::list factors,
               const factored::AdafactorCoeffs& c) {
    auto param = py::reinterpret_borrow<py::array>(param_);
    const py::ssize_t n = param.size();
    auto p = checked<T>(param_, "param", n, true);
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

}  // namespace

void register_adafactor(py::module_& m) {
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
}

}  // namespace pyfastopt::bindings
