// pyfastopt/rules/all.hpp: every rule, and the lists the CPU targets and bindings iterate.
// Adding an optimizer: write rules/<name>.hpp, include it here and list it below.
#pragma once

#include "adabound.hpp"
#include "adadelta.hpp"
#include "adagrad.hpp"
#include "adam.hpp"
#include "adamax.hpp"
#include "distributed.hpp"
#include "lion.hpp"
#include "nadam.hpp"
#include "radam.hpp"
#include "rmsprop.hpp"
#include "roofline.hpp"
#include "rprop.hpp"
#include "sgd.hpp"
#include "swats.hpp"
#include "transforms.hpp"

/// X(Rule, python_name) for every element-wise rule (names starting with _ are benchmark
/// patterns from roofline.hpp, not optimizers).
#define PFO_FOR_EACH_RULE(X)                              \
    X(Sgd, sgd)                                           \
    X(SgdMomentum, sgd_momentum)                          \
    X(Adagrad, adagrad)                                   \
    X(Adadelta, adadelta)                                 \
    X(RmspropPlain, rmsprop)                              \
    X(RmspropCentered, rmsprop_centered)                  \
    X(RmspropMomentum, rmsprop_momentum)                  \
    X(RmspropCenteredMomentum, rmsprop_centered_momentum) \
    X(AdamPlain, adam)                                    \
    X(AdamAmsgrad, adam_amsgrad)                          \
    X(Adamax, adamax)                                     \
    X(Nadam, nadam)                                       \
    X(Radam, radam)                                       \
    X(Rprop, rprop)                                       \
    X(AdaBoundPlain, adabound)                            \
    X(AmsBound, amsbound)                                 \
    X(Lion, lion)                                         \
    X(DelayTolerantAdagrad, delay_tolerant_adagrad)       \
    X(Elastic, elastic)                                   \
    X(ScaleClamp, scale_clamp)                            \
    X(Ema, ema)                                           \
    X(AdamPattern, _adam_pattern)

/// X(Rule, python_name) for every rule that also reduces sums (Rule::kReductions of them).
#define PFO_FOR_EACH_REDUCING_RULE(X) X(SwatsAdam, swats_adam) X(SumSquares, sum_squares)
