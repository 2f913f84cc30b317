// pyfastopt/cuda/loop.cuh: header-only CUDA driver that runs a rule over a Batch of device
// buffers. Include it from a .cu file only (it defines __global__ kernels); pyfastopt's
// src/cpp/cuda/kernels.cu instantiates it once per rule and dtype.
//
// The device twin of cpu/loop-inl.hpp: the same rules/*.hpp, the same Batch, the same
// per-element load -> Rule::apply -> store. Work is cut into (tensor, chunk) items of kChunk
// elements; one grid-stride kernel takes a whole list of tensors: block b handles items
// b, b + gridDim.x, ..., and its threads stride through the chunk's elements (coalesced).
// The tensor table travels as the kernel's by-value argument (like torch's
// multi_tensor_apply: no device allocation, no copy), so one launch holds up to
// TensorTable::kMaxTensors tensors; a longer list takes one launch per kMaxTensors.
//
// Rounding: compile with --fmad=false and without --use_fast_math (so -prec-div,
// -prec-sqrt and -ftz keep their IEEE defaults); the rules use no FMA, so a device step
// rounds as the CPU kernels do.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "../batch.hpp"

namespace pyfastopt::cuda {

/// Threads per block.
inline constexpr int kThreads = 256;
/// Elements per work item (32 per thread).
inline constexpr std::size_t kChunk = std::size_t{8192};
/// Resident blocks per multiprocessor the grid is sized for (the grid-stride loop takes
/// the rest).
inline constexpr int kBlocksPerSm = 8;

/// The kernel argument: tensor t has size[t] elements at params[t], grads[t] and
/// states[k][t]; its chunks are the work items [chunk_start[t], chunk_start[t + 1]).
/// Sized to stay under the 4 KiB kernel-parameter limit of every CUDA version (with the
/// Coeffs): 68 tensors per launch for a rule with 3 states, 99 for stateless rules.
template <class T, int K>
struct TensorTable {
    static constexpr int kRows = K > 0 ? K : 1;  ///< state rows (one unused when K == 0)
    static constexpr int kMaxTensors = (3584 - 8) / (8 * (kRows + 2) + 8 + 4);
    int count = 0;
    std::uint32_t chunk_start[kMaxTensors + 1] = {};
    std::size_t size[kMaxTensors] = {};
    T* params[kMaxTensors] = {};
    const T* grads[kMaxTensors] = {};
    T* states[kRows][kMaxTensors] = {};
};

/// The tensor a work item belongs to: the last t with chunk_start[t] <= item (tables
/// hold no empty tensor, so that tensor's range contains the item).
template <class T, int K>
__device__ inline int tensor_of(const TensorTable<T, K>& table, std::uint32_t item) {
    int lo = 0, hi = table.count - 1;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (table.chunk_start[mid] <= item)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/// One launch: every element of every tensor of the table. __grid_constant__ lets the
/// table be indexed in parameter memory instead of being copied per thread (sm_70+).
template <class Rule, class T>
__global__ void __launch_bounds__(kThreads)
    step_kernel(const __grid_constant__ TensorTable<T, Rule::kStates> table,
                const CoeffsOf<Rule, T> c) {
    constexpr int K = Rule::kStates;
    const std::uint32_t items = table.chunk_start[table.count];
    for (std::uint32_t item = blockIdx.x; item < items; item += gridDim.x) {
        const int t = tensor_of(table, item);
        const std::size_t begin = std::size_t{item - table.chunk_start[t]} * kChunk;
        const std::size_t end = table.size[t] - begin < kChunk ? table.size[t] : begin + kChunk;
        T* const p = table.params[t];
        const T* const g = table.grads[t];
        T* state[K > 0 ? K : 1];
#pragma unroll
        for (int k = 0; k < K; ++k) state[k] = table.states[k][t];
        for (std::size_t i = begin + threadIdx.x; i < end; i += kThreads) {
            T s[K > 0 ? K : 1];
#pragma unroll
            for (int k = 0; k < K; ++k) s[k] = state[k][i];
            T pi = p[i];
            Rule::apply(c, pi, g[i], s);
            p[i] = pi;
#pragma unroll
            for (int k = 0; k < K; ++k) state[k][i] = s[k];
        }
    }
}

/// Thrown for a CUDA runtime error; what() names the call.
inline void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess)
        throw std::runtime_error(std::string("CUDA error in ") + what + ": " +
                                 cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

/// Applies Rule to every element of the batch (device pointers, all on the current
/// device), in place, enqueued on `stream`. sms is the device's multiprocessor count.
/// Empty tensors are skipped; an empty batch launches nothing. Asynchronous: returns once
/// the launches are enqueued.
template <class Rule, class T>
void run(const CoeffsOf<Rule, T>& c, const BatchOf<Rule, T>& b, cudaStream_t stream, int sms) {
    constexpr int K = Rule::kStates;
    using Table = TensorTable<T, K>;
    static_assert(sizeof(Table) + sizeof(CoeffsOf<Rule, T>) <= 4000,
                  "kernel arguments must fit in 4 KiB");
    Table table;
    std::size_t items = 0;
    auto launch = [&] {
        if (table.count == 0) return;
        const std::size_t max_grid = static_cast<std::size_t>(sms > 0 ? sms : 1) * kBlocksPerSm;
        const unsigned grid = static_cast<unsigned>(items < max_grid ? items : max_grid);
        step_kernel<Rule, T><<<grid, kThreads, 0, stream>>>(table, c);
        check(cudaGetLastError(), "kernel launch");
        table.count = 0;
        items = 0;
    };
    for (std::size_t t = 0; t < b.count; ++t) {
        const std::size_t n = b.sizes[t];
        if (n == 0) continue;
        const std::size_t chunks = (n + kChunk - 1) / kChunk;
        // Work items stay below 2^31, so `item += gridDim.x` cannot wrap around.
        constexpr std::size_t kMaxItems = std::numeric_limits<std::int32_t>::max();
        if (chunks > kMaxItems) throw std::length_error("pyfastopt.cuda: tensor too large");
        if (table.count == Table::kMaxTensors || items + chunks > kMaxItems) launch();
        const int i = table.count++;
        table.chunk_start[i] = static_cast<std::uint32_t>(items);
        table.size[i] = n;
        table.params[i] = b.params[t];
        table.grads[i] = b.grads[t];
        for (int k = 0; k < K; ++k) table.states[k][i] = b.states[k][t];
        items += chunks;
        table.chunk_start[i + 1] = static_cast<std::uint32_t>(items);
    }
    launch();
}

}  // namespace pyfastopt::cuda
