// Private: the arguments of a kernel call in mixed storage (bfloat16/float16 parameters and
// gradients, float32/bfloat16/8-bit states, float32 master weights) checked into a
// MixedBatch. The supported combinations (the dtype table of README and the docs) are
// decided here, once, for every rule; any other raises TypeError naming the argument and
// both dtypes, before anything is written.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <deque>
#include <string>
#include <type_traits>
#include <vector>

#include <pyfastopt/storage.hpp>

#include "buffers.hpp"

namespace pyfastopt::bindings {

/// What an array holds, by dtype.
enum class Dtype { kOther, kFloat32, kFloat64, kBFloat16, kFloat16, kUInt8 };

inline Dtype dtype_of(const py::array& a) {
    const py::dtype d = a.dtype();
    const auto* descr = py::detail::array_descriptor_proxy(d.ptr());
    if (descr->byteorder == '>') return Dtype::kOther;  // never on the little-endian CPUs built for
    switch (descr->type) {
        case 'f':
            return d.itemsize() == 4 ? Dtype::kFloat32 : Dtype::kOther;
        case 'd':
            return d.itemsize() == 8 ? Dtype::kFloat64 : Dtype::kOther;
        case 'e':
            return Dtype::kFloat16;
        case 'B':
            return Dtype::kUInt8;
        case 'E': {  // ml_dtypes.bfloat16 (other ml_dtypes types have other codes)
            // its descr, once seen, is compared by address: a gradient's dtype is read at
            // every step, and the name lookup costs a Python attribute access
            static PyObject* bfloat16 = nullptr;
            if (d.ptr() == bfloat16) return Dtype::kBFloat16;
            if (d.itemsize() != 2 || std::string(py::str(d.attr("name"))) != "bfloat16")
                return Dtype::kOther;
            bfloat16 = d.inc_ref().ptr();  // kept alive: the address must stay its own
            return Dtype::kBFloat16;
        }
        default:
            return Dtype::kOther;
    }
}

inline const char* dtype_name(Dtype d) {
    switch (d) {
        case Dtype::kFloat32:
            return "float32";
        case Dtype::kFloat64:
            return "float64";
        case Dtype::kBFloat16:
            return "bfloat16";
        case Dtype::kFloat16:
            return "float16";
        case Dtype::kUInt8:
            return "uint8";
        default:
            return "?";
    }
}

inline Storage storage_of(Dtype d) {
    switch (d) {
        case Dtype::kBFloat16:
            return Storage::kBFloat16;
        case Dtype::kFloat16:
            return Storage::kFloat16;
        default:
            return Storage::kFloat32;
    }
}

/// Whether the call is anything but the plain one: same-dtype float32 or float64 arrays
/// everywhere. Cheap (dtype codes only); the mixed checks then decide whether it is valid.
inline bool is_mixed(py::handle params, py::handle grads, py::handle states) {
    const auto p = items_of(params, "param");
    if (p.empty() || !py::isinstance<py::array>(p[0])) return false;
    auto* first = py::detail::array_proxy(p[0].ptr())->descr;
    const auto& api = py::detail::npy_api::get();
    auto differs = [&](py::handle item) {
        if (!api.PyArray_Check_(item.ptr())) return PyTuple_Check(item.ptr()) != 0;
        auto* descr = py::detail::array_proxy(item.ptr())->descr;
        return descr != first && !api.PyArray_EquivTypes_(descr, first);
    };
    const Dtype d = dtype_of(py::reinterpret_borrow<py::array>(p[0]));
    if (d != Dtype::kFloat32 && d != Dtype::kFloat64) return d != Dtype::kOther;
    for (const auto item : p)
        if (differs(item)) return true;
    if (PyList_Check(grads.ptr()) || PyTuple_Check(grads.ptr()))
        for (const auto item : items_of(grads, "grad"))
            if (differs(item)) return true;
    if (PyList_Check(states.ptr()) || PyTuple_Check(states.ptr()))
        for (const auto list : items_of(states, "states"))
            if (PyList_Check(list.ptr()) || PyTuple_Check(list.ptr()))
                for (const auto item : items_of(list, "states"))
                    if (differs(item)) return true;
    return false;
}

/// Params (with their master weights, if any) and states in any supported storage, checked
/// once; gradients checked per call by with_grads().
template <int K>
class CheckedMixed {
public:
    /// signed_states: the rule's kSignedStates (null if it takes no 8-bit states).
    CheckedMixed(py::handle params,
                 py::handle states,
                 py::handle masters,
                 const char* const* state_names,
                 const bool* signed_states,
                 Roles roles = {})
        : roles_(roles), state_names_(state_names) {
        const auto p = items_of(params, roles_.param);
        const auto s = state_lists(states, K);
        const std::size_t n = p.size();
        std::vector<py::handle> m;
        if (!masters.is_none()) {
            m = items_of(masters, "master");
            if (m.size() != n)
                throw py::value_error("master: expected " + std::to_string(n) +
                                      " arrays (one per param), got " + std::to_string(m.size()));
        }
        arrays_.reserve(n * (2 * K + 2));  // never reallocates: params_ point into it
        sizes_.resize(n);
        param_dtype_.resize(n);
        params_.resize(n);
        grads_.resize(n);
        if (!m.empty()) copies_.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const ArgName name = arg(roles_.param, i, n);
            const py::array& param = keep(p[i], name, nullptr, true);
            const Dtype d = dtype_of(param);
            if (d != Dtype::kFloat32 && d != Dtype::kBFloat16 && d != Dtype::kFloat16)
                throw py::type_error(name.str() + " has dtype " + str_dtype(param) +
                                     ", expected float32, float64, bfloat16 or float16" +
                                     (d == Dtype::kFloat64
                                          ? " (float64 params take float64 grads and states "
                                            "only, and no masters, grad_scale or seed)"
                                          : ""));
            param_dtype_[i] = d;
            sizes_[i] = static_cast<std::size_t>(param.size());
            Stored stored{const_cast<void*>(param.data()), storage_of(d), nullptr};
            if (!m.empty()) {
                const ArgName mname = arg("master", i, n);
                if (d == Dtype::kFloat32)
                    throw py::type_error(mname.str() +
                                         ": master weights are for bfloat16 or "
                                         "float16 params, " +
                                         name.str() + " has dtype float32");
                const py::array& master = keep(m[i], mname, &param, true);
                if (dtype_of(master) != Dtype::kFloat32)
                    throw py::type_error(mname.str() + " has dtype " + str_dtype(master) +
                                         ", expected float32 (the master of " + name.str() + ", " +
                                         dtype_name(d) + ")");
                copies_[i] = stored;
                stored = Stored{const_cast<void*>(master.data()), Storage::kFloat32, nullptr};
            }
            params_[i] = stored;
        }
        for (int k = 0; k < K; ++k) {
            const auto list = items_of(s[k], state_names[k]);
            if (list.size() != n)
                throw py::value_error(std::string(state_names[k]) + ": expected " +
                                      std::to_string(n) + " arrays, got " +
                                      std::to_string(list.size()));
            states_[k].resize(n);
            for (std::size_t i = 0; i < n; ++i)
                states_[k][i] = checked_state(list[i], arg(state_names[k], i, n), i,
                                              signed_states ? signed_states + k : nullptr);
        }
        written_.sort_and_check();
    }

