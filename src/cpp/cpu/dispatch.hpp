// Private: picks the CPU target once, at import, and forwards each call to it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pyfastopt/batch.hpp>
#include <pyfastopt/factored.hpp>
#include <pyfastopt/storage.hpp>

namespace pyfastopt::dispatch {

/// Runs Rule over the batch with the selected target and thread count.
template <class Rule, class T>
void run(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b);

/// As run(), writing Rule::kReductions sums per tensor to sums.
template <class Rule, class T>
void run_reduce(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, double* sums);

/// Runs Rule (in float32) over a batch in mixed storage.
template <class Rule>
void run_mixed(const CoeffsOf<Rule, float>& c, const MixedBatch<Rule::kStates>& b);

/// As run_mixed(), writing Rule::kReductions sums per tensor to sums.
template <class Rule>
void run_mixed_reduce(const CoeffsOf<Rule, float>& c,
                      const MixedBatch<Rule::kStates>& b,
                      double* sums);

/// Adafactor on one tensor of shape (batch, rows, cols) (cpu/factored-inl.hpp).
template <class T>
void adafactor_matrix(const factored::AdafactorCoeffs& c,
                      T* p,
                      const T* g,
                      T* row_var,
                      T* col_var,
                      std::size_t batch,
                      std::size_t rows,
                      std::size_t cols);
/// Adafactor on one vector of n elements.
template <class T>
void adafactor_vector(
    const factored::AdafactorCoeffs& c, T* p, const T* g, T* variance, std::size_t n);

/// L-BFGS's two-loop recursion: q <- -H grad (cpu/lbfgs-inl.hpp).
template <class T>
void lbfgs_direction(const T* grad,
                     const T* dirs,
                     const T* stps,
                     const T* ro,
                     const std::int64_t* rows,
                     std::size_t k,
                     std::size_t n,
                     T h_diag,
                     T* q,
                     T* al);

/// Targets compiled into this build, lowest first.
std::vector<std::string> compiled_targets();
/// Compiled targets this CPU can run, lowest first.
std::vector<std::string> supported_targets();
/// The target in use.
std::string selected_target();
/// Selects a supported target by name; returns false (and changes nothing) otherwise.
bool select_target(const std::string& name);

int num_threads();
void set_num_threads(int n);
bool has_openmp();

}  // namespace pyfastopt::dispatch
