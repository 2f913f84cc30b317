// The _cuda extension: _core's element-wise kernels on device arrays, with the same names
// and arguments plus a keyword-only stream: `name(params, grads, states, coeffs, *,
// masters=None, grad_scale=None, seed=None, step=None, first_tensor=None, stream=None)`
// (`name(arrays, coeffs, *, stream=None)` for the transforms that read no gradient). A host
// C++ TU: it checks the Python arguments and calls the entry points of kernels.hpp; nvcc
// compiles only kernels.cu.
//
// Device arrays are objects exposing __cuda_array_interface__ (CuPy, Numba, PyTorch CUDA
// tensors) or DLPack (__dlpack__ / __dlpack_device__ on a CUDA device). Storages as _core's
// (bindings/mixed.hpp): float32/float64, bfloat16 (typestr "<V2", as PyTorch and ml_dtypes
// describe it, or DLPack's bfloat type), float16, 8-bit states as (codes, absmax) tuples.
// Every check runs before anything is launched, in two rounds: the Python-visible facts
// (type, dtype, shape, C-contiguity, read-only flag, overlapping buffers) raise
// TypeError/ValueError naming the argument; then, without the GIL, the pointers are checked
// to be device memory on one device. Importing the module makes no CUDA call, so it imports
// on machines without a GPU.
//
// Streams: the update is enqueued on `stream` (CUDA array interface convention: 1 or 0 the
// legacy default stream, 2 the per-thread default stream, otherwise a cudaStream_t), by
// default on the stream the first parameter's __cuda_array_interface__ names (the legacy
// default stream if it names none). The launch stream first waits for the stream every
// other argument names; DLPack producers are asked (__dlpack__(stream=...)) to order their
// work before it. The call returns once the work is enqueued (the first call with 8-bit
// states on a device also waits for the copy of the 8-bit maps to it, once).
#include <cuda_runtime_api.h>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <deque>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pyfastopt/rules/all.hpp>
#include <pyfastopt/storage.hpp>

#include "kernels.hpp"

#include "../bindings/rule_traits.hpp"  // coeffs_from, ReadsGrad, int_arg: shared with _core

namespace py = pybind11;