    /// The batch with these gradients, after checking them (and that every written array
    /// is still writable).
    MixedBatch<K> with_grads(py::handle grads) {
        const auto g = items_of(grads, roles_.grad);
        kept_grads_.clear();
        const std::size_t n = sizes_.size();
        if (g.size() != n)
            throw py::value_error(std::string(roles_.grad) + ": expected " + std::to_string(n) +
                                  " arrays (one per param), got " + std::to_string(g.size()));
        check_still_writable();
        for (std::size_t i = 0; i < n; ++i) {
            const ArgName name = arg(roles_.grad, i, n);
            kept_grads_.push_back(as_ndarray(g[i], name.str()));
            const py::array& grad = kept_grads_.back();
            const Dtype d = dtype_of(grad), want = param_dtype_[i];
            // a float32 parameter (or master) takes 16-bit gradients from a device
            const bool ok = d == want || (want == Dtype::kFloat32 &&
                                          (d == Dtype::kBFloat16 || d == Dtype::kFloat16));
            if (!ok)
                throw py::type_error(name.str() + " has dtype " + str_dtype(grad) + ", expected " +
                                     dtype_name(want) + " (the dtype of param)" +
                                     (want == Dtype::kFloat32 ? ", bfloat16 or float16" : ""));
            check_shape_and_layout(grad, name.str(), &arrays_[param_index_[i]], false);
            grads_[i] = Stored{const_cast<void*>(grad.data()), storage_of(d), nullptr};
            written_.check_not_written(WrittenSpans::span_of(grad, name));
        }
        return batch();
    }

    /// The batch of a rule that reads no gradient.
    MixedBatch<K> without_grads() {
        grads_ = params_;
        return batch();
    }

    void check_still_writable() const {
        for (std::size_t j = 0; j < arrays_.size(); ++j) {
            const auto* a = py::detail::array_proxy(arrays_[j].ptr());
            if (!(a->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_))
                throw py::value_error(names_[j] + " is read-only");
        }
    }

    bool same_params(py::handle params) const {
        if (!PyList_Check(params.ptr()) && !PyTuple_Check(params.ptr())) return false;
        const std::size_t n = sizes_.size();
        if (static_cast<std::size_t>(PySequence_Fast_GET_SIZE(params.ptr())) != n) return false;
        PyObject** items = PySequence_Fast_ITEMS(params.ptr());
        for (std::size_t i = 0; i < n; ++i)
            if (items[i] != arrays_[param_index_[i]].ptr()) return false;
        return true;
    }

private:
    ArgName arg(const char* role, std::size_t i, std::size_t n) const {
        return {role, i, n, roles_.indexed};
    }

