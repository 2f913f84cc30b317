# cython: language_level=3
"""Cython declarations of pyfastopt's C++ kernels: ``cimport pyfastopt.kernels``.

Declares the header-only flat API of ``pyfastopt/flat.hpp`` (every function ``nogil`` and
``noexcept``), plus ``update``, a checked wrapper on typed memoryviews. The kernels are
compiled into the module that cimports this file: build it as C++17 with
``include_dirs=[pyfastopt.get_include()]`` (and, for the wheel's rounding,
``-fno-math-errno -fno-trapping-math -ffp-contract=off``; ``-fopenmp`` for ``threads > 1``).

A rule is an id (``rule_adam``, ``rule_adagrad``, ... or ``rule_id(b"adam")``); its per-step
coefficients are the doubles ``pyfastopt.functional.<name>_rule(...).coeffs(t)`` returns;
its states are in the order ``state_name(rule, k)`` gives (torch's names)::

    from pyfastopt cimport kernels
    with nogil:
        kernels.update(kernels.rule_adam, coeffs, param, grad, states)  # states: (2, n)
"""

cimport cython
from cython cimport floating

cdef extern from "pyfastopt/flat.hpp" namespace "pyfastopt::flat" nogil:
    # RuleId, in the order of PFO_FOR_EACH_RULE (rules/all.hpp); tests/test_cython.py
    # checks this list against rule_name().
    enum RuleId:
        rule_sgd
        rule_sgd_momentum
        rule_adagrad
        rule_adadelta
        rule_rmsprop
        rule_rmsprop_centered
        rule_rmsprop_momentum
        rule_rmsprop_centered_momentum
        rule_adam
        rule_adam_amsgrad
        rule_adamax
        rule_nadam
        rule_radam
        rule_rprop
        rule_adabound
        rule_amsbound
        rule_lion
        rule_delay_tolerant_adagrad
        rule_elastic
        rule_scale_clamp
        rule_ema
        kNumRules

    # Status: what step() returns; nothing is written unless kOk.
    enum Status:
        kOk
        kUnknownRule
        kWrongCoeffCount
        kWrongStateCount
        kNullPointer
        kOutOfMemory

    const int kMaxStates

    const char* rule_name(int rule) noexcept
    int rule_id(const char* name) noexcept
    int num_coeffs(int rule) noexcept
    int num_states(int rule) noexcept
    int reads_grad(int rule) noexcept
    const char* state_name(int rule, int k) noexcept
    const char* status_message(int status) noexcept
    bint compiled_with_openmp() noexcept

    # One in-place step on n elements. Preconditions: every pointer valid for n elements,
    # no two buffers overlap (grad may be NULL for the rules with reads_grad(rule) == 0).
    int step(int rule, const double* coeffs, size_t ncoeffs,
             double* param, const double* grad, double** states, size_t nstates,
             size_t n, int threads) noexcept
    int step(int rule, const double* coeffs, size_t ncoeffs,
             float* param, const float* grad, float** states, size_t nstates,
             size_t n, int threads) noexcept


cdef inline bint _overlap(const void* a, Py_ssize_t na,
                          const void* b, Py_ssize_t nb) noexcept nogil:
    cdef const char* x = <const char*>a
    cdef const char* y = <const char*>b
    return na > 0 and nb > 0 and x < y + nb and y < x + na


cdef inline int update(int rule, const double[::1] coeffs, floating[::1] param,
                       const floating[::1] grad, floating[:, ::1] states,
                       int threads=1) except -1 nogil:
    """One in-place step of ``rule`` on ``param`` (n elements) and ``states``.

    ``states`` holds the rule's state buffers as rows, shape ``(num_states(rule), n)`` (use
    shape ``(0, n)`` for a rule without state); ``grad`` has n elements; ``coeffs`` holds
    ``num_coeffs(rule)`` doubles. Raises ValueError for an unknown rule, wrong lengths or
    buffers that share memory; returns 0.
    """
    cdef Py_ssize_t n = param.shape[0]
    cdef int nstates = num_states(rule)
    cdef Py_ssize_t nbytes = n * sizeof(floating)
    cdef floating* ptrs[4]  # kMaxStates
    cdef const void* first_state
    cdef int k, status
    if nstates < 0:
        with gil:
            raise ValueError(f"pyfastopt.kernels: unknown rule id {rule}")
    if coeffs.shape[0] != num_coeffs(rule):
        with gil:
            raise ValueError(f"pyfastopt.kernels: rule {rule_name(rule).decode()} takes "
                             f"{num_coeffs(rule)} coefficients, got {coeffs.shape[0]}")
    if grad.shape[0] != n:
        with gil:
            raise ValueError(f"pyfastopt.kernels: grad has {grad.shape[0]} elements, "
                             f"param {n}")
    if states.shape[0] != nstates or (nstates > 0 and states.shape[1] != n):
        with gil:
            raise ValueError(f"pyfastopt.kernels: states must have shape ({nstates}, {n}) "
                             f"for rule {rule_name(rule).decode()}, got "
                             f"({states.shape[0]}, {states.shape[1]})")
    if n == 0:
        return 0
    with cython.boundscheck(False), cython.wraparound(False):  # indices 0, lengths checked
        first_state = &states[0, 0] if nstates > 0 else NULL
        if _overlap(&param[0], nbytes, first_state, nstates * nbytes) or (
                reads_grad(rule) and (
                    _overlap(&grad[0], nbytes, &param[0], nbytes)
                    or _overlap(&grad[0], nbytes, first_state, nstates * nbytes))):
            with gil:
                raise ValueError("pyfastopt.kernels: param, grad and states must not share memory")
        for k in range(nstates):
            ptrs[k] = &states[k, 0]
        status = step(rule, &coeffs[0], <size_t>coeffs.shape[0], &param[0], &grad[0], ptrs,
                      <size_t>nstates, <size_t>n, threads)
    if status != kOk:
        with gil:
            raise ValueError(f"pyfastopt.kernels: {status_message(status).decode()}")
    return 0
