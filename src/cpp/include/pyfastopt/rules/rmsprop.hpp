// pyfastopt/rules/rmsprop.hpp: RMSprop (Hinton's lecture 6e; torch.optim.RMSprop).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// sq <- a sq + (1-a) g^2;  [centered: ga <- a ga + (1-a) g, var = sq - ga^2]
/// avg = sqrt(var + eps_in) + eps_out;
/// momentum: b <- mu b + g / avg, p <- p - lr b;  otherwise p <- p - lr g / avg.
/// States: square_avg, then grad_avg if Centered, then momentum_buffer if Momentum.
template <bool Centered, bool Momentum>
struct Rmsprop {
    static constexpr int kStates = 1 + Centered + Momentum;
    static constexpr const char* kStateNames[] = {
        "square_avg", Centered ? "grad_avg" : "momentum_buffer", "momentum_buffer"};
    static constexpr bool kSignedStates[] = {false, true, true};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T alpha, one_minus_alpha;
        T eps_in, eps_out;
        T momentum;
        T neg_lr;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& square_avg = s[0];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        square_avg = c.alpha * square_avg + c.one_minus_alpha * (g * g);
        T var = square_avg;
        if constexpr (Centered) {
            T& grad_avg = s[1];
            grad_avg = c.alpha * grad_avg + c.one_minus_alpha * g;
            var = var - grad_avg * grad_avg;
        }
        const T avg = sqrt(var + c.eps_in) + c.eps_out;
        if constexpr (Momentum) {
            T& buf = s[kStates - 1];
            buf = c.momentum * buf + g / avg;
            p = p + c.neg_lr * buf;
        } else {
            p = p + c.neg_lr * (g / avg);
        }
    }
};

using RmspropPlain = Rmsprop<false, false>;
using RmspropCentered = Rmsprop<true, false>;
using RmspropMomentum = Rmsprop<false, true>;
using RmspropCenteredMomentum = Rmsprop<true, true>;

PFO_RULE(RmspropPlain, rmsprop);
PFO_RULE(RmspropCentered, rmsprop_centered);
PFO_RULE(RmspropMomentum, rmsprop_momentum);
PFO_RULE(RmspropCenteredMomentum, rmsprop_centered_momentum);

}  // namespace pyfastopt::rules
