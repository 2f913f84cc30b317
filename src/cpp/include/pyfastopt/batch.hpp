// pyfastopt/batch.hpp: the argument every CPU and CUDA driver takes: a list of same-dtype
// tensors that one rule updates in one call (one native call per step, whatever the count).
#pragma once

#include <array>
#include <cstddef>

namespace pyfastopt {

/// count tensors; tensor i has sizes[i] elements at params[i], grads[i] and
/// states[k][i] for each of the rule's K state buffers. Buffers must not overlap.
template <class T, int K>
struct Batch {
    std::size_t count = 0;
    const std::size_t* sizes = nullptr;
    T* const* params = nullptr;
    const T* const* grads = nullptr;
    std::array<T* const*, K> states{};
};

/// The per-step coefficient type of a rule.
template <class Rule, class T>
using CoeffsOf = typename Rule::template Coeffs<T>;

/// The batch type of a rule.
template <class Rule, class T>
using BatchOf = Batch<T, Rule::kStates>;

}  // namespace pyfastopt
