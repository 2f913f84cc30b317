// pyfastopt/coeffs.hpp: a rule's per-step coefficients as plain numbers, for every caller
// that gets them from outside C++ (the Python bindings, the flat C/Cython API, programs that
// take them from pyfastopt.functional.<name>_rule(...).coeffs(t)). Public, Python-free.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "batch.hpp"

namespace pyfastopt {

/// Number of per-step coefficients of a rule (its Coeffs fields, all of type T).
template <class Rule>
inline constexpr std::size_t kNumCoeffs = sizeof(CoeffsOf<Rule, double>) / sizeof(double);

/// False for the transforms that read no gradient (rules/transforms.hpp): they ignore it.
template <class Rule, class = void>
struct ReadsGradient : std::true_type {};
template <class Rule>
struct ReadsGradient<Rule, std::void_t<decltype(Rule::kReadsGrad)>>
    : std::bool_constant<Rule::kReadsGrad> {};

namespace detail {
template <class Rule, class T, std::size_t... I>
CoeffsOf<Rule, T> coeffs_from(const double* x, std::index_sequence<I...>) {
    return CoeffsOf<Rule, T>{static_cast<T>(x[I])...};
}
}  // namespace detail

/// The rule's Coeffs<T> from x[0..kNumCoeffs<Rule>), in field order (computed in double,
/// rounded to T once, as the Python bindings do).
template <class Rule, class T>
CoeffsOf<Rule, T> coeffs_from(const double* x) {
    static_assert(sizeof(CoeffsOf<Rule, float>) * 2 == sizeof(CoeffsOf<Rule, double>),
                  "every Coeffs field must be of type T");
    return detail::coeffs_from<Rule, T>(x, std::make_index_sequence<kNumCoeffs<Rule>>{});
}

}  // namespace pyfastopt
