// pyfastopt/rules/sgd.hpp: SGD, classical momentum and Nesterov momentum (torch.optim.SGD).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// Vanilla SGD: p <- p - lr * g.
struct Sgd {
    static constexpr int kStates = 0;
    static constexpr const char* kStateNames[] = {""};
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T neg_lr;  ///< -lr
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* /*s*/) {
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        p = p + c.neg_lr * g;
    }
};

/// SGD with momentum: b <- mu_t b + s_t g;  p <- p - lr * (nesterov ? g + mu b : b).
/// On the first step the caller passes mu_t = 0, s_t = 1 (torch starts the buffer at g);
/// afterwards mu_t = momentum, s_t = 1 - dampening.
struct SgdMomentum {
    static constexpr int kStates = 1;
    static constexpr const char* kStateNames[] = {"momentum_buffer"};
    static constexpr bool kSignedStates[] = {true};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T buffer_decay;  ///< mu_t
        T grad_scale;    ///< s_t
        T nesterov;      ///< 1 for Nesterov momentum, else 0
        T momentum;      ///< mu (used by Nesterov)
        T neg_lr;        ///< -lr
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& buf = s[0];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        buf = c.buffer_decay * buf + c.grad_scale * g;
        const T d = c.nesterov != T(0) ? g + c.momentum * buf : buf;
        p = p + c.neg_lr * d;
    }
};

PFO_RULE(Sgd, sgd);
PFO_RULE(SgdMomentum, sgd_momentum);

}  // namespace pyfastopt::rules
