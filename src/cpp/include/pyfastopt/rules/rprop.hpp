// pyfastopt/rules/rprop.hpp: resilient backpropagation (Riedmiller & Braun 1993;
// torch.optim.Rprop), the sign-based ancestor of RMSprop.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// s = sign(g prev);  step <- clamp(step * (s > 0 ? eta+ : s < 0 ? eta- : 1), lo, hi);
/// g <- 0 where s < 0;  p <- p - sign(g) step;  prev <- g.
struct Rprop {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"prev", "step_size"};
    template <class T>
    struct Coeffs {
        T grad_sign;
        T eta_minus, eta_plus;
        T step_min, step_max;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& prev = s[0];
        T& step = s[1];
        g = c.grad_sign * g;
        const T agreement = g * prev;
        const T grow = agreement > T(0) ? c.eta_plus : T(1);
        const T factor = agreement < T(0) ? c.eta_minus : grow;
        step = clamp(step * factor, c.step_min, c.step_max);
        g = agreement < T(0) ? T(0) : g;
        p = p - sign(g) * step;
        prev = g;
    }
};

PFO_RULE(Rprop, rprop);

}  // namespace pyfastopt::rules
