// `_core.gradient_noise(arrays, seed, step, sigma)`: adds annealed Gaussian noise to
// gradients in place (rules/noise.hpp). Compiled for the baseline ISA only: the draw is
// scalar math (log, cos) that the compiler does not vectorise, so wider targets gain nothing.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>

#include <pyfastopt/cpu/loop-inl.hpp>
#include <pyfastopt/rules/noise.hpp>

#include "../cpu/dispatch.hpp"
#include "buffers.hpp"

namespace pyfastopt::bindings {
namespace {

template <class T>
void add_noise(py::handle arrays,
               std::uint64_t seed,
               std::uint64_t step,
               double sigma,
               std::uint64_t first_tensor) {
    using Rule = rules::GradientNoise;
    CheckedBatch<T, 0> checked(arrays, py::list(), Rule::kStateNames);
    const auto batch = checked.without_grads();
    const CoeffsOf<Rule, T> c{seed, step, sigma, first_tensor};
    const int threads = dispatch::num_threads();
    const py::gil_scoped_release release;  // no Python object touched below
    cpu::run<Rule, T>(c, batch, threads);
}

}  // namespace

void register_noise(py::module_& m) {
    m.def(
        "gradient_noise",
        [](py::handle arrays, py::handle seed_, py::handle step_, double sigma,
           py::handle first_tensor_) {
            const auto seed = int_arg<std::uint64_t>(seed_, "seed");
            const auto step = int_arg<std::uint64_t>(step_, "step");
            const auto first_tensor = int_arg<std::uint64_t>(first_tensor_, "first_tensor");
            const auto items = items_of(arrays, "grad");
            if (!items.empty() && float_kind(items[0]) == 'd')
                return add_noise<double>(arrays, seed, step, sigma, first_tensor);
            return add_noise<float>(arrays, seed, step, sigma, first_tensor);
        },
        py::arg("arrays"), py::arg("seed"), py::arg("step"), py::arg("sigma"),
        py::arg("first_tensor") = 0,
        "Adds sigma * N(0, 1) to every element, drawn by Philox4x32-10 from (seed, step, "
        "first_tensor + array index, element index). Private: use pyfastopt.transforms.");
    m.def(
        "_philox4x32_10",
        [](std::array<std::uint32_t, 4> counter, std::uint32_t key0, std::uint32_t key1) {
            const auto out = random::philox4x32_10(
                {{counter[0], counter[1], counter[2], counter[3]}}, key0, key1);
            return std::array<std::uint32_t, 4>{out.v[0], out.v[1], out.v[2], out.v[3]};
        },
        py::arg("counter"), py::arg("key0"), py::arg("key1"),
        "Test hook: one Philox4x32-10 block.");
}

}  // namespace pyfastopt::bindings
