// The 8-bit blockwise codec on its own: `_core.quantize_8bit(x, signed)` ->
// (codes, absmax), `_core.dequantize_8bit(codes, absmax, signed)` and
// `_core.dynamic_map(signed)`, for making, reading and converting 8-bit optimizer states
// (pyfastopt.precision). The same load/store code as the kernels' (cpu/mixed-inl.hpp).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include <pyfastopt/cpu/mixed-inl.hpp>

#include "buffers.hpp"
#include "mixed.hpp"

namespace pyfastopt::bindings {
namespace {

py::array_t<float> checked_floats(py::handle obj, const char* name) {
    const py::array a = as_ndarray(obj, name);
    if (dtype_of(a) != Dtype::kFloat32)
        throw py::type_error(std::string(name) + " has dtype " + std::string(py::str(a.dtype())) +
                             ", expected float32");
    check_shape_and_layout(a, name, nullptr, false);
    return py::reinterpret_borrow<py::array_t<float>>(a);
}

Storage map_of(bool is_signed) {
    return is_signed ? Storage::kQ8Signed : Storage::kQ8Unsigned;
}

std::size_t blocks_of(py::ssize_t n) {
    return (static_cast<std::size_t>(n) + kQuantBlock - 1) / kQuantBlock;
}

py::tuple quantize_8bit(py::handle x_obj, bool is_signed) {
    const auto x = checked_floats(x_obj, "x");
    py::array_t<std::uint8_t> codes(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    py::array_t<float> absmax(static_cast<py::ssize_t>(blocks_of(x.size())));
    const Stored out{codes.mutable_data(), map_of(is_signed), absmax.mutable_data()};
    const auto n = static_cast<std::size_t>(x.size());
    for (std::size_t lo = 0; lo < n; lo += kQuantBlock)
        cpu::mixed::store(out, lo, std::min(kQuantBlock, n - lo), x.data() + lo, {});
    return py::make_tuple(codes, absmax);
}

py::array_t<float> dequantize_8bit(py::handle codes_obj, py::handle absmax_obj, bool is_signed) {
    const py::array codes = as_ndarray(codes_obj, "codes");
    if (dtype_of(codes) != Dtype::kUInt8)
        throw py::type_error("codes has dtype " + std::string(py::str(codes.dtype())) +
                             ", expected uint8");
    check_shape_and_layout(codes, "codes", nullptr, false);
    const auto absmax = checked_floats(absmax_obj, "absmax");
    if (absmax.ndim() != 1 || static_cast<std::size_t>(absmax.size()) != blocks_of(codes.size()))
        throw py::value_error("absmax has shape " + shape_str(absmax) + ", expected (" +
                              std::to_string(blocks_of(codes.size())) +
                              ",): one per block of 256 codes");
    py::array_t<float> x(std::vector<py::ssize_t>(codes.shape(), codes.shape() + codes.ndim()));
    const Stored in{const_cast<void*>(codes.data()), map_of(is_signed),
                    const_cast<float*>(absmax.data())};
    const auto n = static_cast<std::size_t>(codes.size());
    float* y = x.mutable_data();
    for (std::size_t lo = 0; lo < n; lo += kQuantBlock) {
        const std::size_t len = std::min(kQuantBlock, n - lo);
        const float* values = cpu::mixed::load(in, lo, len, y + lo, 1.0f);
        std::copy(values, values + len, y + lo);
    }
    return x;
}

py::array_t<float> dynamic_map(bool is_signed) {
    const auto& m = q8::map(is_signed);
    return py::array_t<float>(256, m.code);
}

}  // namespace

void register_storage(py::module_& m) {
    m.def("quantize_8bit", &quantize_8bit, py::arg("x"), py::arg("signed"),
          "Blockwise 8-bit codes (nearest in the dynamic map) and absmax of a float32 array.");
    m.def("dequantize_8bit", &dequantize_8bit, py::arg("codes"), py::arg("absmax"),
          py::arg("signed"), "The float32 values of blockwise 8-bit codes.");
    m.def("dynamic_map", &dynamic_map, py::arg("signed"),
          "The 256 codes of the signed or unsigned dynamic map, in increasing order.");
}

}  // namespace pyfastopt::bindings
