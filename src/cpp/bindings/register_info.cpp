// Build and runtime facts (targets, OpenMP, threads) and the thread-count setters.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <pyfastopt/config.hpp>

#include "../cpu/dispatch.hpp"

namespace pyfastopt::bindings {

namespace py = pybind11;

void register_info(py::module_& m) {
    m.def(
        "build_info",
        [] {
            py::dict info;
            info["isa"] = dispatch::selected_target();
            info["isas"] = dispatch::compiled_targets();
            info["supported_isas"] = dispatch::supported_targets();
            info["openmp"] = dispatch::has_openmp();
            info["num_threads"] = dispatch::num_threads();
#if defined(__clang__)
            info["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
            info["compiler"] = std::string("gcc ") + __VERSION__;
#elif defined(_MSC_VER)
            info["compiler"] = "msvc " + std::to_string(_MSC_VER);
#endif
            return info;
        },
        "What this build of pyfastopt compiled and selected.");
    m.def("get_num_threads", &dispatch::num_threads, "Threads a kernel call may use.");
    m.def("set_num_threads", &dispatch::set_num_threads, py::arg("n"),
          "Sets the threads a kernel call may use (n >= 1).");
    m.def("_select_isa", &dispatch::select_target, py::arg("name"),
          "Test hook: use the named supported target; returns False if it is not.");
}

}  // namespace pyfastopt::bindings
