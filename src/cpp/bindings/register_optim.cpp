// One kernel binding per rule: `name(params, grads, states, coeffs)` updates a list of
// same-dtype arrays in one native call. The Python layer (pyfastopt.functional) computes the
// per-step coefficients; here they are only converted to the rule's Coeffs<T>.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <pyfastopt/rules/all.hpp>

#include "../cpu/dispatch.hpp"
#include "buffers.hpp"
#include "mixed.hpp"
#include "rule_traits.hpp"

namespace pyfastopt::bindings {
namespace {

/// Runs a checked batch: None, or the (count, kReductions) sums of a reducing rule.
template <class Rule, class T, class Batch, class Run>
py::object run_checked(const Batch& batch, py::handle coeffs, Run&& run) {
    const auto c = coeffs_from<Rule, T>(coeffs);
    if constexpr (HasReductions<Rule>::value) {
        py::array_t<double> sums(
            {static_cast<py::ssize_t>(batch.count), static_cast<py::ssize_t>(Rule::kReductions)});
        double* out = sums.mutable_data();
        {
            const py::gil_scoped_release release;  // no Python object touched below
            run(c, batch, out);
        }
        return std::move(sums);
    } else {
        const py::gil_scoped_release release;  // no Python object touched below
        run(c, batch, nullptr);
        return py::none();
    }
}

/// The mixed-storage call: every buffer in its own storage, computed in float32.
template <class Rule>
py::object call_mixed(py::handle params,
                      py::handle grads,
                      py::handle states,
                      py::handle coeffs,
                      py::handle masters,
                      const MixedOptions& options) {
    CheckedMixed<Rule::kStates> checked(params, states, masters, Rule::kStateNames,
                                        SignedStates<Rule>::value);
    const auto batch =
        options.apply(ReadsGrad<Rule>::value ? checked.with_grads(grads) : checked.without_grads());
    return run_checked<Rule, float>(batch, coeffs, [](const auto& c, const auto& b, double* out) {
        if constexpr (HasReductions<Rule>::value)
            dispatch::run_mixed_reduce<Rule>(c, b, out);
        else
            dispatch::run_mixed<Rule>(c, b);
    });
}

/// Checks, runs and returns None, or the (count, kReductions) sums of a reducing rule.
/// Same-dtype float32/float64 calls take the plain path; anything else the mixed one.
template <class Rule>
py::object call_rule(py::handle params,
                     py::handle grads,
                     py::handle states,
                     py::handle coeffs,
                     py::handle masters,
                     py::handle grad_scale,
                     py::handle seed,
                     py::handle step,
                     py::handle first_tensor) {
    const MixedOptions options(grad_scale, seed, step, first_tensor);
    if (options.given || !masters.is_none() || is_mixed(params, grads, states))
        return call_mixed<Rule>(params, grads, states, coeffs, masters, options);
    return with_dtype_of(params, [&](auto zero) -> py::object {
        using T = decltype(zero);
        CheckedBatch<T, Rule::kStates> checked(params, states, Rule::kStateNames);
        const auto batch =
            ReadsGrad<Rule>::value ? checked.with_grads(grads) : checked.without_grads();
        return run_checked<Rule, T>(batch, coeffs, [](const auto& c, const auto& b, double* out) {
            if constexpr (HasReductions<Rule>::value)
                dispatch::run_reduce<Rule, T>(c, b, out);
            else
                dispatch::run<Rule, T>(c, b);
        });
    });
}

constexpr const char* kKernelDoc =
    "In-place step over lists of same-dtype C-contiguous arrays; coeffs are the rule's "
    "per-step scalars in declaration order. Private: use pyfastopt.functional.";

template <class Rule>
void register_rule(py::module_& m, const char* name) {
    const auto none = py::none();
    if constexpr (ReadsGrad<Rule>::value) {
        m.def(name, &call_rule<Rule>, py::arg("params"), py::arg("grads"), py::arg("states"),
              py::arg("coeffs"), py::kw_only(), py::arg("masters") = none,
              py::arg("grad_scale") = none, py::arg("seed") = none, py::arg("step") = none,
              py::arg("first_tensor") = none, kKernelDoc);
    } else {
        m.def(
            name,
            [](py::handle arrays, py::handle coeffs) {
                const auto none = py::none();
                return call_rule<Rule>(arrays, none, py::list(), coeffs, none, none, none, none,
                                       none);
            },
            py::arg("arrays"), py::arg("coeffs"), kKernelDoc);
    }
}

/// A rule bound to parameters and states checked once: an optimizer builds one per
/// (group, dtype) and then pays only for checking the gradients at each step.
template <class Rule>
class Plan {
public:
    /// mixed: take the mixed-storage path even for float32 arrays (the optimizer scales
    /// gradients or rounds stochastically).
    Plan(py::handle params, py::handle states, py::handle masters, bool mixed) {
        if (mixed || !masters.is_none() || is_mixed(params, py::none(), states)) {
            batch_.template emplace<Mixed>(params, states, masters, Rule::kStateNames,
                                           SignedStates<Rule>::value,
                                           Roles{"params", "grads", true});
            return;
        }
        with_dtype_of(params, [&](auto zero) {
            using T = decltype(zero);
            batch_.template emplace<Checked<T>>(params, states, Rule::kStateNames,
                                                Roles{"params", "grads", true});
            return py::none();
        });
    }

