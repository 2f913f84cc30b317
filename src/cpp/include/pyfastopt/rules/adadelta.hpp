// pyfastopt/rules/adadelta.hpp: Adadelta (Zeiler 2012; torch.optim.Adadelta).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// sq <- rho sq + (1-rho) g^2;  d <- sqrt(acc + eps) / sqrt(sq + eps) * g;
/// acc <- rho acc + (1-rho) d^2;  p <- p - lr d.
struct Adadelta {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"square_avg", "acc_delta"};
    static constexpr bool kSignedStates[] = {false, false};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T rho, one_minus_rho, eps;
        T neg_lr;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& square_avg = s[0];
        T& acc_delta = s[1];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        square_avg = c.rho * square_avg + c.one_minus_rho * (g * g);
        // A quotient of two roots, as torch: the root of the quotient would save a sqrt, but
        // the quotient underflows (or overflows) where the roots' quotient is still normal.
        const T delta = sqrt(acc_delta + c.eps) / sqrt(square_avg + c.eps) * g;
        acc_delta = c.rho * acc_delta + c.one_minus_rho * (delta * delta);
        p = p + c.neg_lr * delta;
    }
};

PFO_RULE(Adadelta, adadelta);

}  // namespace pyfastopt::rules
