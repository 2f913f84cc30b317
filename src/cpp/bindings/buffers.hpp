// Private: turns the Python arguments of a kernel call into a checked Batch. Every check
// runs before any element is written; a failure raises TypeError/ValueError naming the
// argument. Arrays are never converted: converting would update a copy and lose the step.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <pyfastopt/batch.hpp>

namespace pyfastopt::bindings {

namespace py = pybind11;

/// The list argument `obj` (a list or tuple) as a vector of its items.
inline std::vector<py::handle> items_of(py::handle obj, const char* name) {
    if (!PyList_Check(obj.ptr()) && !PyTuple_Check(obj.ptr()))
        throw py::type_error(std::string(name) + " must be a list of numpy arrays");
    std::vector<py::handle> items;
    for (py::handle item : obj) items.push_back(item);
    return items;
}

/// An argument's name as the user sees it: "exp_avg", or "exp_avg[3]" in a list call.
struct ArgName {
    const char* role;
    std::size_t index, count;
    std::string str() const {
        return count == 1 ? std::string(role)
                          : std::string(role) + "[" + std::to_string(index) + "]";
    }
};

/// dtype tag of a float array: 'f' (float32), 'd' (float64), or 0 for anything else.
inline char float_kind(py::handle obj) {
    if (py::isinstance<py::array_t<float>>(obj)) return 'f';
    if (py::isinstance<py::array_t<double>>(obj)) return 'd';
    return 0;
}

/// Owns the pointer arrays a Batch<T, K> points into.
template <class T, int K>
class CheckedBatch {
public:
    /// Validates params, grads and states (K lists) against each other.
    CheckedBatch(py::handle params,
                 py::handle grads,
                 py::handle states,
                 const char* const* state_names) {
        const auto p = items_of(params, "param");
        const auto g = items_of(grads, "grad");
        const auto s = items_of(states, "states");
        const std::size_t n = p.size();
        if (g.size() != n)
            throw py::value_error("grad: expected " + std::to_string(n) + " arrays (one per param), got " +
                                  std::to_string(g.size()));
        if (s.size() != static_cast<std::size_t>(K))
            throw py::value_error("states: expected " + std::to_string(K) + " lists, got " +
                                  std::to_string(s.size()));
        sizes_.resize(n);
        params_.resize(n);
        grads_.resize(n);
        for (int k = 0; k < K; ++k) states_[k].resize(n);

        for (std::size_t i = 0; i < n; ++i) {
            py::array param = checked(p[i], {"param", i, n}, nullptr, true);
            params_[i] = static_cast<T*>(param.mutable_data());
            sizes_[i] = static_cast<std::size_t>(param.size());
            grads_[i] = static_cast<const T*>(
                checked(g[i], {"grad", i, n}, &param, false).data());
        }
        for (int k = 0; k < K; ++k) {
            const auto list = items_of(s[k], state_names[k]);
            if (list.size() != n)
                throw py::value_error(std::string(state_names[k]) + ": expected " +
                                      std::to_string(n) + " arrays, got " +
                                      std::to_string(list.size()));
            for (std::size_t i = 0; i < n; ++i) {
                py::array param = py::reinterpret_borrow<py::array>(p[i]);
                states_[k][i] = static_cast<T*>(
                    checked(list[i], {state_names[k], i, n}, &param, true)
                        .mutable_data());
            }
        }
        check_no_overlap();
    }

    Batch<T, K> batch() const {
        Batch<T, K> b;
        b.count = sizes_.size();
        b.sizes = sizes_.data();
        b.params = params_.data();
        b.grads = grads_.data();
        for (int k = 0; k < K; ++k) b.states[k] = states_[k].data();
        return b;
    }

private:
    struct Span {
        std::uintptr_t begin, end;
        bool written;
        ArgName name;
    };

    /// The array behind `obj`, checked; like_param compares the shape with a parameter.
    py::array checked(py::handle obj, const ArgName& arg, const py::array* like_param,
                      bool written) {
        auto name = [&] { return arg.str(); };
        if (!py::isinstance<py::array>(obj))
            throw py::type_error(name() + " must be a numpy.ndarray, got " +
                                 std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
        const char kind = float_kind(obj);
        constexpr char want = sizeof(T) == 4 ? 'f' : 'd';
        auto arr = py::reinterpret_borrow<py::array>(obj);
        if (kind != want)
            throw py::type_error(name() + " has dtype " + std::string(py::str(arr.dtype())) +
                                 ", expected " + (want == 'f' ? "float32" : "float64") +
                                 (like_param ? " (the dtype of param)" : ""));
        if (like_param != nullptr) {
            bool same = arr.ndim() == like_param->ndim();
            for (py::ssize_t d = 0; same && d < arr.ndim(); ++d)
                same = arr.shape(d) == like_param->shape(d);
            if (!same)
                throw py::value_error(name() + " has shape " + shape_str(arr) +
                                      ", expected the shape of param " +
                                      shape_str(*like_param));
        }
        const int flags = arr.flags();
        if (!(flags & py::array::c_style))
            throw py::value_error(name() + " must be C-contiguous (use np.ascontiguousarray and "
                                         "keep the result)");
        if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
            throw py::value_error(name() + " must be aligned");
        if (written && !arr.writeable()) throw py::value_error(name() + " is read-only");
        const auto begin = reinterpret_cast<std::uintptr_t>(arr.data());
        spans_.push_back({begin, begin + static_cast<std::uintptr_t>(arr.nbytes()), written, arg});
        return arr;
    }

    static std::string shape_str(const py::array& a) {
        return std::string(py::str(py::tuple(py::cast(std::vector<py::ssize_t>(
            a.shape(), a.shape() + a.ndim())))));
    }

    /// No written buffer may share memory with any other buffer of the call (grads may
    /// share memory with each other). One sweep over the spans sorted by start address.
    void check_no_overlap() {
        std::sort(spans_.begin(), spans_.end(),
                  [](const Span& a, const Span& b) { return a.begin < b.begin; });
        const Span* furthest_any = nullptr;
        const Span* furthest_written = nullptr;
        for (const Span& s : spans_) {
            if (s.begin == s.end) continue;
            const Span* clash = s.written ? furthest_any : furthest_written;
            if (clash != nullptr && clash->end > s.begin)
                throw py::value_error(s.name.str() + " shares memory with " + clash->name.str() +
                                      " (each buffer must be distinct)");
            if (furthest_any == nullptr || s.end > furthest_any->end) furthest_any = &s;
            if (s.written && (furthest_written == nullptr || s.end > furthest_written->end))
                furthest_written = &s;
        }
    }

    std::vector<std::size_t> sizes_;
    std::vector<T*> params_;
    std::vector<const T*> grads_;
    std::array<std::vector<T*>, K> states_;
    std::vector<Span> spans_;
};

}  // namespace pyfastopt::bindings
