// What a bfloat16 Adam step could gain on this machine, against what the conversions cost:
// medians of interleaved runs of (1) float32 Adam, (2) a loop that moves Adam's bfloat16
// streams (4 loads, 3 stores, truncating, no arithmetic: the bandwidth ceiling of 14 bytes
// per element), (3) pyfastopt's all-bfloat16 Adam, and the same pair for float32
// parameters and gradients with bfloat16 states (20 bytes per element), on n elements with
// OpenMP threads.
// Arrays are staggered within their pages, as pyfastopt.optim's state arenas are.
//
//   g++ -std=c++17 -O3 -fopenmp -march=native -fno-math-errno -fno-trapping-math \
//       -ffp-contract=off -I"$(python -c 'import pyfastopt; print(pyfastopt.get_include())')" \
//       bench/bf16_ceiling.cpp -o /tmp/bf16_ceiling && /tmp/bf16_ceiling 26 2
#include <pyfastopt/cpu/mixed-inl.hpp>
#include <pyfastopt/kernels.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <vector>

using namespace pyfastopt;

template <class T>
T* staggered(std::vector<char>& raw, std::size_t n, int slot) {
    raw.assign(n * sizeof(T) + 8192, 0);
    const auto base = reinterpret_cast<std::uintptr_t>(raw.data());
    const std::size_t shift = (4096 - base % 4096 + (slot + 1) * 1024 + 64 * slot) % 4096;
    return reinterpret_cast<T*>(raw.data() + shift);
}

int main(int argc, char** argv) {
    const std::size_t n = std::size_t{1} << (argc > 1 ? std::atoi(argv[1]) : 26);
    const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    const int reps = n < (std::size_t{1} << 20) ? 301 : 9;  // in cache: short runs, more of them
    std::vector<char> raw[8];
    float* p = staggered<float>(raw[0], n, 0);
    float* g = staggered<float>(raw[1], n, 1);
    float* m = staggered<float>(raw[2], n, 2);
    float* v = staggered<float>(raw[3], n, 3);
    auto* pb = staggered<std::uint16_t>(raw[4], n, 4);
    auto* gb = staggered<std::uint16_t>(raw[5], n, 5);
    auto* mb = staggered<std::uint16_t>(raw[6], n, 6);
    auto* vb = staggered<std::uint16_t>(raw[7], n, 7);
    std::fill(g, g + n, 1e-3f);
    std::fill(gb, gb + n, std::uint16_t{0x3A83});
    const double x[10] = {1.0, 0.0, 1.0, 0.9, 0.1, 0.999, 0.001, 1.0, 1e-8, -1e-3};
    const auto c = coeffs_from<rules::AdamPlain, float>(x);
    const Stored sp{pb, Storage::kBFloat16}, sg{gb, Storage::kBFloat16},
        sm{mb, Storage::kBFloat16}, sv{vb, Storage::kBFloat16};
    MixedBatch<2> batch;
    batch.count = 1;
    batch.sizes = &n;
    batch.params = &sp;
    batch.grads = &sg;
    batch.states = {&sm, &sv};
    auto fp32 = [&] { cpu::update<rules::AdamPlain, float>(c, p, g, {m, v}, n, threads); };
    auto streams = [&] {
#pragma omp parallel for simd num_threads(threads)
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t a = pb[i], b = gb[i], d = mb[i], e = vb[i];
            pb[i] = static_cast<std::uint16_t>(a + b);
            mb[i] = static_cast<std::uint16_t>(d + b);
            vb[i] = static_cast<std::uint16_t>(e + b);
        }
    };
    auto bf16 = [&] { cpu::run_mixed<rules::AdamPlain>(c, batch, threads); };
    auto states_streams = [&] {
#pragma omp parallel for simd num_threads(threads)
        for (std::size_t i = 0; i < n; ++i) {
            const float b = g[i];
            const std::uint32_t d = mb[i], e = vb[i];
            p[i] += b;
            mb[i] = static_cast<std::uint16_t>(d + 1);
            vb[i] = static_cast<std::uint16_t>(e + 1);
        }
    };
    const Stored sp32{p, Storage::kFloat32}, sg32{g, Storage::kFloat32};
    MixedBatch<2> states_batch = batch;
    states_batch.params = &sp32;
    states_batch.grads = &sg32;
    auto states_bf16 = [&] { cpu::run_mixed<rules::AdamPlain>(c, states_batch, threads); };
    struct Run {
        const char* name;
        int bytes;  // per element
        std::function<void()> step;
    };
    const Run runs[] = {{"fp32 Adam", 28, fp32},
                        {"bf16 streams only", 14, streams},
                        {"bf16 Adam", 14, bf16},
                        {"bf16 states: streams only", 20, states_streams},
                        {"bf16 states: Adam", 20, states_bf16}};
    constexpr int kRuns = static_cast<int>(std::size(runs));
    std::vector<double> t[kRuns];
    auto time = [](auto&& f) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
            .count();
    };
    for (const Run& run : runs) run.step();  // first touch
    for (int r = 0; r < reps; ++r)
        for (int k = 0; k < kRuns; ++k) t[k].push_back(time(runs[k].step));
    double med[kRuns];
    for (int k = 0; k < kRuns; ++k) {
        std::sort(t[k].begin(), t[k].end());
        med[k] = t[k][reps / 2];
    }
    std::printf("n = %zu, %d threads, medians of %d interleaved runs\n", n, threads, reps);
    for (int k = 0; k < kRuns; ++k)
        std::printf("%-26s %9.3f ms  %6.3f ns/el  (%d B/el)  x fp32 %.2f\n", runs[k].name,
                    med[k], 1e6 * med[k] / static_cast<double>(n), runs[k].bytes,
                    med[0] / med[k]);
}