    /// One step; returns False, doing nothing, if a gradient is None or not an array (a
    /// SparseRows, say): the caller then takes its general path, which checks it. The
    /// options are the kernel's (mixed plans only).
    bool step(py::handle grads,
              py::handle coeffs,
              py::handle grad_scale,
              py::handle seed,
              py::handle step) {
        const auto& api = py::detail::npy_api::get();
        if (PyList_Check(grads.ptr()) || PyTuple_Check(grads.ptr())) {
            PyObject** items = PySequence_Fast_ITEMS(grads.ptr());
            for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(grads.ptr()); ++i)
                if (!api.PyArray_Check_(items[i])) return false;
        }
        std::visit(
            [&](auto& checked) {
                using C = std::decay_t<decltype(checked)>;
                if constexpr (std::is_same_v<C, Mixed>) {
                    const MixedOptions options(grad_scale, seed, step, py::none());
                    const auto batch = options.apply(checked.with_grads(grads));
                    const auto c = coeffs_from<Rule, float>(coeffs);
                    const py::gil_scoped_release release;  // no Python object touched below
                    dispatch::run_mixed<Rule>(c, batch);
                } else if constexpr (!std::is_same_v<C, std::monostate>) {
                    using T = typename C::value_type;
                    if (!grad_scale.is_none() || !seed.is_none())
                        throw py::value_error("grad_scale and seed need a mixed plan");
                    const auto batch = checked.with_grads(grads);
                    const auto c = coeffs_from<Rule, T>(coeffs);
                    const py::gil_scoped_release release;  // no Python object touched below
                    dispatch::run<Rule, T>(c, batch);
                }
            },
            batch_);
        return true;
    }

    /// Whether `params` holds exactly the parameter arrays the plan was built on.
    bool same_params(py::handle params) const {
        return std::visit(
            [&](const auto& checked) {
                using C = std::decay_t<decltype(checked)>;
                if constexpr (std::is_same_v<C, std::monostate>) {
                    return false;
                } else {
                    return checked.same_params(params);
                }
            },
            batch_);
    }

private:
    template <class T>
    using Checked = CheckedBatch<T, Rule::kStates>;
    using Mixed = CheckedMixed<Rule::kStates>;
    std::variant<std::monostate, Checked<float>, Checked<double>, Mixed> batch_;
};

template <class Rule>
void register_plan(py::module_& m, const char* name) {
    py::class_<Plan<Rule>>(m, name, "Params and states checked once (private).")
        .def(py::init<py::handle, py::handle, py::handle, bool>(), py::arg("params"),
             py::arg("states"), py::arg("masters") = py::none(), py::arg("mixed") = false)
        .def("step", &Plan<Rule>::step, py::arg("grads"), py::arg("coeffs"),
             py::arg("grad_scale") = py::none(), py::arg("seed") = py::none(),
             py::arg("step") = py::none())
        .def("same_params", &Plan<Rule>::same_params, py::arg("params"));
}

}  // namespace

/// Adds the rule's kSignedStates to `table` (rules that take 8-bit states only).
template <class Rule>
void add_signed_states(py::dict& table, const char* name) {
    if constexpr (SignedStates<Rule>::kHas) {
        py::tuple flags(Rule::kStates);
        for (int k = 0; k < Rule::kStates; ++k) flags[k] = py::bool_(Rule::kSignedStates[k]);
        table[name] = flags;
    }
}

/// Adds the rule's kStateNames to `table`.
template <class Rule>
void add_state_names(py::dict& table, const char* name) {
    py::tuple names(Rule::kStates);
    for (int k = 0; k < Rule::kStates; ++k) names[k] = py::str(Rule::kStateNames[k]);
    table[name] = names;
}

void register_optim(py::module_& m) {
#define PFO_REGISTER(Rule, name) register_rule<rules::Rule>(m, #name);
#define PFO_REGISTER_PLAN(Rule, name) \
    if constexpr (ReadsGrad<rules::Rule>::value) register_plan<rules::Rule>(m, #name "_plan");
    PFO_FOR_EACH_RULE(PFO_REGISTER)
    PFO_FOR_EACH_REDUCING_RULE(PFO_REGISTER)
    PFO_FOR_EACH_RULE(PFO_REGISTER_PLAN)
    // which states of each 8-bit-capable rule take the signed map (pyfastopt.precision)
    py::dict signed_states;
#define PFO_SIGNED(Rule, name) add_signed_states<rules::Rule>(signed_states, #name);
    PFO_FOR_EACH_RULE(PFO_SIGNED)
#undef PFO_SIGNED
    m.attr("signed_states") = signed_states;
    // every element-wise rule's state buffers, in its order (rules/all.hpp: the rule list)
    py::dict state_names;
#define PFO_STATE_NAMES(Rule, name) add_state_names<rules::Rule>(state_names, #name);
    PFO_FOR_EACH_RULE(PFO_STATE_NAMES)
#undef PFO_STATE_NAMES
    m.attr("state_names") = state_names;
#undef PFO_REGISTER
#undef PFO_REGISTER_PLAN
}

}  // namespace pyfastopt::bindings
