"""The installed C++ headers and CMake package: a downstream CMake project finds pyfastopt,
builds against pyfastopt::kernels and reproduces pyfastopt.reference's numbers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyfastopt
from pyfastopt import functional, reference

STEPS = 10
N = 70_003  # above the driver's parallel grain, with a ragged tail
HPARAMS = {"lr": 0.05, "beta1": 0.9, "beta2": 0.99, "eps": 1e-8, "weight_decay": 0.01}

CMAKELISTS = """\
cmake_minimum_required(VERSION 3.18)
project(pyfastopt_demo LANGUAGES CXX)
find_package(pyfastopt 0.1 CONFIG REQUIRED OPTIONAL_COMPONENTS OpenMP)
add_executable(demo main.cpp)
target_link_libraries(demo PRIVATE pyfastopt::kernels pyfastopt::flags)
if(pyfastopt_OpenMP_FOUND)
  target_link_libraries(demo PRIVATE pyfastopt::openmp)
endif()
if(NOT MSVC)
  # Imported include directories are SYSTEM (warnings hidden): not here, so that -Werror
  # covers pyfastopt's headers too.
  set_target_properties(demo PROPERTIES NO_SYSTEM_FROM_IMPORTED ON)
  target_compile_options(demo PRIVATE -Wall -Wextra -Wpedantic -Werror)
endif()
"""

# Reads p0 (n doubles), grads (steps x n) and coeffs (steps x 10, from Python's
# functional.adam_rule(...).coeffs(t)); runs Adam in float64 and float32; writes p, m, v.
MAIN_CPP = r"""
#include <pyfastopt/kernels.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using Rule = pyfastopt::rules::AdamPlain;

static std::vector<double> read(const std::string& path, std::size_t count) {
    std::vector<double> x(count);
    std::ifstream in(path, std::ios::binary);
    in.read(reinterpret_cast<char*>(x.data()), std::streamsize(count * sizeof(double)));
    if (!in) { std::fprintf(stderr, "cannot read %s\n", path.c_str()); std::exit(2); }
    return x;
}

template <class T>
static void run(const std::string& dir, const char* suffix, std::size_t n, std::size_t steps) {
    constexpr std::size_t K = pyfastopt::kNumCoeffs<Rule>;
    const auto p0 = read(dir + "/p0.bin", n);
    const auto grads = read(dir + "/grads.bin", steps * n);
    const auto coeffs = read(dir + "/coeffs.bin", steps * K);
    std::vector<T> p(p0.begin(), p0.end()), g(n), m(n, T(0)), v(n, T(0));
    for (std::size_t t = 0; t < steps; ++t) {
        for (std::size_t i = 0; i < n; ++i) g[i] = static_cast<T>(grads[t * n + i]);
        const auto c = pyfastopt::coeffs_from<Rule, T>(&coeffs[t * K]);
        pyfastopt::cpu::update<Rule, T>(c, p.data(), g.data(), {m.data(), v.data()}, n, 2);
    }
    const std::vector<T>* outs[] = {&p, &m, &v};
    const char* names[] = {"p", "m", "v"};
    for (int k = 0; k < 3; ++k) {
        std::ofstream out(dir + "/" + names[k] + suffix + ".bin", std::ios::binary);
        out.write(reinterpret_cast<const char*>(outs[k]->data()),
                  std::streamsize(n * sizeof(T)));
    }
}

int main(int argc, char** argv) {
    if (argc != 4) return 2;
    const std::size_t n = std::strtoull(argv[2], nullptr, 10);
    const std::size_t steps = std::strtoull(argv[3], nullptr, 10);
    run<double>(argv[1], "64", n, steps);
    run<float>(argv[1], "32", n, steps);
    std::printf("coeffs %zu states %d openmp %d\n", pyfastopt::kNumCoeffs<Rule>, Rule::kStates,
#if defined(_OPENMP)
                1
#else
                0
#endif
    );
    return 0;
}
"""


def _cmake() -> str:
    for candidate in (Path(sys.executable).parent / "cmake", shutil.which("cmake")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("cmake not found: it is in the test extra (pip install '.[test]')")


def test_paths_point_at_the_installed_headers_and_config():
    include = Path(pyfastopt.get_include())
    assert (include / "pyfastopt" / "kernels.hpp").is_file()
    assert (include / "pyfastopt" / "flat.hpp").is_file()
    assert (include / "pyfastopt" / "rules" / "adam.hpp").is_file()
    cmake_dir = Path(pyfastopt.get_cmake_dir())
    assert (cmake_dir / "pyfastoptConfig.cmake").is_file()
    assert (cmake_dir / "pyfastoptConfigVersion.cmake").is_file()


def test_downstream_cmake_project_matches_the_reference(tmp_path):
    cmake = _cmake()
    rng = np.random.default_rng(6)
    p0 = rng.standard_normal(N)
    grads = rng.standard_normal((STEPS, N))
    rule = functional.adam_rule(amsgrad=False, maximize=False, decoupled_weight_decay=False,
                                bias_correction=True, **HPARAMS)  # fmt: skip
    coeffs = np.array([rule.coeffs(t) for t in range(1, STEPS + 1)], dtype=np.float64)
    assert coeffs.shape == (STEPS, 10)
    p0.tofile(tmp_path / "p0.bin")
    grads.tofile(tmp_path / "grads.bin")
    coeffs.tofile(tmp_path / "coeffs.bin")

    src, build = tmp_path / "src", tmp_path / "build"
    src.mkdir()
    (src / "CMakeLists.txt").write_text(CMAKELISTS)
    (src / "main.cpp").write_text(MAIN_CPP)
    configure = [cmake, "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 f"-Dpyfastopt_DIR={pyfastopt.get_cmake_dir()}"]  # fmt: skip
    ninja = Path(sys.executable).parent / "ninja"
    ninja = str(ninja) if ninja.is_file() else shutil.which("ninja")
    if ninja:
        configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={ninja}"]
    _run(configure)
    _run([cmake, "--build", str(build)])
    exe = next(p for p in (build / "demo", build / "demo.exe", build / "Release" / "demo.exe")
               if p.is_file())  # fmt: skip
    out = _run([str(exe), str(tmp_path), str(N), str(STEPS)])
    assert out.startswith("coeffs 10 states 2")

    ref_p = p0.copy()
    opt = reference.Adam([ref_p], lr=HPARAMS["lr"], betas=(HPARAMS["beta1"], HPARAMS["beta2"]),
                         eps=HPARAMS["eps"], weight_decay=HPARAMS["weight_decay"])  # fmt: skip
    for t in range(STEPS):
        opt.step([grads[t].copy()])
    expected = {"p": ref_p, "m": opt.state[0]["exp_avg"], "v": opt.state[0]["exp_avg_sq"]}
    for name, want in expected.items():
        got64 = np.fromfile(tmp_path / f"{name}64.bin", dtype=np.float64)
        np.testing.assert_allclose(got64, want, rtol=1e-12, atol=1e-14, err_msg=name)
        got32 = np.fromfile(tmp_path / f"{name}32.bin", dtype=np.float32)
        np.testing.assert_allclose(got32, want, rtol=2e-5, atol=2e-6, err_msg=name)


def _run(cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout
