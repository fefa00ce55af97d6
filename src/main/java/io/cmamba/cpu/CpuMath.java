package io.cmamba.cpu;

/** Scalar functions shared by the CPU op families, written to stay finite for large |x|. */
final class CpuMath {
    private CpuMath() {
    }

    static double sigmoid(double x) {
        return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    }

    /** log(1 + exp(x)); x itself above 20, where the correction is below double rounding. */
    static double softplus(double x) {
        return x > 20 ? x : Math.log1p(Math.exp(x));
    }
}
