// pyfastopt/rules/schedule_free.hpp: schedule-free SGD and AdamW (Defazio et al. 2024, "The
// Road Less Scheduled"), as the authors' package schedulefree (SGDScheduleFree,
// AdamWScheduleFree). The parameter holds y, where gradients are taken; the state z is the
// base sequence; x, the average to evaluate with, is the interpolation
// x = (y - (1 - beta) z) / beta, made when the optimizer switches to eval mode.
#pragma once

#include "common.hpp"

namespace pyfastopt::rules {

/// The shared step from the (normalised) gradient u: z starts as a copy of y (first != 0);
/// y <- lerp(y, z, c_t) + lr (beta (1 - c_t) - 1) u;  z <- z - lr u, with c_t the weight of
/// this step in the average (computed by the caller from lr_max and weight_sum).
template <class C, class T>
PFO_HD PFO_INLINE void schedule_free_step(const C& c, T& y, T& z, T u) {
    const T z0 = c.first != T(0) ? y : z;
    y = lerp(y, z0, c.ckp1) + c.y_step * u;
    z = z0 + c.neg_lr * u;
}

/// Schedule-free SGD: u = g + weight_decay y.
struct ScheduleFreeSgd {
    static constexpr int kStates = 1;
    static constexpr const char* kStateNames[] = {"z"};
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T first;   ///< 1 on a parameter's first step: z <- y
        T ckp1;    ///< weight of this step in the average
        T y_step;  ///< lr (momentum (1 - ckp1) - 1)
        T neg_lr;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        schedule_free_step(c, p, s[0], effective_grad(g, p, c.grad_sign, c.weight_decay));
    }
};

/// Schedule-free AdamW: v <- b2 v + (1-b2) g^2;  u = g / (sqrt(v / (1 - b2^t)) + eps) +
/// weight_decay y (decay at y, after the normalisation, as the authors' code).
struct ScheduleFreeAdamW {
    static constexpr int kStates = 2;
    static constexpr const char* kStateNames[] = {"z", "exp_avg_sq"};
    template <class T>
    struct Coeffs {
        T grad_sign, weight_decay;
        T first, ckp1, y_step, neg_lr;  ///< as ScheduleFreeSgd's
        T beta2, one_minus_beta2, inv_bc2, eps;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T& v = s[1];
        g = c.grad_sign * g;
        v = c.beta2 * v + c.one_minus_beta2 * (g * g);
        T u = g / (sqrt(v * c.inv_bc2) + c.eps);
        u = c.weight_decay != T(0) ? u + c.weight_decay * p : u;
        schedule_free_step(c, p, s[0], u);
    }
};

PFO_RULE(ScheduleFreeSgd, schedule_free_sgd);
PFO_RULE(ScheduleFreeAdamW, schedule_free_adamw);

}  // namespace pyfastopt::rules
