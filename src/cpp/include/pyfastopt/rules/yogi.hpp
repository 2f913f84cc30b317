// pyfastopt/rules/yogi.hpp: Yogi (Zaheer et al. 2018, "Adaptive Methods for Nonconvex
// Optimization"), as optax.yogi (bias-corrected moments).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// p <- decay p;  m <- b1 m + (1-b1) g;  v <- v - (1-b2) sign(v - g^2) g^2  (v moves towards
/// g^2 by at most (1-b2) g^2: additively, where Adam's v moves multiplicatively);
/// p <- p - lr/bc1 * m / (sqrt(v/bc2 + eps_root) + eps).
struct Yogi {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_sq"};
    static constexpr bool kSignedStates[] = {true, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign;
        T decay;  ///< 1 - lr * weight_decay (decoupled)
        T beta1, one_minus_beta1, one_minus_beta2;
        T inv_bc2;  ///< 1 / (1 - beta2^t)
        T eps_root, eps;
        T neg_step_size;  ///< -lr / (1 - beta1^t)
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& v = s[1];
        g = c.grad_sign * g;
        p = c.decay * p;
        m = c.beta1 * m + c.one_minus_beta1 * g;
        const T g2 = g * g;
        v = v - c.one_minus_beta2 * (sign(v - g2) * g2);
        p = p + c.neg_step_size * (m / (sqrt(v * c.inv_bc2 + c.eps_root) + c.eps));
    }
};

PFO_RULE(Yogi, yogi);

}  // namespace pyfastopt::rules
