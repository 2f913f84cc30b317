// One kernel binding per rule: `name(params, grads, states, coeffs)` updates a list of
// same-dtype arrays in one native call. The Python layer (pyfastopt.functional) computes the
// per-step coefficients; here they are only converted to the rule's Coeffs<T>.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include <pyfastopt/rules/all.hpp>

#include "../cpu/dispatch.hpp"
#include "buffers.hpp"
#include "rule_traits.hpp"

namespace pyfastopt::bindings {
namespace {

/// Checks, runs and returns None, or the (count, kReductions) sums of a reducing rule.
template <class Rule>
py::object call_rule(py::handle params, py::handle grads, py::handle states, py::handle coeffs) {
    return with_dtype_of(params, [&](auto zero) -> py::object {
        using T = decltype(zero);
        CheckedBatch<T, Rule::kStates> checked(params, states, Rule::kStateNames);
        const auto batch =
            ReadsGrad<Rule>::value ? checked.with_grads(grads) : checked.without_grads();
        const auto c = coeffs_from<Rule, T>(coeffs);
        if constexpr (HasReductions<Rule>::value) {
            py::array_t<double> sums({static_cast<py::ssize_t>(batch.count),
                                      static_cast<py::ssize_t>(Rule::kReductions)});
            double* out = sums.mutable_data();
            {
                const py::gil_scoped_release release;  // no Python object touched below
                dispatch::run_reduce<Rule, T>(c, batch, out);
            }
            return std::move(sums);
        } else {
            const py::gil_scoped_release release;  // no Python object touched below
            dispatch::run<Rule, T>(c, batch);
            return py::none();
        }
    });
}

constexpr const char* kKernelDoc =
    "In-place step over lists of same-dtype C-contiguous arrays; coeffs are the rule's "
    "per-step scalars in declaration order. Private: use pyfastopt.functional.";

template <class Rule>
void register_rule(py::module_& m, const char* name) {
    if constexpr (ReadsGrad<Rule>::value) {
        m.def(name, &call_rule<Rule>, py::arg("params"), py::arg("grads"), py::arg("states"),
              py::arg("coeffs"), kKernelDoc);
    } else {
        m.def(
            name,
            [](py::handle arrays, py::handle coeffs) {
                return call_rule<Rule>(arrays, py::none(), py::list(), coeffs);
            },
            py::arg("arrays"), py::arg("coeffs"), kKernelDoc);
    }
}

/// A rule bound to parameters and states checked once: an optimizer builds one per
/// (group, dtype) and then pays only for checking the gradients at each step.
template <class Rule>
class Plan {
public:
    Plan(py::handle params, py::handle states) {
        with_dtype_of(params, [&](auto zero) {
            using T = decltype(zero);
            batch_.template emplace<Checked<T>>(params, states, Rule::kStateNames,
                                                Roles{"params", "grads", true});
            return py::none();
        });
    }

    /// One step; returns False, doing nothing, if a gradient is None or not an array (a
    /// SparseRows, say): the caller then takes its general path, which checks it.
    bool step(py::handle grads, py::handle coeffs) {
        const auto& api = py::detail::npy_api::get();
        if (PyList_Check(grads.ptr()) || PyTuple_Check(grads.ptr())) {
            PyObject** items = PySequence_Fast_ITEMS(grads.ptr());
            for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(grads.ptr()); ++i)
                if (!api.PyArray_Check_(items[i])) return false;
        }
        std::visit(
            [&](auto& checked) {
                using C = std::decay_t<decltype(checked)>;
                if constexpr (!std::is_same_v<C, std::monostate>) {
                    using T = typename C::value_type;
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
    std::variant<std::monostate, Checked<float>, Checked<double>> batch_;
};

template <class Rule>
void register_plan(py::module_& m, const char* name) {
    py::class_<Plan<Rule>>(m, name, "Params and states checked once (private).")
        .def(py::init<py::handle, py::handle>(), py::arg("params"), py::arg("states"))
        .def("step", &Plan<Rule>::step, py::arg("grads"), py::arg("coeffs"))
        .def("same_params", &Plan<Rule>::same_params, py::arg("params"));
}

}  // namespace

void register_optim(py::module_& m) {
#define PFO_REGISTER(Rule, name) register_rule<rules::Rule>(m, #name);
#define PFO_REGISTER_PLAN(Rule, name) \
    if constexpr (ReadsGrad<rules::Rule>::value) register_plan<rules::Rule>(m, #name "_plan");
    PFO_FOR_EACH_RULE(PFO_REGISTER)
    PFO_FOR_EACH_REDUCING_RULE(PFO_REGISTER)
    PFO_FOR_EACH_RULE(PFO_REGISTER_PLAN)
#undef PFO_REGISTER
#undef PFO_REGISTER_PLAN
}

}  // namespace pyfastopt::bindings
