// pyfastopt/rules/lion.hpp: Lion, evolved sign momentum (Chen et al. 2023).
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// u = sign(b1 m + (1-b1) g);  p <- (1 - lr wd) p - lr u;  m <- b2 m + (1-b2) g.
struct Lion {
    static constexpr int kStates = 1;
    static constexpr const char* kStateNames[] = {"exp_avg"};
    static constexpr bool kSignedStates[] = {true};  ///< 8-bit maps (storage.hpp)
    template <class T>
    struct Coeffs {
        T grad_sign, decay;
        T beta1, one_minus_beta1, beta2, one_minus_beta2;
        T neg_lr;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& m = s[0];
        g = c.grad_sign * g;
        const T direction = sign(c.beta1 * m + c.one_minus_beta1 * g);
        p = c.decay * p + c.neg_lr * direction;
        m = c.beta2 * m + c.one_minus_beta2 * g;
    }
};

PFO_RULE(Lion, lion);

}  // namespace pyfastopt::rules