namespace pyfastopt::cuda_bindings {
namespace {

// ---- DLPack: the stable C ABI of dlpack.h (v0.8 and later, unversioned capsules) -------
struct DLDevice {
    std::int32_t device_type, device_id;
};
struct DLDataType {
    std::uint8_t code, bits;
    std::uint16_t lanes;
};
struct DLTensor {
    void* data;
    DLDevice device;
    std::int32_t ndim;
    DLDataType dtype;
    std::int64_t* shape;
    std::int64_t* strides;  ///< in elements; NULL for C-contiguous
    std::uint64_t byte_offset;
};
struct DLManagedTensor {
    DLTensor dl_tensor;
    void* manager_ctx;
    void (*deleter)(DLManagedTensor*);
};
constexpr std::int32_t kDLCPU = 1, kDLCUDA = 2, kDLCUDAManaged = 13;
constexpr std::uint8_t kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLBool = 6;

/// An argument's name as the user sees it: "exp_avg", or "exp_avg[3]" in a list call of
/// more than one array (as the CPU kernels name them).
struct ArgName {
    const char* role;
    std::size_t index, count;
    std::string str() const {
        return count == 1 ? std::string(role)
                          : std::string(role) + "[" + std::to_string(index) + "]";
    }
};

/// A device buffer as its exporter describes it (nothing checked yet but the protocol).
struct DeviceArray {
    std::string name;
    std::uintptr_t ptr = 0;
    std::vector<std::int64_t> shape;
    std::size_t size = 1;
    std::string dtype;         ///< numpy-style name: float32, float64, bfloat16, int64, ...
    std::size_t itemsize = 0;  ///< bytes per element
    bool contiguous = true;    ///< C-contiguous (strides absent or those of C order)
    bool readonly = false;     ///< from __cuda_array_interface__; DLPack has no such flag
    bool has_stream = false;   ///< __cuda_array_interface__ named a producer stream
    std::uintptr_t stream = 0;
    py::object keep;  ///< a DLPack capsule: alive (and its tensor with it) until launched
};

std::string dtype_name(char kind, std::size_t bytes) {
    const std::string bits = std::to_string(bytes * 8);
    switch (kind) {
        case 'f':
            return "float" + bits;
        case 'i':
            return "int" + bits;
        case 'u':
            return "uint" + bits;
        case 'c':
            return "complex" + bits;
        case 'b':
            return "bool";
        default:
            return std::string(1, kind) + std::to_string(bytes);
    }
}

/// True if strides (in units of `unit` bytes per element step) are those of C order.
/// Dimensions of extent 1 may have any stride; an empty array is contiguous.
bool c_contiguous(const std::vector<std::int64_t>& shape,
                  const std::vector<std::int64_t>& strides,
                  std::int64_t itemsize,
                  std::int64_t unit) {
    std::int64_t expected = itemsize;
    for (std::size_t d = shape.size(); d-- > 0;) {
        if (shape[d] == 0) return true;
        if (shape[d] != 1 && strides[d] * unit != expected) return false;
        expected *= shape[d];
    }
    return true;
}

std::string type_name(py::handle obj) {
    return py::str(py::type::handle_of(obj).attr("__name__"));
}

DeviceArray from_cuda_array_interface(py::handle obj, std::string name) {
    DeviceArray a;
    a.name = std::move(name);
    const py::object cai = obj.attr("__cuda_array_interface__");
    if (!py::isinstance<py::dict>(cai))
        throw py::type_error(a.name + ": __cuda_array_interface__ is not a dict");
    const auto d = py::reinterpret_borrow<py::dict>(cai);
    for (const char* key : {"shape", "typestr", "data"})
        if (!d.contains(key))
            throw py::type_error(a.name + ": __cuda_array_interface__ has no '" + key + "'");
    for (py::handle n : py::tuple(d["shape"])) a.shape.push_back(n.cast<std::int64_t>());
    for (std::int64_t n : a.shape) a.size *= static_cast<std::size_t>(n);
    const std::string typestr = py::str(d["typestr"]);
    // typestr is <byte order><kind><bytes>, e.g. "<f4".
    std::size_t itemsize = 0;
    for (std::size_t i = 2; i < typestr.size() && typestr[i] >= '0' && typestr[i] <= '9'; ++i)
        itemsize = itemsize * 10 + static_cast<std::size_t>(typestr[i] - '0');
    a.itemsize = itemsize;
    a.dtype = typestr.size() >= 3 && itemsize > 0 ? dtype_name(typestr[1], itemsize) : typestr;
    // bfloat16 has no typestr of its own: "<V2" (two opaque bytes) is how PyTorch describes
    // its bfloat16 CUDA tensors, and ml_dtypes.bfloat16's NumPy dtype.str
    if (typestr.size() >= 2 && typestr[1] == 'V' && itemsize == 2) a.dtype = "bfloat16";
    if (typestr[0] == '>' && itemsize > 1) a.dtype = "big-endian " + a.dtype;
    const py::tuple data = d["data"];
    a.ptr = data[0].cast<std::uintptr_t>();
    a.readonly = data[1].cast<bool>();
    if (d.contains("mask") && !d["mask"].is_none())
        throw py::value_error(a.name + " is a masked array (not supported)");
    if (d.contains("strides") && !d["strides"].is_none()) {
        std::vector<std::int64_t> strides;
        for (py::handle s : py::tuple(d["strides"])) strides.push_back(s.cast<std::int64_t>());
        if (strides.size() != a.shape.size())
            throw py::type_error(a.name +
                                 ": __cuda_array_interface__ strides and shape differ "
                                 "in length");
        a.contiguous = c_contiguous(a.shape, strides, static_cast<std::int64_t>(itemsize), 1);
    }
    if (d.contains("stream") && !d["stream"].is_none()) {
        a.has_stream = true;
        a.stream = d["stream"].cast<std::uintptr_t>();
    }
    return a;
}

DeviceArray from_dlpack(py::handle obj, std::string name, std::uintptr_t stream) {
    DeviceArray a;
    a.name = std::move(name);
    const py::tuple device = obj.attr("__dlpack_device__")();
    const int type = device[0].cast<int>();
    if (type != kDLCUDA && type != kDLCUDAManaged)
        throw py::type_error(a.name + " is on DLPack device type " + std::to_string(type) +
                             (type == kDLCPU ? " (CPU)" : "") +
                             ", expected CUDA (2) or CUDA managed (13) memory");
    // The stream argument follows the same convention as ours, except that 0 is not allowed.
    a.keep = obj.attr("__dlpack__")(py::arg("stream") = stream == 0 ? 1 : stream);
    auto* managed = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(a.keep.ptr(), "dltensor"));
    if (managed == nullptr) throw py::error_already_set();
    const DLTensor& t = managed->dl_tensor;
    a.shape.assign(t.shape, t.shape + t.ndim);
    for (std::int64_t n : a.shape) a.size *= static_cast<std::size_t>(n);
    const char kind = t.dtype.code == kDLFloat  ? 'f'
                      : t.dtype.code == kDLInt  ? 'i'
                      : t.dtype.code == kDLUInt ? 'u'
                      : t.dtype.code == kDLBool ? 'b'
                                                : '?';
    a.itemsize = t.dtype.bits / 8u;
    a.dtype =
        t.dtype.code == kDLBfloat && t.dtype.bits == 16 ? "bfloat16" : dtype_name(kind, a.itemsize);
    if (t.dtype.lanes != 1) a.dtype += "x" + std::to_string(t.dtype.lanes);
    if (t.strides != nullptr)
        a.contiguous =
            c_contiguous(a.shape, std::vector<std::int64_t>(t.strides, t.strides + t.ndim), 1, 1);
    a.ptr = reinterpret_cast<std::uintptr_t>(t.data) + static_cast<std::uintptr_t>(t.byte_offset);
    return a;
}

/// The device array behind `obj`; `stream` is passed to DLPack exporters.
DeviceArray device_array(py::handle obj, const ArgName& arg, std::uintptr_t stream) {
    if (py::hasattr(obj, "__cuda_array_interface__"))
        return from_cuda_array_interface(obj, arg.str());
    if (py::hasattr(obj, "__array_interface__"))
        throw py::type_error(arg.str() + " is a " +
                             std::string(py::str(py::type::handle_of(obj).attr("__module__"))) +
                             "." + type_name(obj) +
                             " in host memory; pyfastopt.cuda takes device arrays "
                             "(use pyfastopt.functional for NumPy arrays)");
    if (py::hasattr(obj, "__dlpack__") && py::hasattr(obj, "__dlpack_device__"))
        return from_dlpack(obj, arg.str(), stream);
    throw py::type_error(arg.str() +
                         " must be a CUDA device array (an object with "
                         "__cuda_array_interface__ or __dlpack__), got " +
                         type_name(obj));
}

/// The list argument `obj` (a list or tuple) as a vector of its items.
std::vector<py::handle> items_of(py::handle obj, const char* name) {
    if (!PyList_Check(obj.ptr()) && !PyTuple_Check(obj.ptr()))
        throw py::type_error(std::string(name) + " must be a list of CUDA device arrays");
    std::vector<py::handle> items;
    for (py::handle item : obj) items.push_back(item);
    return items;
}

/// The stream argument (None: the first parameter's producer stream, else the legacy
/// default stream) as a handle value.
std::uintptr_t launch_stream(py::handle stream, const std::vector<py::handle>& params) {
    if (!stream.is_none()) return stream.cast<std::uintptr_t>();
    if (!params.empty() && py::hasattr(params[0], "__cuda_array_interface__")) {
        const py::object cai = params[0].attr("__cuda_array_interface__");
        if (py::isinstance<py::dict>(cai)) {
            const auto d = py::reinterpret_borrow<py::dict>(cai);
            if (d.contains("stream") && !d["stream"].is_none())
                return d["stream"].cast<std::uintptr_t>();
        }
    }
    return 1;  // cudaStreamLegacy
}

/// Same CUDA stream? 0 and 1 both mean the legacy default stream.
bool same_stream(std::uintptr_t a, std::uintptr_t b) {
    return (a <= 1 && b <= 1) || a == b;
}

cudaStream_t as_stream(std::uintptr_t s) {
    return s == 0 ? cudaStreamLegacy : reinterpret_cast<cudaStream_t>(s);
}

[[noreturn]] void throw_cuda(cudaError_t err, const std::string& what) {
    const bool no_device = err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver;
    throw std::runtime_error("pyfastopt._cuda: " + what + ": " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")" +
                             (no_device ? "; no usable CUDA device (device_count() == 0)" : ""));
}

/// Restores the calling thread's current device.
class DeviceGuard {
public:
    explicit DeviceGuard(int device) {
        if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
        if (device != previous_) {
            const cudaError_t err = cudaSetDevice(device);
            if (err != cudaSuccess) throw_cuda(err, "cudaSetDevice");
        }
    }
    ~DeviceGuard() {
        if (previous_ >= 0) cudaSetDevice(previous_);
    }
    DeviceGuard(const DeviceGuard&) = delete;
    DeviceGuard& operator=(const DeviceGuard&) = delete;

private:
    int previous_ = -1;
};

std::string shape_str(const std::vector<std::int64_t>& shape) {
    std::string s = "(";
    for (std::size_t d = 0; d < shape.size(); ++d) s += (d ? ", " : "") + std::to_string(shape[d]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

/// Every device array of one call, each checked as it is added; then what concerns them
/// all: overlaps, the device they are on, the streams they were produced on.
class CallArrays {
public:
    /// Adds `a` (its dtype already checked) after checking its layout: the shape of its
    /// parameter `like` (if given), C-contiguous, aligned, writable if the kernel writes it.
    const DeviceArray& add(DeviceArray a, const DeviceArray* like, bool written) {
        if (like != nullptr && a.shape != like->shape)
            throw py::value_error(a.name + " has shape " + shape_str(a.shape) +
                                  ", expected the shape of " + like->name + " " +
                                  shape_str(like->shape));
        if (!a.contiguous) throw py::value_error(a.name + " must be C-contiguous");
        if (a.size != 0 && a.itemsize > 1 && a.ptr % a.itemsize != 0)
            throw py::value_error(a.name + " must be aligned");
        if (written && a.readonly) throw py::value_error(a.name + " is read-only");
        arrays_.push_back(std::move(a));
        written_.push_back(written);
        return arrays_.back();
    }

    /// Written buffers are pairwise disjoint; a read-only argument (a gradient) overlaps
    /// no written buffer (gradients may share memory with each other: they are only read).
    void check_overlaps() const {
        std::vector<Span> written;
        for (std::size_t j = 0; j < arrays_.size(); ++j)
            if (written_[j]) written.push_back(span_of(arrays_[j]));
        written.erase(std::remove_if(written.begin(), written.end(),
                                     [](const Span& s) { return s.begin == s.end; }),
                      written.end());
        std::sort(written.begin(), written.end(),
                  [](const Span& a, const Span& b) { return a.begin < b.begin; });
        for (std::size_t i = 1; i < written.size(); ++i)
            if (written[i - 1].end > written[i].begin) overlap_error(written[i], written[i - 1]);
        for (std::size_t j = 0; j < arrays_.size(); ++j) {
            if (written_[j]) continue;
            const Span read = span_of(arrays_[j]);
            if (read.begin == read.end) continue;
            auto after =
                std::lower_bound(written.begin(), written.end(), read.end,
                                 [](const Span& s, std::uintptr_t end) { return s.begin < end; });
            if (after != written.begin() && std::prev(after)->end > read.begin)
                overlap_error(read, *std::prev(after));
        }
    }

    /// Device checks (call without the GIL): every non-empty buffer is device (or managed)
    /// memory of one device. Returns that device.
    int prepare() const {
        int device = -1;
        const DeviceArray* first = nullptr;
        for (const DeviceArray& a : arrays_) {
            if (a.size == 0) continue;
            cudaPointerAttributes attr{};
            const cudaError_t err = cudaPointerGetAttributes(&attr, reinterpret_cast<void*>(a.ptr));
            if (err != cudaSuccess) {
                cudaGetLastError();  // clear a non-sticky error
                throw_cuda(err, "cannot query the memory of " + a.name);
            }
            if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
                throw py::value_error(a.name + " is not CUDA device memory");
            if (first == nullptr) {
                first = &a;
                device = attr.device;
            } else if (attr.device != device) {
                throw py::value_error(a.name + " is on CUDA device " + std::to_string(attr.device) +
                                      ", " + first->name + " on device " + std::to_string(device));
            }
        }
        return device;
    }

    /// Makes `stream` wait for every other stream an argument named.
    void order_after_producers(std::uintptr_t stream) const {
        std::vector<std::uintptr_t> waited;
        for (const DeviceArray& a : arrays_) {
            if (!a.has_stream || same_stream(a.stream, stream)) continue;
            if (std::find(waited.begin(), waited.end(), a.stream) != waited.end()) continue;
            waited.push_back(a.stream);
            cudaEvent_t event = nullptr;
            cudaError_t err = cudaEventCreateWithFlags(&event, cudaEventDisableTiming);
            if (err == cudaSuccess) err = cudaEventRecord(event, as_stream(a.stream));
            if (err == cudaSuccess) err = cudaStreamWaitEvent(as_stream(stream), event, 0);
            if (event != nullptr) cudaEventDestroy(event);  // released once the wait is done
            if (err != cudaSuccess) throw_cuda(err, "waiting for the stream of " + a.name);
        }
    }

private:
    struct Span {
        std::uintptr_t begin, end;
        const std::string* name;
    };

    static Span span_of(const DeviceArray& a) {
        return {a.ptr, a.ptr + a.size * a.itemsize, &a.name};
    }

    [[noreturn]] static void overlap_error(const Span& a, const Span& b) {
        throw py::value_error(*a.name + " shares memory with " + *b.name +
                              " (each buffer must be distinct)");
    }

    std::deque<DeviceArray> arrays_;  ///< stable addresses: callers keep pointers
    std::vector<bool> written_;
};

/// A state argument: an array, or an 8-bit state's (codes, absmax) with `absmax` set.
struct StateArg {
    DeviceArray array;
    std::optional<DeviceArray> absmax;
};

/// The arguments of one call, parsed (their protocols read), not yet checked.
template <int K>
struct Parsed {
    std::vector<DeviceArray> params, grads, masters;
    std::array<std::vector<StateArg>, K> states;
};

using bindings::MixedOptions;
using bindings::SignedStates;

/// Every argument of a same-dtype float32 or float64 call, checked; batch() is what the
/// kernels take.
template <class T, int K>
class CheckedCall {
public:
    /// Checks params, grads (empty: the rule reads none) and states as the CPU kernels do:
    /// dtype T, the shape of the parameter, C-contiguous, written buffers writable and not
    /// sharing memory, gradients not sharing memory with written buffers.
    explicit CheckedCall(Parsed<K> a) {
        const std::size_t n = a.params.size();
        std::vector<const DeviceArray*> params;
        for (auto& p : a.params) {
            check_dtype(p, nullptr);
            params.push_back(&arrays_.add(std::move(p), nullptr, true));
            sizes_.push_back(params.back()->size);
            p_.push_back(reinterpret_cast<T*>(params.back()->ptr));
        }
        for (std::size_t i = 0; i < a.grads.size(); ++i) {
            check_dtype(a.grads[i], params[i]);
            g_.push_back(reinterpret_cast<const T*>(
                arrays_.add(std::move(a.grads[i]), params[i], false).ptr));
        }
        if (a.grads.empty()) g_.assign(p_.begin(), p_.end());
        for (int k = 0; k < K; ++k)
            for (std::size_t i = 0; i < n; ++i) {
                DeviceArray& s = a.states[k][i].array;
                check_dtype(s, params[i]);
                s_[k].push_back(
                    reinterpret_cast<T*>(arrays_.add(std::move(s), params[i], true).ptr));
            }
        arrays_.check_overlaps();
    }

    /// True if there is nothing to update (no CUDA call is needed).
    bool empty() const {
        return std::all_of(sizes_.begin(), sizes_.end(), [](std::size_t n) { return n == 0; });
    }

    const CallArrays& arrays() const { return arrays_; }

    Batch<T, K> batch() const {
        Batch<T, K> b;
        b.count = sizes_.size();
        b.sizes = sizes_.data();
        b.params = p_.data();
        b.grads = g_.data();
        for (int k = 0; k < K; ++k) b.states[k] = s_[k].data();
        return b;
    }

private:
    static void check_dtype(const DeviceArray& a, const DeviceArray* param) {
        const char* want = sizeof(T) == 4 ? "float32" : "float64";
        if (a.dtype != want)
            throw py::type_error(
                a.name + " has dtype " + a.dtype + ", expected " + want +
                (param != nullptr ? " (the dtype of " + param->name + ")" : std::string()));
    }

    CallArrays arrays_;
    std::vector<std::size_t> sizes_;
    std::vector<T*> p_;
    std::vector<const T*> g_;
    std::array<std::vector<T*>, K> s_;
};

Storage storage_of(const std::string& dtype) {
    return dtype == "bfloat16"  ? Storage::kBFloat16
           : dtype == "float16" ? Storage::kFloat16
                                : Storage::kFloat32;
}

bool is_16_or_32_bit(const std::string& dtype) {
    return dtype == "float32" || dtype == "bfloat16" || dtype == "float16";
}

/// Every argument of a call in mixed storage (bindings/mixed.hpp's combinations, with its
/// messages), checked; batch() is what the kernels take.
template <int K>
class CheckedMixed {
public:
    /// signed_states: the rule's kSignedStates (null if it takes no 8-bit states).
    CheckedMixed(Parsed<K> a, const bool* signed_states, const MixedOptions& options)
        : options_(options) {
        const std::size_t n = a.params.size();
        std::vector<const DeviceArray*> params;
        std::vector<std::string> param_dtype;  // of each parameter (the 16-bit one with a master)
        for (std::size_t i = 0; i < n; ++i) {
            DeviceArray& p = a.params[i];
            if (!is_16_or_32_bit(p.dtype))
                throw py::type_error(p.name + " has dtype " + p.dtype +
                                     ", expected float32, float64, bfloat16 or float16" +
                                     (p.dtype == "float64"
                                          ? " (float64 params take float64 grads and states "
                                            "only, and no masters, grad_scale or seed)"
                                          : ""));
            param_dtype.push_back(p.dtype);
            params.push_back(&arrays_.add(std::move(p), nullptr, true));
            const DeviceArray& param = *params.back();
            sizes_.push_back(param.size);
            Stored stored{reinterpret_cast<void*>(param.ptr), storage_of(param.dtype), nullptr};
            if (!a.masters.empty()) {
                DeviceArray& m = a.masters[i];
                if (param.dtype == "float32")
                    throw py::type_error(m.name +
                                         ": master weights are for bfloat16 or float16 "
                                         "params, " +
                                         param.name + " has dtype float32");
                if (m.dtype != "float32")
                    throw py::type_error(m.name + " has dtype " + m.dtype +
                                         ", expected float32 (the master of " + param.name + ", " +
                                         param.dtype + ")");
                copies_.push_back(stored);
                stored = {reinterpret_cast<void*>(arrays_.add(std::move(m), &param, true).ptr),
                          Storage::kFloat32, nullptr};
            }
            params_.push_back(stored);
        }
        for (int k = 0; k < K; ++k)
            for (std::size_t i = 0; i < n; ++i)
                states_[k].push_back(checked_state(a.states[k][i], *params[i],
                                                   copies_.empty() ? param_dtype[i] : "float32",
                                                   signed_states ? signed_states + k : nullptr));
        for (std::size_t i = 0; i < a.grads.size(); ++i) {
            DeviceArray& g = a.grads[i];
            const std::string& want = param_dtype[i];
            // a float32 parameter takes 16-bit gradients (from a device)
            if (!(g.dtype == want || (want == "float32" && is_16_or_32_bit(g.dtype))))
                throw py::type_error(g.name + " has dtype " + g.dtype + ", expected " + want +
                                     " (the dtype of " + params[i]->name + ")" +
                                     (want == "float32" ? ", bfloat16 or float16" : ""));
            const DeviceArray& grad = arrays_.add(std::move(g), params[i], false);
            grads_.push_back({reinterpret_cast<void*>(grad.ptr), storage_of(grad.dtype), nullptr});
        }
        if (a.grads.empty()) grads_ = params_;  // a rule that reads none
        arrays_.check_overlaps();
    }

    bool empty() const {
        return std::all_of(sizes_.begin(), sizes_.end(), [](std::size_t n) { return n == 0; });
    }

    const CallArrays& arrays() const { return arrays_; }

    MixedBatch<K> batch() const {
        return options_.apply(mixed_batch<K>(sizes_, params_, grads_, states_, copies_));
    }

private:
    /// A state: an array (float32, bfloat16 or float16) or, for a rule with 8-bit states,
    /// (codes: uint8 like the param, absmax: float32 of ceil(n / 256) elements).
    Stored checked_state(StateArg& s,
                         const DeviceArray& param,
                         const std::string& param_dtype,
                         const bool* is_signed) {
        if (s.absmax) {
            if (s.array.dtype != "uint8")
                throw py::type_error(s.array.name + ": 8-bit codes have dtype " + s.array.dtype +
                                     ", expected uint8");
            const DeviceArray& codes = arrays_.add(std::move(s.array), &param, true);
            DeviceArray& absmax = *s.absmax;
            const std::size_t blocks = (param.size + kQuantBlock - 1) / kQuantBlock;
            if (absmax.dtype != "float32")
                throw py::type_error(absmax.name + " has dtype " + absmax.dtype +
                                     ", expected float32");
            if (absmax.shape.size() != 1 || absmax.size != blocks)
                throw py::value_error(absmax.name + " has shape " + shape_str(absmax.shape) +
                                      ", expected (" + std::to_string(blocks) +
                                      ",): one per block of 256 elements");
            const DeviceArray& scales = arrays_.add(std::move(absmax), nullptr, true);
            return {reinterpret_cast<void*>(codes.ptr),
                    *is_signed ? Storage::kQ8Signed : Storage::kQ8Unsigned,
                    reinterpret_cast<float*>(scales.ptr)};
        }
        if (!is_16_or_32_bit(s.array.dtype))
            throw py::type_error(s.array.name + " has dtype " + s.array.dtype + "; with " +
                                 param_dtype + " params, states are float32, bfloat16, float16" +
                                 (is_signed ? " or 8-bit (codes, absmax)" : ""));
        const DeviceArray& a = arrays_.add(std::move(s.array), &param, true);
        return {reinterpret_cast<void*>(a.ptr), storage_of(a.dtype), nullptr};
    }

    MixedOptions options_;
    CallArrays arrays_;
    std::vector<std::size_t> sizes_;
    std::vector<Stored> params_, grads_, copies_;
    std::array<std::vector<Stored>, K> states_;
};

using bindings::coeffs_from;
using bindings::ReadsGrad;

/// Checks the device, orders the launch stream after the arguments' producers and runs
/// launch(sms) on the arguments' device, without the GIL.
template <class Checked, class Launch>
void launch_on_device(const Checked& call, std::uintptr_t stream, Launch&& launch) {
    const py::gil_scoped_release release;  // no Python object touched below
    const int device = call.arrays().prepare();
    const DeviceGuard guard(device);
    int sms = 0;
    const cudaError_t err = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
    if (err != cudaSuccess) throw_cuda(err, "cudaDeviceGetAttribute");
    call.arrays().order_after_producers(stream);
    launch(sms);
}

/// Parses, checks, launches; returns None once the work is enqueued. Same-dtype float32 or
/// float64 calls take the plain kernels; anything else (or an option only the mixed
/// kernels implement) the mixed-storage ones, as on the CPU.
template <class Rule>
py::object call_rule(py::handle params,
                     py::handle grads,
                     py::handle states,
                     py::handle coeffs,
                     py::handle stream_arg,
                     py::handle masters,
                     const MixedOptions& options) {
    constexpr int K = Rule::kStates;
    constexpr bool kGrads = ReadsGrad<Rule>::value;
    const auto p = items_of(params, kGrads ? "params" : "arrays");
    const auto s = items_of(states, "states");
    const std::size_t n = p.size();
    if (s.size() != static_cast<std::size_t>(K))
        throw py::value_error("states: expected " + std::to_string(K) + " lists, got " +
                              std::to_string(s.size()));
    std::vector<py::handle> g, m;
    if (kGrads) {
        g = items_of(grads, "grads");
        if (g.size() != n)
            throw py::value_error("grad: expected " + std::to_string(n) +
                                  " arrays (one per param), got " + std::to_string(g.size()));
    }
    if (!masters.is_none()) {
        m = items_of(masters, "masters");
        if (m.size() != n)
            throw py::value_error("master: expected " + std::to_string(n) +
                                  " arrays (one per param), got " + std::to_string(m.size()));
    }
    std::array<std::vector<py::handle>, K> s_items;
    for (int k = 0; k < K; ++k) {
        s_items[k] = items_of(s[k], Rule::kStateNames[k]);
        if (s_items[k].size() != n)
            throw py::value_error(std::string(Rule::kStateNames[k]) + ": expected " +
                                  std::to_string(n) + " arrays, got " +
                                  std::to_string(s_items[k].size()));
    }
    if (n == 0) return py::none();

    const std::uintptr_t stream = launch_stream(stream_arg, p);
    auto parse = [&](const std::vector<py::handle>& items, const char* role) {
        std::vector<DeviceArray> out;
        for (std::size_t i = 0; i < items.size(); ++i)
            out.push_back(device_array(items[i], {role, i, n}, stream));
        return out;
    };
    Parsed<K> a;
    a.params = parse(p, kGrads ? "param" : "array");
    a.grads = parse(g, "grad");
    a.masters = parse(m, "master");
    bool quantized = false;
    for (int k = 0; k < K; ++k)
        for (std::size_t i = 0; i < n; ++i) {
            const ArgName name{Rule::kStateNames[k], i, n};
            if (!PyTuple_Check(s_items[k][i].ptr())) {
                a.states[k].push_back({device_array(s_items[k][i], name, stream), {}});
                continue;
            }
            if (!SignedStates<Rule>::kHas)
                throw py::type_error(name.str() + ": this optimizer takes no 8-bit states");
            const auto pair = py::reinterpret_borrow<py::tuple>(s_items[k][i]);
            if (pair.size() != 2)
                throw py::value_error(name.str() + ": an 8-bit state is a tuple (codes, absmax)");
            const std::string absmax_name = name.str() + " absmax";
            a.states[k].push_back({device_array(pair[0], name, stream),
                                   device_array(pair[1], {absmax_name.c_str(), 0, 1}, stream)});
            quantized = true;
        }

    const std::string& first = a.params[0].dtype;
    bool mixed = options.given || !a.masters.empty() || quantized ||
                 (first != "float32" && first != "float64");
    for (const auto& x : a.params) mixed = mixed || x.dtype != first;
    for (const auto& x : a.grads) mixed = mixed || x.dtype != first;
    for (const auto& list : a.states)
        for (const auto& x : list) mixed = mixed || x.array.dtype != first;
    if (mixed) {
        const CheckedMixed<K> call(std::move(a), SignedStates<Rule>::value, options);
        const auto c = coeffs_from<Rule, float>(coeffs);
        if (call.empty()) return py::none();  // nothing to update: no CUDA call
        launch_on_device(call, stream, [&](int sms) {
            pyfastopt::cuda::step_mixed<Rule>(c, call.batch(), as_stream(stream), sms);
        });
        return py::none();
    }
    auto run = [&](auto zero) -> py::object {
        using T = decltype(zero);
        const CheckedCall<T, K> call(std::move(a));
        const auto c = coeffs_from<Rule, T>(coeffs);
        if (call.empty()) return py::none();  // nothing to update: no CUDA call
        launch_on_device(call, stream, [&](int sms) {
            pyfastopt::cuda::step<Rule, T>(c, call.batch(), as_stream(stream), sms);
        });
        return py::none();
    };
    return first == "float64" ? run(double{}) : run(float{});
}

constexpr const char* kKernelDoc =
    "In-place step over lists of C-contiguous CUDA device arrays (__cuda_array_interface__ "
    "or DLPack) in the storages of the CPU kernel of the same name (float32, float64, "
    "bfloat16, float16, 8-bit (codes, absmax) states; masters, grad_scale, seed, step, "
    "first_tensor as there); coeffs are the rule's per-step scalars in declaration order; "
    "stream: where to enqueue the work (see the module doc). Returns once enqueued. "
    "Private: use pyfastopt.cuda.";

template <class Rule>
void register_rule(py::module_& m, const char* name) {
    const auto none = py::none();
    if constexpr (ReadsGrad<Rule>::value) {
        m.def(
            name,
            [](py::handle params, py::handle grads, py::handle states, py::handle coeffs,
               py::handle masters, py::handle grad_scale, py::handle seed, py::handle step,
               py::handle first_tensor, py::handle stream) {
                const MixedOptions options(grad_scale, seed, step, first_tensor);
                return call_rule<Rule>(params, grads, states, coeffs, stream, masters, options);
            },
            py::arg("params"), py::arg("grads"), py::arg("states"), py::arg("coeffs"),
            py::kw_only(), py::arg("masters") = none, py::arg("grad_scale") = none,
            py::arg("seed") = none, py::arg("step") = none, py::arg("first_tensor") = none,
            py::arg("stream") = none, kKernelDoc);
    } else {
        m.def(
            name,
            [](py::handle arrays, py::handle coeffs, py::handle stream) {
                const auto none = py::none();
                return call_rule<Rule>(arrays, none, py::list(), coeffs, stream, none,
                                       MixedOptions(none, none, none, none));
            },
            py::arg("arrays"), py::arg("coeffs"), py::kw_only(), py::arg("stream") = none,
            kKernelDoc);
    }
}

/// CUDA devices visible to this process; 0 without a driver or device (never raises).
int device_count() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return n;
}

}  // namespace
}  // namespace pyfastopt::cuda_bindings

#ifndef PFO_CUDA_ARCHITECTURES
#define PFO_CUDA_ARCHITECTURES "unknown"
#endif

PYBIND11_MODULE(_cuda, m, py::mod_gil_not_used()) {
    namespace b = pyfastopt::cuda_bindings;
    m.doc() =
        "pyfastopt's CUDA kernels (private; use pyfastopt.cuda): the element-wise kernels of "
        "_core, by the same names, on CUDA device arrays. Importing makes no CUDA call.";
#define PFO_REGISTER(Rule, name) b::register_rule<pyfastopt::rules::Rule>(m, #name);
    PFO_FOR_EACH_RULE(PFO_REGISTER)
#undef PFO_REGISTER
    m.def("device_count", &b::device_count,
          "CUDA devices visible to this process; 0 without a driver or device (never raises).");
    m.def(
        "build_info",
        [] {
            py::dict info;
            info["cuda_runtime"] = CUDART_VERSION;  // compile-time version, e.g. 13000
            info["architectures"] = PFO_CUDA_ARCHITECTURES;
            return info;
        },
        "The CUDA runtime version compiled against and the compiled GPU architectures.");
}
