// Private: what the bindings need to know of a rule: its traits, and its Coeffs built from the
// Python tuple of per-step scalars.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pyfastopt/batch.hpp>
#include <pyfastopt/coeffs.hpp>
#include <pyfastopt/storage.hpp>

#include "buffers.hpp"

namespace pyfastopt::bindings {

/// True for rules that also reduce sums (Rule::kReductions per tensor).
template <class Rule, class = void>
struct HasReductions : std::false_type {};
template <class Rule>
struct HasReductions<Rule, std::void_t<decltype(Rule::kReductions)>> : std::true_type {};

template <class Rule>
using ReadsGrad = ReadsGradient<Rule>;

/// The rule's Coeffs<T> from a Python sequence of its per-step scalars, checked for length
/// and for range: a finite value that T cannot hold would silently become inf.
template <class Rule, class T>
CoeffsOf<Rule, T> coeffs_from(py::handle coeffs) {
    std::vector<double> x;
    try {
        x = py::cast<std::vector<double>>(coeffs);
    } catch (const py::cast_error&) {
        throw py::type_error("coeffs must be a sequence of real numbers");
    }
    if (x.size() != kNumCoeffs<Rule>)
        throw py::value_error("coeffs: expected " + std::to_string(kNumCoeffs<Rule>) +
                              " values, got " + std::to_string(x.size()));
    for (std::size_t i = 0; i < x.size(); ++i)
        if (std::isfinite(x[i]) && std::fabs(x[i]) > std::numeric_limits<T>::max())
            throw py::value_error("coeffs[" + std::to_string(i) + "] = " + std::to_string(x[i]) +
                                  ": the hyperparameters give a per-step coefficient beyond " +
                                  (sizeof(T) == 4 ? "float32" : "float64") + "'s range");
    return pyfastopt::coeffs_from<Rule, T>(x.data());
}

/// The rule's kSignedStates, or null for a rule that takes no 8-bit states (kHas: which;
/// an address compared with null is no constant expression under -fsanitize=undefined).
template <class Rule, class = void>
struct SignedStates {
    static constexpr bool kHas = false;
    static constexpr const bool* value = nullptr;
};
template <class Rule>
struct SignedStates<Rule, std::void_t<decltype(Rule::kSignedStates)>> {
    static constexpr bool kHas = true;
    static constexpr const bool* value = Rule::kSignedStates;
};

/// The reduced-precision options of a kernel call (pyfastopt.precision), checked.
struct MixedOptions {
    float grad_unscale = 1.0f;
    bool stochastic = false;
    std::uint64_t seed = 0, step = 0, first_tensor = 0;
    bool given = false;  ///< any option that only the mixed-storage kernels implement

    MixedOptions(py::handle grad_scale, py::handle seed, py::handle step, py::handle first_tensor) {
        if (!grad_scale.is_none()) {
            const double scale = real_arg(grad_scale, "grad_scale");
            const float unscale = static_cast<float>(1.0 / scale);
            if (!(scale > 0) || !std::isfinite(scale) || !std::isfinite(unscale) || unscale == 0.0f)
                throw py::value_error("grad_scale = " + std::string(py::str(grad_scale)) +
                                      " must be positive and finite (and its inverse a float32)");
            grad_unscale = unscale;
            given = given || scale != 1.0;
        }
        if (!seed.is_none()) {
            this->seed = int_arg<std::uint64_t>(seed, "seed");
            stochastic = given = true;
        }
        if (!step.is_none()) this->step = int_arg<std::uint64_t>(step, "step");
        if (!first_tensor.is_none())
            this->first_tensor = int_arg<std::uint64_t>(first_tensor, "first_tensor");
    }

    /// The batch with these options set.
    template <int K>
    MixedBatch<K> apply(MixedBatch<K> b) const {
        b.grad_unscale = grad_unscale;
        b.stochastic = stochastic;
        b.seed = seed;
        b.step = step;
        b.first_tensor = first_tensor;
        return b;
    }
};

/// Calls f.template operator()<T>() with T the dtype of the first parameter.
template <class F>
py::object with_dtype_of(py::handle params, F&& f) {
    const auto first = items_of(params, "param");
    if (!first.empty() && float_kind(first[0]) == 'd') return f(double{});
    return f(float{});  // float32, or an error that CheckedBatch<float> reports by name
}

}  // namespace pyfastopt::bindings
