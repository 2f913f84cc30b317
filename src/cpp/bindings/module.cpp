// The _core extension: wires the registration functions together and nothing else.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace pyfastopt::bindings {
void register_optim(py::module_& m);
void register_info(py::module_& m);
void register_bench(py::module_& m);
void register_noise(py::module_& m);
void register_sparse(py::module_& m);
void register_hogwild(py::module_& m);
void register_storage(py::module_& m);
void register_tensorwise(py::module_& m);
}  // namespace pyfastopt::bindings

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "pyfastopt's compiled kernels (private; use pyfastopt.functional / .optim)";
    pyfastopt::bindings::register_optim(m);
    pyfastopt::bindings::register_info(m);
    pyfastopt::bindings::register_bench(m);
    pyfastopt::bindings::register_noise(m);
    pyfastopt::bindings::register_sparse(m);
    pyfastopt::bindings::register_hogwild(m);
    pyfastopt::bindings::register_storage(m);
    pyfastopt::bindings::register_tensorwise(m);
}
