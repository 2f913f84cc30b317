// pyfastopt/rules/adabelief.hpp: AdaBelief (Zhuang et al. 2020, "AdaBelief Optimizer:
// Adapting Stepsizes by the Belief in Observed Gradients"), as optax.adabelief.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// p <- decay p;  m <- b1 m + (1-b1) g;  s <- b2 s + (1-b2) (g - m)^2 + eps_root  (the
/// variance of g around its prediction m, the "belief");
/// p <- p - lr/bc1 * m / (sqrt(s/bc2) + eps).
struct AdaBelief {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"exp_avg", "exp_avg_var"};
    static constexpr bool kSignedStates[] = {true, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign;
        T decay;  ///< 1 - lr * weight_decay (decoupled)
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T eps_root;
        T inv_bc2;  ///< 1 / (1 - beta2^t)
        T eps;
        T neg_step_size;  ///< -lr / (1 - beta1^t)
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        T& var = s[1];
        g = c.grad_sign * g;
        p = c.decay * p;
        // g - m_t = b1 (g - m_{t-1}): the same number, without the cancellation of g - m_t
        // when b1 is small
        const T surprise = c.beta1 * (g - m);
        m = c.beta1 * m + c.one_minus_beta1 * g;
        var = c.beta2 * var + c.one_minus_beta2 * (surprise * surprise) + c.eps_root;
        p = p + c.neg_step_size * (m / (sqrt(var * c.inv_bc2) + c.eps));
    }
};

PFO_RULE(AdaBelief, adabelief);

}  // namespace pyfastopt::rules
