// Private: what the bindings need to know of a rule: its traits, and its Coeffs built from the
// Python tuple of per-step scalars.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pyfastopt/batch.hpp>
#include <pyfastopt/coeffs.hpp>

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

/// Calls f.template operator()<T>() with T the dtype of the first parameter.
template <class F>
py::object with_dtype_of(py::handle params, F&& f) {
    const auto first = items_of(params, "param");
    if (!first.empty() && float_kind(first[0]) == 'd') return f(double{});
    return f(float{});  // float32, or an error that CheckedBatch<float> reports by name
}

}  // namespace pyfastopt::bindings
