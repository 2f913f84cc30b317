// pyfastopt/rules/common.hpp: element-wise helpers shared by every update rule.
//
// A rule is a struct with
//   kStates                  number of per-element state buffers, named in kStateNames;
//   Coeffs<T>                per-step scalars (an aggregate of T fields, computed on the host
//                            in double by the caller, e.g. pyfastopt's Python layer);
//   apply(c, p, g, s)        updates one element: p (parameter) and s[0..kStates) in place.
// Rules allocate nothing, throw nothing and branch only on per-step flags, so the same code
// vectorises on the CPU and runs as CUDA device code. The math uses no fused multiply-add on
// purpose: every target (SSE2, AVX2, AVX-512, CUDA with -fmad=false) then rounds identically.
#pragma once

#include <cmath>

#include "../config.hpp"

namespace pyfastopt::rules {

/// The gradient every rule sees: sign-flipped when maximizing, plus coupled L2 weight decay.
/// grad_sign is +1 or -1 (exact); the decay term is skipped when zero so that a non-finite
/// parameter with weight_decay == 0 stays as it is.
template <class T>
PFO_HD PFO_INLINE T effective_grad(T g, T p, T grad_sign, T weight_decay) {
    g = grad_sign * g;
    return weight_decay != T(0) ? g + weight_decay * p : g;
}

template <class T>
PFO_HD PFO_INLINE T sqrt(T x) {
    using std::sqrt;
    return sqrt(x);
}

/// sign(x) in {-1, 0, +1}; keeps the sign of zero and propagates NaN, as torch.sign does.
/// (Two flat selects, not nested ones: GCC then vectorises them to a compare and a blend
/// each; the nested form cost it three times the instructions.)
template <class T>
PFO_HD PFO_INLINE T sign(T x) {
    const T up = x > T(0) ? T(1) : x;
    return x < T(0) ? T(-1) : up;
}

/// Adam's moment estimates: m <- b1 m + (1-b1) g;  v <- b2 v + (1-b2) g^2. C is any
/// Coeffs with beta1, one_minus_beta1, beta2, one_minus_beta2.
template <class C, class T>
PFO_HD PFO_INLINE void update_moments(const C& c, T g, T& m, T& v) {
    m = c.beta1 * m + c.one_minus_beta1 * g;
    v = c.beta2 * v + c.one_minus_beta2 * (g * g);
}

/// max/min that return the second argument when the comparison fails, so NaN in b propagates.
template <class T>
PFO_HD PFO_INLINE T max(T a, T b) {
    return a > b ? a : b;
}

template <class T>
PFO_HD PFO_INLINE T min(T a, T b) {
    return a < b ? a : b;
}

/// x limited to [lo, hi]; NaN stays NaN (as torch.clamp).
template <class T>
PFO_HD PFO_INLINE T clamp(T x, T lo, T hi) {
    const T below_hi = x > hi ? hi : x;
    return x < lo ? lo : below_hi;
}

}  // namespace pyfastopt::rules