    static std::string str_dtype(const py::array& a) { return std::string(py::str(a.dtype())); }

    /// A written array: layout checked, kept alive, its memory recorded.
    const py::array& keep(py::handle obj,
                          const ArgName& name,
                          const py::array* like_param,
                          bool written) {
        py::array a = as_ndarray(obj, name.str());
        check_shape_and_layout(a, name.str(), like_param, written);
        if (like_param == nullptr && std::string(name.role) == roles_.param)
            param_index_.push_back(arrays_.size());
        arrays_.push_back(std::move(a));
        names_.push_back(name.str());
        written_.add(arrays_.back(), name);
        return arrays_.back();
    }

    /// State i of one kind: an array (float32, bfloat16 or float16) or, for a
    /// rule with 8-bit states, a tuple (codes: uint8 like the param, absmax: float32 of
    /// ceil(n / 256) elements).
    Stored checked_state(py::handle obj,
                         const ArgName& name,
                         std::size_t i,
                         const bool* is_signed) {
        const py::array& param = arrays_[param_index_[i]];
        const Dtype pd = param_dtype_[i] == Dtype::kFloat32 && !copies_.empty() ? Dtype::kFloat32
                                                                                : param_dtype_[i];
        if (PyTuple_Check(obj.ptr())) {
            if (is_signed == nullptr)
                throw py::type_error(name.str() + ": this optimizer takes no 8-bit states");
            const auto pair = py::reinterpret_borrow<py::tuple>(obj);
            if (pair.size() != 2)
                throw py::value_error(name.str() + ": an 8-bit state is a tuple (codes, absmax)");
            const ArgName codes_name{name.role, name.index, name.count, name.indexed};
            const py::array& codes = keep(pair[0], codes_name, &param, true);
            if (dtype_of(codes) != Dtype::kUInt8)
                throw py::type_error(name.str() + ": 8-bit codes have dtype " + str_dtype(codes) +
                                     ", expected uint8");
            const std::string absmax_name = name.str() + " absmax";
            const py::array& absmax = keep_named(pair[1], absmax_name);
            const auto blocks =
                (static_cast<std::size_t>(param.size()) + kQuantBlock - 1) / kQuantBlock;
            if (dtype_of(absmax) != Dtype::kFloat32)
                throw py::type_error(absmax_name + " has dtype " + str_dtype(absmax) +
                                     ", expected float32");
            if (absmax.ndim() != 1 || static_cast<std::size_t>(absmax.size()) != blocks)
                throw py::value_error(absmax_name + " has shape " + shape_str(absmax) +
                                      ", expected (" + std::to_string(blocks) +
                                      ",): one per block of 256 elements");
            return {const_cast<void*>(codes.data()),
                    *is_signed ? Storage::kQ8Signed : Storage::kQ8Unsigned,
                    static_cast<float*>(const_cast<void*>(absmax.data()))};
        }
        const py::array& a = keep(obj, name, &param, true);
        const Dtype d = dtype_of(a);
        if (!(d == Dtype::kFloat32 || d == Dtype::kBFloat16 || d == Dtype::kFloat16))
            throw py::type_error(name.str() + " has dtype " + str_dtype(a) + "; with " +
                                 dtype_name(pd) + " params, states are float32, bfloat16, float16" +
                                 (is_signed ? " or 8-bit (codes, absmax)" : ""));
        return {const_cast<void*>(a.data()), storage_of(d), nullptr};
    }

    const py::array& keep_named(py::handle obj, const std::string& name) {
        py::array a = as_ndarray(obj, name);
        check_shape_and_layout(a, name, nullptr, true);
        arrays_.push_back(std::move(a));
        names_.push_back(name);
        written_.add(arrays_.back(), ArgName{names_.back().c_str(), 0, 1});
        return arrays_.back();
    }

    MixedBatch<K> batch() const {
        return mixed_batch<K>(sizes_, params_, grads_, states_, copies_);
    }

    Roles roles_;
    const char* const* state_names_;
    std::vector<py::array> arrays_;         ///< every written array, kept alive
    std::deque<std::string> names_;         ///< their names, for errors (stable: spans point here)
    std::vector<std::size_t> param_index_;  ///< where param i is in arrays_
    std::vector<py::array> kept_grads_;
    WrittenSpans written_;
    std::vector<std::size_t> sizes_;
    std::vector<Dtype> param_dtype_;  ///< of each parameter (the 16-bit one with a master)
    std::vector<Stored> params_, grads_, copies_;
    std::array<std::vector<Stored>, K> states_;
};

}  // namespace pyfastopt::bindings
