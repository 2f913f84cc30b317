// Private: turns the Python arguments of a kernel call into a checked Batch. Every check
// runs before any element is written; a failure raises TypeError/ValueError naming the
// argument. Arrays are never converted: converting would update a copy and lose the step.
//
// Checking happens in two phases so that an optimizer can pay for the first once:
// CheckedBatch(params, states) checks the buffers that are written, then with_grads(grads)
// checks the gradients of one call against them.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <pyfastopt/batch.hpp>

namespace pyfastopt::bindings {

namespace py = pybind11;

/// The list argument `obj` (a list or tuple) as a vector of its items.
inline std::vector<py::handle> items_of(py::handle obj, const char* name) {
    if (!PyList_Check(obj.ptr()) && !PyTuple_Check(obj.ptr()))
        throw py::type_error(std::string(name) + " must be a list of numpy arrays");
    // no iterator: a step of a large model reads thousands of items
    PyObject** items = PySequence_Fast_ITEMS(obj.ptr());
    return {items, items + PySequence_Fast_GET_SIZE(obj.ptr())};
}

/// The `states` argument: one list per state buffer of the rule, k of them.
inline std::vector<py::handle> state_lists(py::handle states, int k) {
    auto lists = items_of(states, "states");
    if (lists.size() != static_cast<std::size_t>(k))
        throw py::value_error("states: expected " + std::to_string(k) + " lists, got " +
                              std::to_string(lists.size()));
    return lists;
}

/// An integer argument as T, or TypeError/ValueError naming it: pybind11's own conversion
/// answers an int beyond T's range with its dump of every signature.
template <class T>
T int_arg(py::handle obj, const char* name) {
    static_assert(std::is_integral_v<T>, "an integer type");
    if (PyBool_Check(obj.ptr()) || !PyIndex_Check(obj.ptr()))
        throw py::type_error(std::string(name) + " must be an int, got " +
                             std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    const auto value = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
    if (!value) throw py::error_already_set();
    if constexpr (std::is_signed_v<T>) {
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
        if (overflow == 0 && v >= std::numeric_limits<T>::min() &&
            v <= std::numeric_limits<T>::max())
            return static_cast<T>(v);
    } else {
        const unsigned long long v = PyLong_AsUnsignedLongLong(value.ptr());
        if (PyErr_Occurred())
            PyErr_Clear();  // negative or too large: the error below names the argument
        else if (v <= std::numeric_limits<T>::max())
            return static_cast<T>(v);
    }
    throw py::value_error(std::string(name) + " = " + std::string(py::str(value)) +
                          " is out of range");
}

/// A real-number argument as a double, or TypeError naming it (for the same reason).
inline double real_arg(py::handle obj, const char* name) {
    if (PyBool_Check(obj.ptr()) ||
        !(PyFloat_Check(obj.ptr()) || PyIndex_Check(obj.ptr()) ||
          py::isinstance(obj, py::module_::import("numbers").attr("Real"))))
        throw py::type_error(std::string(name) + " must be a real number, got " +
                             std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    const double x = PyFloat_AsDouble(obj.ptr());
    if (x == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        throw py::value_error(std::string(name) + " = " + std::string(py::str(obj)) +
                              " is out of range");
    }
    return x;
}

/// An argument's name as the user sees it: "exp_avg", or "exp_avg[3]" in a list call.
struct ArgName {
    const char* role;
    std::size_t index, count;
    bool indexed = false;  ///< name the index even for a list of one
    std::string str() const {
        return count == 1 && !indexed ? std::string(role)
                                      : std::string(role) + "[" + std::to_string(index) + "]";
    }
};

/// Names of a call's parameter and gradient arguments: ("param", "grad") for the kernels,
/// ("params", "grads", indexed) for an optimizer's plan.
struct Roles {
    const char* param = "param";
    const char* grad = "grad";
    bool indexed = false;
};

/// `obj` as an ndarray: itself, or a zero-copy view of a buffer-protocol or DLPack object
/// (pyfastopt._buffers.as_array; TypeError naming the argument if that needs a copy).
inline py::array as_ndarray(py::handle obj, const std::string& name) {
    if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
    // never destroyed: a static py::object would be released after the interpreter ends
    static const auto* convert =
        new py::object(py::module_::import("pyfastopt._buffers").attr("as_array"));
    return (*convert)(obj, name);
}

/// dtype tag of a float array (or array-like): 'f' (float32), 'd' (float64), else 0 (the
/// caller's checks then name the argument).
inline char float_kind(py::handle obj) {
    py::object array = py::reinterpret_borrow<py::object>(obj);
    if (!py::isinstance<py::array>(obj)) {
        try {
            array = as_ndarray(obj, "");
        } catch (const py::error_already_set&) {
            return 0;
        }
    }
    if (py::isinstance<py::array_t<float>>(array)) return 'f';
    if (py::isinstance<py::array_t<double>>(array)) return 'd';
    return 0;
}

inline std::string shape_str(const py::array& a) {
    return std::string(
        py::str(py::tuple(py::cast(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim())))));
}

/// The checks of every buffer a kernel touches but its dtype: the shape of its parameter
/// (like_param, if given), C-contiguous, aligned, and writable if it is written.
inline void check_shape_and_layout(const py::array& arr,
                                   const std::string& name,
                                   const py::array* like_param,
                                   bool written) {
    if (like_param != nullptr) {
        bool same = arr.ndim() == like_param->ndim();
        for (py::ssize_t d = 0; same && d < arr.ndim(); ++d)
            same = arr.shape(d) == like_param->shape(d);
        if (!same)
            throw py::value_error(name + " has shape " + shape_str(arr) +
                                  ", expected the shape of param " + shape_str(*like_param));
    }
    const int flags = arr.flags();
    if (!(flags & py::array::c_style))
        throw py::value_error(name +
                              " must be C-contiguous (use np.ascontiguousarray and keep the "
                              "result)");
    if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
        throw py::value_error(name + " must be aligned");
    if (written && !arr.writeable()) throw py::value_error(name + " is read-only");
}

/// The memory of a call's written buffers, and the checks that none overlaps another or a
/// buffer the call only reads.
class WrittenSpans {
public:
    struct Span {
        std::uintptr_t begin, end;
        ArgName name;
    };

    static Span span_of(const py::array& a, const ArgName& name) {
        const auto begin = reinterpret_cast<std::uintptr_t>(a.data());
        return {begin, begin + static_cast<std::uintptr_t>(a.nbytes()), name};
    }

    void add(const py::array& a, const ArgName& name) { written_.push_back(span_of(a, name)); }

    /// Written buffers may not share memory with each other: sorted by address, each must
    /// end before the next begins. Empty buffers own no memory and are dropped.
    void sort_and_check() {
        written_.erase(std::remove_if(written_.begin(), written_.end(),
                                      [](const Span& s) { return s.begin == s.end; }),
                       written_.end());
        std::sort(written_.begin(), written_.end(),
                  [](const Span& a, const Span& b) { return a.begin < b.begin; });
        for (std::size_t i = 1; i < written_.size(); ++i)
            if (written_[i - 1].end > written_[i].begin)
                overlap_error(written_[i], written_[i - 1]);
    }

    /// A read buffer may share memory with other read buffers, never with a written one:
    /// the one starting last before it ends is the only candidate.
    void check_not_written(const Span& read) const {
        if (read.begin == read.end) return;
        const std::size_t after = count_below(read.end);
        if (after != 0 && written_[after - 1].end > read.begin)
            overlap_error(read, written_[after - 1]);
    }

private:
    [[noreturn]] static void overlap_error(const Span& a, const Span& b) {
        throw py::value_error(a.name.str() + " shares memory with " + b.name.str() +
                              " (each buffer must be distinct)");
    }

    /// How many written buffers start below `address`. A model's thousands of gradients
    /// are checked at every step, and a binary search is a chain of dependent cache misses
    /// (most of that time): the previous answer is tried first, which is the answer again
    /// for gradients that lie together (as allocated), in order or not.
    std::size_t count_below(std::uintptr_t address) const {
        const std::size_t n = written_.size(), h = last_count_;
        if ((h == 0 || written_[h - 1].begin < address) && (h == n || written_[h].begin >= address))
            return h;
        last_count_ = static_cast<std::size_t>(
            std::lower_bound(written_.begin(), written_.end(), address,
                             [](const Span& s, std::uintptr_t a) { return s.begin < a; }) -
            written_.begin());
        return last_count_;
    }

    std::vector<Span> written_;           ///< sorted, disjoint
    mutable std::size_t last_count_ = 0;  ///< count_below's previous answer
};

/// Params and states checked once; gradients checked per call by with_grads().
template <class T, int K>
class CheckedBatch {
public:
    using value_type = T;

    /// Validates params and states (K lists of arrays, aligned with params).
    CheckedBatch(py::handle params,
                 py::handle states,
                 const char* const* state_names,
                 Roles roles = {})
        : roles_(roles), state_names_(state_names) {
        const auto p = items_of(params, roles_.param);
        const auto s = state_lists(states, K);
        const std::size_t n = p.size();
        arrays_.reserve(n * (K + 1));  // never reallocates: like_param points into it
        sizes_.resize(n);
        params_.resize(n);
        grads_.resize(n);
        for (std::size_t i = 0; i < n; ++i) {
            const py::array& param =
                checked(p[i], {roles_.param, i, n, roles_.indexed}, nullptr, true);
            params_[i] = static_cast<T*>(const_cast<void*>(param.data()));
            sizes_[i] = static_cast<std::size_t>(param.size());
        }
        for (int k = 0; k < K; ++k) {
            const auto list = items_of(s[k], state_names[k]);
            if (list.size() != n)
                throw py::value_error(std::string(state_names[k]) + ": expected " +
                                      std::to_string(n) + " arrays, got " +
                                      std::to_string(list.size()));
            states_[k].resize(n);
            for (std::size_t i = 0; i < n; ++i) {
                states_[k][i] = static_cast<T*>(const_cast<void*>(
                    checked(list[i], {state_names[k], i, n, roles_.indexed}, &arrays_[i], true)
                        .data()));
            }
        }
        written_.sort_and_check();
    }

    /// The batch of a rule that reads no gradient: the written arrays stand in for them.
    Batch<T, K> without_grads() {
        std::copy(params_.begin(), params_.end(), grads_.begin());
        return batch();
    }

    /// The batch with these gradients, after checking them (and that every parameter and
    /// state is still writable: a flag the user may have cleared since construction).
    Batch<T, K> with_grads(py::handle grads) {
        const auto g = items_of(grads, roles_.grad);
        kept_grads_.clear();
        const std::size_t n = sizes_.size();
        if (g.size() != n)
            throw py::value_error(std::string(roles_.grad) + ": expected " + std::to_string(n) +
                                  " arrays (one per param), got " + std::to_string(g.size()));
        check_still_writable();
        for (std::size_t i = 0; i < n; ++i) {
            const ArgName name{roles_.grad, i, n, roles_.indexed};
            const py::array grad = like_param(g[i], i) ? py::reinterpret_borrow<py::array>(g[i])
                                                       : converted(g[i], name, i);
            grads_[i] = static_cast<const T*>(grad.data());
            written_.check_not_written(WrittenSpans::span_of(grad, name));
        }
        return batch();
    }

    /// ValueError naming the first parameter or state that is no longer writable.
    void check_still_writable() const {
        const std::size_t n = sizes_.size();
        for (std::size_t j = 0; j < arrays_.size(); ++j) {
            const auto* a = py::detail::array_proxy(arrays_[j].ptr());
            if (a->flags & py::detail::npy_api::NPY_ARRAY_WRITEABLE_) continue;
            const char* role = j < n ? roles_.param : state_names_[j / n - 1];
            throw py::value_error(ArgName{role, j % n, n, roles_.indexed}.str() + " is read-only");
        }
    }

    /// Checks that an array the call only reads shares no memory with a written buffer.
    void check_read(const py::array& a, const char* name) const {
        written_.check_not_written(WrittenSpans::span_of(a, {name, 0, 1}));
    }

    /// A read-only array argument of this dtype, C-contiguous and aligned (any shape).
    static py::array checked_input(py::handle obj, const char* name) {
        return check_array(obj, {name, 0, 1}, nullptr, false);
    }

    /// The i-th parameter, as checked.
    const py::array& param(std::size_t i) const { return arrays_[i]; }

    /// Whether `params` (a list or tuple) holds exactly the checked parameter objects.
    bool same_params(py::handle params) const {
        if (!PyList_Check(params.ptr()) && !PyTuple_Check(params.ptr())) return false;
        const std::size_t n = sizes_.size();
        if (static_cast<std::size_t>(PySequence_Fast_GET_SIZE(params.ptr())) != n) return false;
        PyObject** items = PySequence_Fast_ITEMS(params.ptr());
        for (std::size_t i = 0; i < n; ++i)
            if (items[i] != arrays_[i].ptr()) return false;
        return true;
    }

private:
    Batch<T, K> batch() const {
        Batch<T, K> b;
        b.count = sizes_.size();
        b.sizes = sizes_.data();
        b.params = params_.data();
        b.grads = grads_.data();
        for (int k = 0; k < K; ++k) b.states[k] = states_[k].data();
        return b;
    }

    /// A written buffer: checked, kept alive in arrays_, its memory recorded in written_.
    const py::array& checked(py::handle obj,
                             const ArgName& arg,
                             const py::array* like_param,
                             bool written) {
        arrays_.push_back(check_array(obj, arg, like_param, written));
        written_.add(arrays_.back(), arg);
        return arrays_.back();
    }

    /// The array behind `obj`, checked; like_param compares the shape with a parameter.
    static py::array check_array(py::handle obj,
                                 const ArgName& arg,
                                 const py::array* like_param,
                                 bool written) {
        auto name = [&] { return arg.str(); };
        const py::array arr = as_ndarray(obj, name());
        constexpr char want = sizeof(T) == 4 ? 'f' : 'd';
        if (float_kind(arr) != want)
            throw py::type_error(name() + " has dtype " + std::string(py::str(arr.dtype())) +
                                 ", expected " + (want == 'f' ? "float32" : "float64") +
                                 (like_param ? " (the dtype of param)" : ""));
        check_shape_and_layout(arr, name(), like_param, written);
        return arr;
    }

    /// The common case in a few field reads: an array with the dtype and shape of param i,
    /// C-contiguous and aligned. Anything else goes through check_array for its message.
    bool like_param(py::handle obj, std::size_t i) const {
        const auto& api = py::detail::npy_api::get();
        if (!api.PyArray_Check_(obj.ptr())) return false;
        const auto* a = py::detail::array_proxy(obj.ptr());
        const auto* p = py::detail::array_proxy(arrays_[i].ptr());
        constexpr int kLayout =
            py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_ALIGNED_;
        if ((a->flags & kLayout) != kLayout || a->nd != p->nd) return false;
        for (int d = 0; d < a->nd; ++d)  // (std::equal became a call to memcmp)
            if (a->dimensions[d] != p->dimensions[d]) return false;
        return a->descr == p->descr || api.PyArray_EquivTypes_(a->descr, p->descr);
    }

    /// A gradient that is not a plain array of the param's kind: checked (converted if
    /// array-like) and kept alive until the next call.
    py::array converted(py::handle obj, const ArgName& name, std::size_t i) {
        kept_grads_.push_back(check_array(obj, name, &arrays_[i], false));
        return kept_grads_.back();
    }

    Roles roles_;
    const char* const* state_names_;
    std::vector<py::array> arrays_;      ///< params, then states: kept alive, shapes compared
    std::vector<py::array> kept_grads_;  ///< array-like gradients' views, for one call
    WrittenSpans written_;
    std::vector<std::size_t> sizes_;
    std::vector<T*> params_;
    std::vector<const T*> grads_;
    std::array<std::vector<T*>, K> states_;
};

}  // namespace pyfastopt::bindings
