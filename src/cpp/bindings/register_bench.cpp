// Private benchmark kernels: `_core._triad(a, b, c, scalar)`, the STREAM triad
// a[i] = b[i] + scalar * c[i], the bandwidth reference of `pyfastopt bench`. (The other
// roofline kernel, `_core._adam_pattern`, is a rule run by the real driver: rules/roofline.hpp.)
//
// The triad uses the kernels' thread count and the driver's parallel grain, with one
// contiguous, cache-line-aligned range per thread (as STREAM and Highway's stream_triad.cc
// split it). It is compiled once, for the baseline ISA: a DRAM-bound loop does not need wider
// vectors (SSE2 loads 16 B per instruction, far above what memory delivers per cycle).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#if defined(_OPENMP)
#include <omp.h>
#endif

// Only for kParallelGrain: the triad goes single-threaded below the same size as the kernels.
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

/// a = b + scalar * c over n elements, on up to `threads` threads.
template <class T>
void triad(T* a, const T* b, const T* c, T scalar, std::size_t n, int threads) {
#if defined(_OPENMP)
    if (threads > 1 && n >= cpu::kParallelGrain) {
#pragma omp parallel num_threads(threads)
        {
            constexpr std::size_t kLine = 64 / sizeof(T);  // elements per cache line
            const auto id = static_cast<std::size_t>(omp_get_thread_num());
            const auto count = static_cast<std::size_t>(omp_get_num_threads());
            const std::size_t per = ((n + count - 1) / count + kLine - 1) / kLine * kLine;
            const std::size_t begin = std::min(n, id * per);
            triad_range(a, b, c, scalar, begin, std::min(n, begin + per));
        }
        return;
    }
#endif
    (void)threads;
    triad_range(a, b, c, scalar, 0, n);
}

/// `obj` as a 1-D, C-contiguous, aligned array of T (never converted), or an error naming it.
template <class T>
py::array vector_arg(py::handle obj, const char* name, bool written) {
    constexpr char want = sizeof(T) == 4 ? 'f' : 'd';
    if (!py::isinstance<py::array>(obj))
        throw py::type_error(std::string(name) + " must be a numpy.ndarray");
    auto arr = py::reinterpret_borrow<py::array>(obj);
    if (float_kind(obj) != want)
        throw py::type_error(std::string(name) + " has dtype " + std::string(py::str(arr.dtype())) +
                             ", expected " + (want == 'f' ? "float32" : "float64") +
                             (std::string(name) == "a" ? "" : " (the dtype of a)"));
    if (arr.ndim() != 1) throw py::value_error(std::string(name) + " must be 1-D");
    const int flags = arr.flags();
    if (!(flags & py::array::c_style) || !(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        throw py::value_error(std::string(name) + " must be C-contiguous and aligned");
    if (written && !arr.writeable()) throw py::value_error(std::string(name) + " is read-only");
    return arr;
}

bool overlap(const py::array& x, const py::array& y) {
    const auto x0 = reinterpret_cast<std::uintptr_t>(x.data());
    const auto y0 = reinterpret_cast<std::uintptr_t>(y.data());
    return x.nbytes() > 0 && y.nbytes() > 0 && x0 < y0 + static_cast<std::uintptr_t>(y.nbytes()) &&
           y0 < x0 + static_cast<std::uintptr_t>(x.nbytes());
}

template <class T>
void triad_checked(py::handle a_obj, py::handle b_obj, py::handle c_obj, double scalar) {
    py::array a = vector_arg<T>(a_obj, "a", true);
    py::array b = vector_arg<T>(b_obj, "b", false);
    py::array c = vector_arg<T>(c_obj, "c", false);
    if (b.size() != a.size() || c.size() != a.size())
        throw py::value_error("a, b and c must have the same size");
    if (overlap(a, b) || overlap(a, c))
        throw py::value_error("a shares memory with b or c (each buffer must be distinct)");
    T* pa = static_cast<T*>(a.mutable_data());
    const T* pb = static_cast<const T*>(b.data());
    const T* pc = static_cast<const T*>(c.data());
    const auto n = static_cast<std::size_t>(a.size());
    const int threads = dispatch::num_threads();
    const py::gil_scoped_release release;  // no Python object touched below
    triad<T>(pa, pb, pc, static_cast<T>(scalar), n, threads);
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
