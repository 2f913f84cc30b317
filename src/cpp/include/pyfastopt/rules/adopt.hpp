// pyfastopt/rules/adopt.hpp: ADOPT (Taniguchi et al. 2024, "ADOPT: Modified Adam Can
// Converge with Any beta2 with the Optimal Rate"), as optax.contrib.adopt.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// p <- decay p;  u = clip(g / max(sqrt(v), eps), -c_t, c_t)  (normalised by the second
/// moment *before* this gradient enters it);  m <- b1 m + (1-b1) u;
/// p <- p - lr (nesterov ? b1 m + (1-b1) u : m);  v <- b2 v + (1-b2) g^2.
/// The first step only sets v = g^2 (its coefficients: b1 = 1, b2 = 0).
struct Adopt {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_sq"};
    static constexpr bool kSignedStates[] = {true, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign;
        T decay;  ///< 1 - lr * weight_decay (decoupled)
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T eps;
        T clip;      ///< (t - 1)^0.25, or infinity without clipping
        T nesterov;  ///< 1 or 0
        T neg_lr;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& v = s[1];
        g = c.grad_sign * g;
        p = c.decay * p;
        // (the first step, b1 = 1, leaves m as it is without reading u, which is 0/0 there
        // when eps = 0 and g = 0)
        const bool averages = c.one_minus_beta1 != T(0);
        const T u = clamp(g / max(sqrt(v), c.eps), -c.clip, c.clip);
        const T mixed = c.beta1 * m + c.one_minus_beta1 * u;
        m = averages ? mixed : m;
        const T direction =
            c.nesterov != T(0) && averages ? c.beta1 * m + c.one_minus_beta1 * u : m;
        p = p + c.neg_lr * direction;
        v = c.beta2 * v + c.one_minus_beta2 * (g * g);
    }
};

PFO_RULE(Adopt, adopt);

}  // namespace pyfastopt::rules
