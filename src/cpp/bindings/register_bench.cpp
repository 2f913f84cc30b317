// Private benchmark kernels: `_core._triad(a, b, c, scalar)`, the STREAM triad
// a[i] = b[i] + scalar * c[i], the bandwidth reference of `pyfastopt bench`. (The other
// roofline kernel, `_core._adam_pattern`, is a rule run by the real driver: rules/roofline.hpp.)
//
// The triad runs through the kernels' argument checks and block driver (for_each_block),
// with their thread count. It is compiled once, for the baseline ISA: a DRAM-bound loop does
// not need wider vectors (SSE2 loads 16 B per instruction, far above what memory delivers).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>

#include <pyfastopt/cpu/loop-inl.hpp>

#include "../cpu/dispatch.hpp"
#include "buffers.hpp"

namespace pyfastopt::bindings {
namespace {

template <class T>
void triad_range(T* __restrict a,
                 const T* __restrict b,
                 const T* __restrict c,
                 T scalar,
                 std::size_t begin,
                 std::size_t end) {
#pragma omp simd
    for (std::size_t i = begin; i < end; ++i) a[i] = b[i] + scalar * c[i];
}

/// a = b + scalar * c, checked and split over threads exactly as a kernel call is (a plays
/// the parameter, b the gradient, c a state).
template <class T>
void triad_checked(py::handle a, py::handle b, py::handle c, double scalar) {
    static const char* const kNames[] = {"c"};
    CheckedBatch<T, 1> checked(py::make_tuple(a), py::make_tuple(py::make_tuple(c)), kNames);
    const auto batch = checked.with_grads(py::make_tuple(b));
    const int threads = dispatch::num_threads();
    const py::gil_scoped_release release;  // no Python object touched below
    cpu::for_each_block(batch.sizes, batch.count, threads,
                        [&](std::size_t, std::size_t begin, std::size_t end, std::size_t) {
                            triad_range(batch.params[0], batch.grads[0], batch.states[0][0],
                                        static_cast<T>(scalar), begin, end);
                        });
}

}  // namespace

void register_bench(py::module_& m) {
    m.def(
        "_triad",
        [](py::handle a, py::handle b, py::handle c, double scalar) {
            if (float_kind(a) == 'd') return triad_checked<double>(a, b, c, scalar);
            return triad_checked<float>(a, b, c, scalar);  // float32, or an error naming a
        },
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("scalar"),
        "STREAM triad a = b + scalar * c on same-dtype 1-D arrays (float32/float64), with "
        "the kernels' thread count. Private: the bandwidth reference of `pyfastopt bench`.");
}

}  // namespace pyfastopt::bindings
