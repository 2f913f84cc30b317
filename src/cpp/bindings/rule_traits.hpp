// Private: what the bindings need to know of a rule: its traits, and its Coeffs built from the
// Python tuple of per-step scalars.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <pyfastopt/batch.hpp>

#include "buffers.hpp"

namespace pyfastopt::bindings {

/// True for rules that also reduce sums (Rule::kReductions per tensor).
template <class Rule, class = void>
struct HasReductions : std::false_type {};
template <class Rule>
struct HasReductions<Rule, std::void_t<decltype(Rule::kReductions)>> : std::true_type {};

/// Number of T fields in a rule's Coeffs (all fields are T by convention).
template <class Rule>
constexpr std::size_t kNumCoeffs = sizeof(CoeffsOf<Rule, double>) / sizeof(double);

template <class Rule, class T, std::size_t... I>
CoeffsOf<Rule, T> coeffs_from(const std::vector<double>& x, std::index_sequence<I...>) {
    return CoeffsOf<Rule, T>{static_cast<T>(x[I])...};
}

template <class Rule, class T>
CoeffsOf<Rule, T> coeffs_from(py::handle coeffs) {
    static_assert(sizeof(CoeffsOf<Rule, float>) * 2 == sizeof(CoeffsOf<Rule, double>),
                  "every Coeffs field must be of type T");
    const auto x = py::cast<std::vector<double>>(coeffs);
    if (x.size() != kNumCoeffs<Rule>)
        throw py::value_error("coeffs: expected " + std::to_string(kNumCoeffs<Rule>) +
                              " values, got " + std::to_string(x.size()));
    return coeffs_from<Rule, T>(x, std::make_index_sequence<kNumCoeffs<Rule>>{});
}

/// Calls f.template operator()<T>() with T the dtype of the first parameter.
template <class F>
py::object with_dtype_of(py::handle params, F&& f) {
    const auto first = items_of(params, "param");
    if (!first.empty() && float_kind(first[0]) == 'd') return f(double{});
    return f(float{});  // float32, or an error that CheckedBatch<float> reports by name
}

/// True for rules that read no gradient (transforms of one array, rules/transforms.hpp).
template <class Rule, class = void>
struct ReadsGrad : std::true_type {};
template <class Rule>
struct ReadsGrad<Rule, std::void_t<decltype(Rule::kReadsGrad)>>
    : std::bool_constant<Rule::kReadsGrad> {};

}  // namespace pyfastopt::bindings
