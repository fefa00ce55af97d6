// Peak-rate probes for the roofline's ceilings (io.cmamba.cuda.Ceilings); the model never calls them.
//
// probe_fma_f32  CHAINS independent chains of `iters` FMAs per thread: enough independent work to keep
//                every FP32 lane busy, so the time measures the FMA issue rate.
// probe_ex2_f32  the same with ex2.approx (the special-function unit the scan's exponentials use);
//                x -> 2^-x keeps every chain in (0, 1], so no input ever reaches inf or a denormal.
// Each thread stores its sum so that the compiler keeps every chain.
#include "common.cuh"

#define PROBE_CHAINS 8

extern "C" __global__ void probe_fma_f32(float* __restrict__ out, int iters, float a, float b) {
    float x[PROBE_CHAINS];
#pragma unroll
    for (int c = 0; c < PROBE_CHAINS; c++) x[c] = threadIdx.x * 1e-3f + c;
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int c = 0; c < PROBE_CHAINS; c++) x[c] = fmaf(x[c], a, b);
    }
    float s = 0.f;
#pragma unroll
    for (int c = 0; c < PROBE_CHAINS; c++) s += x[c];
    out[(size_t)blockIdx.x * blockDim.x + threadIdx.x] = s;
}

extern "C" __global__ void probe_ex2_f32(float* __restrict__ out, int iters) {
    float x[PROBE_CHAINS];
#pragma unroll
    for (int c = 0; c < PROBE_CHAINS; c++) x[c] = threadIdx.x * 1e-3f + c * 0.1f;
    for (int i = 0; i < iters; i++) {
#pragma unroll
        for (int c = 0; c < PROBE_CHAINS; c++) asm volatile("ex2.approx.ftz.f32 %0, %1;" : "=f"(x[c]) : "f"(-x[c]));
    }
    float s = 0.f;
#pragma unroll
    for (int c = 0; c < PROBE_CHAINS; c++) s += x[c];
    out[(size_t)blockIdx.x * blockDim.x + threadIdx.x] = s;
}
