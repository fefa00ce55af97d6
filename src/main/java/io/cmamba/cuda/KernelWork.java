package io.cmamba.cuda;

import io.cmamba.tensor.Tensor;

/**
 * The least work one kernel launch has to do, for its roofline: bytes it must move to or from device
 * memory (each input read once, each output written once), FP32 fused multiply-adds (one FMA is two
 * FLOPs; a lone add or multiply counts as one FMA) and exponentials (the special-function unit).
 * Recomputation and re-reads a kernel chooses to do are not counted: the roofline then says how far
 * the launch is from what the mathematics needs.
 */
public record KernelWork(double bytes, double fmas, double exps) {
    public static final KernelWork NONE = new KernelWork(0, 0, 0);

    public KernelWork {
        if (!(bytes >= 0) || !(fmas >= 0) || !(exps >= 0))
            throw new IllegalArgumentException("kernel work must be finite and >= 0: bytes " + bytes + ", fmas " + fmas + ", exps " + exps);
    }

    /**
     * Bytes of every {@link Tensor} and {@link DeviceBuffer} among a launch's arguments, each touched
     * once: the compulsory traffic of a pointwise or reduction kernel (a tensor both read and written
     * in place counts once, so this is a lower bound).
     */
    public static KernelWork ofArguments(Object... args) {
        double bytes = 0;
        for (Object a : args) {
            if (a instanceof Tensor t) bytes += (double) t.size() * t.dtype().bytes;
            else if (a instanceof DeviceBuffer b) bytes += b.bytes();
        }
        return new KernelWork(bytes, 0, 0);
    }

    public KernelWork plus(KernelWork o) {
        return new KernelWork(bytes + o.bytes, fmas + o.fmas, exps + o.exps);
    }

    public KernelWork withFmas(double f) {
        return new KernelWork(bytes, f, exps);
    }

    public KernelWork withExps(double e) {
        return new KernelWork(bytes, fmas, e);
    }

    /** The time this work needs at the ceilings, in milliseconds: the largest of its three parts. */
    public double floorMillis(Ceilings c) {
        return 1e3 * Math.max(bytes / c.bytesPerSecond(), Math.max(fmas / c.fmasPerSecond(), exps / c.expsPerSecond()));
    }

    /** Which of the three parts sets {@link #floorMillis}: "bytes", "fp32" or "exp" ("none" for no work). */
    public String bound(Ceilings c) {
        double b = bytes / c.bytesPerSecond(), f = fmas / c.fmasPerSecond(), e = exps / c.expsPerSecond();
        if (b == 0 && f == 0 && e == 0) return "none";
        return b >= f && b >= e ? "bytes" : f >= e ? "fp32" : "exp";
    }
}
