// pyfastopt/rules/ademamix.hpp: AdEMAMix (Pagliardini, Ablin & Grangier 2024, "The
// AdEMAMix Optimizer: Better, Faster, Older"), as optax.contrib.ademamix.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// Adam with a second, slow momentum mixed in: p <- decay p;  m1 <- b1 m1 + (1-b1) g;
/// m2 <- b3 m2 + (1-b3) g;  v <- b2 v + (1-b2) g^2;
/// p <- p - lr (m1/bc1 + alpha m2) / (sqrt(v/bc2 + eps_root) + eps)  (m2 not bias-corrected,
/// so that the slow average fills slowly; b3 and alpha may follow warm-up schedules).
struct AdEMAMix {
    static constexpr int kStates = 3;
    static constexpr const char* kStateNames[] = {"exp_avg_fast", "exp_avg_slow", "exp_avg_sq"};
    static constexpr bool kSignedStates[] = {true, true, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign;
        T decay;  ///< 1 - lr * weight_decay (decoupled)
        T beta1, one_minus_beta1, beta2, one_minus_beta2, beta3, one_minus_beta3;
        T inv_bc1, alpha;  ///< 1 / (1 - beta1^t); the slow momentum's weight
        T inv_bc2;         ///< 1 / (1 - beta2^t)
        T eps_root, eps;
        T neg_lr;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& fast = s[0];
        T& slow = s[1];
        T& v = s[2];
        g = c.grad_sign * g;
        p = c.decay * p;
        fast = c.beta1 * fast + c.one_minus_beta1 * g;
        slow = c.beta3 * slow + c.one_minus_beta3 * g;
        v = c.beta2 * v + c.one_minus_beta2 * (g * g);
        const T mixed = fast * c.inv_bc1 + c.alpha * slow;
        p = p + c.neg_lr * (mixed / (sqrt(v * c.inv_bc2 + c.eps_root) + c.eps));
    }
};

PFO_RULE(AdEMAMix, ademamix);

}  // namespace pyfastopt::rules
