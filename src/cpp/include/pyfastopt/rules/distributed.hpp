// pyfastopt/rules/distributed.hpp: the updates of distributed SGD that are not plain
// optimizer steps (pyfastopt.distributed): delay-tolerant AdaGrad on a parameter-server
// shard and the elastic exchange of EASGD/EAMSGD.
#pragma once

#include "adagrad.hpp"
#include "common.hpp"

namespace pyfastopt::rules {

/// AdaGrad that revises for the gradients applied while the pushing worker computed its
/// own (McMahan & Streeter 2014, AdaptiveRevision): with g_bck = gbar - gbar_at_read,
///   z <- z + g^2 + 2 g g_bck;  z_max <- max(z_max, z);  eta = lr / (sqrt(z_max) + eps);
///   p <- p - eta g + (eta_old - eta) g_bck;  gbar <- gbar + g
/// where eta_old is eta before the update. Adagrad's Coeffs and arithmetic: with no delay
/// (g_bck = 0) it is Adagrad bit for bit, z being Adagrad's sum. gbar_at_read (the gbar the
/// worker read with its parameters) is only read.
struct DelayTolerantAdagrad {
    static constexpr int kStates = 4;
    static constexpr const char* kStateNames[] = {"sum", "sum_max", "gbar", "gbar_at_read"};
    template <class T>
    using Coeffs = Adagrad::Coeffs<T>;
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& p, T g, T* s) {
        T &z = s[0], &z_max = s[1], &gbar = s[2];
        const T g_bck = gbar - s[3];
        g = effective_grad(g, p, c.grad_sign, c.weight_decay);
        const T old_denominator = sqrt(z_max + c.eps_in) + c.eps_out;
        z = z + (g * g + T(2) * g * g_bck);
        z_max = max(z_max, z);
        const T denominator = sqrt(z_max + c.eps_in) + c.eps_out;
        p = p + c.neg_clr * (g / denominator);
        const T revision = (c.neg_clr / denominator - c.neg_clr / old_denominator) * g_bck;
        p = g_bck != T(0) ? p + revision : p;  // no delay: Adagrad's bits, -0 included
        gbar = gbar + g;
    }
};

/// The elastic exchange of EASGD (Zhang, Choromanska & LeCun 2015) on a worker, with the
/// center c just read in the gradient's place: d = alpha (x - c); x <- x - d; diff <- d
/// (what the worker sends, for the server to add to c; diff's old value is not read).
struct Elastic {
    static constexpr int kStates = 1;
    static constexpr const char* kStateNames[] = {"diff"};
    template <class T>
    struct Coeffs {
        T alpha;
    };
    template <class T>
    PFO_HD static PFO_INLINE void apply(const Coeffs<T>& c, T& x, T center, T* s) {
        const T d = c.alpha * (x - center);
        x = x - d;
        s[0] = d;
    }
};

PFO_RULE(DelayTolerantAdagrad, delay_tolerant_adagrad);
PFO_RULE(Elastic, elastic);

}  // namespace pyfastopt::rules
