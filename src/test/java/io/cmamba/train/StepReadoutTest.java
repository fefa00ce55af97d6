package io.cmamba.train;

import io.cmamba.cpu.CpuBackend;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.DType;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The global gradient norm, the clipping factor, and non-finite detection. */
class StepReadoutTest {
    final CpuBackend cpu = new CpuBackend();

    Parameter param(String name, double... g) {
        return new Parameter(name, cpu.zeros(DType.F32, g.length), cpu.fromDoubles(DType.F32, g, g.length), true);
    }

    @Test
    void globalNormIsOverAllParametersAndTheLossComesAlong() {
        List<Parameter> ps = List.of(param("a", 3, 0), param("b", 0, 0, 4), param("c", 12));
        try (StepReadout r = new StepReadout(ps)) {
            StepReadout.Reading x = r.read(cpu.fromDoubles(DType.F32, new double[]{0.625}, 1));
            assertEquals(13.0, x.gradNorm(), 1e-6);   // sqrt(9 + 16 + 144)
            assertEquals(0.625, x.loss(), 0);
            assertTrue(x.finite());
            assertNull(x.firstNonFinite());
        }
    }

    @Test
    void clipScaleBringsTheNormDownToTheLimitOnly() {
        assertEquals(1.0, StepReadout.clipScale(0.5, 1.0), 0);
        assertEquals(0.25, StepReadout.clipScale(4.0, 1.0), 1e-15);
        assertEquals(1.0, StepReadout.clipScale(1e9, 0), 0);   // clipping off
    }

    @Test
    void clippedAdamEqualsAdamOnThePreScaledGradient() {
        double[] g = {3, -4};   // norm 5, clipped to 1: scale 0.2
        Parameter a = new Parameter("a", cpu.fromDoubles(DType.F64, new double[]{1, 1}, 2), cpu.fromDoubles(DType.F64, g, 2), true);
        Parameter b = new Parameter("b", cpu.fromDoubles(DType.F64, new double[]{1, 1}, 2),
                cpu.fromDoubles(DType.F64, new double[]{0.6, -0.8}, 2), true);
        try (StepReadout r = new StepReadout(List.of(a));
             Adam adamA = new Adam(List.of(a), Adam.Settings.of(Adam.Kind.ADAM, 0.1));
             Adam adamB = new Adam(List.of(b), Adam.Settings.of(Adam.Kind.ADAM, 0.1))) {
            StepReadout.Reading x = r.read(cpu.zeros(DType.F64, 1));
            adamA.step(0.05, StepReadout.clipScale(x.gradNorm(), 1.0));
            adamB.step(0.05, 1.0);
            assertArrayEquals(b.value().toDoubles(), a.value().toDoubles(), 1e-15);
        }
    }

    @Test
    void nonFiniteGradientIsReportedByName() {
        List<Parameter> ps = List.of(param("fine", 1, 2), param("broken", 1, Double.NaN), param("inf", Double.POSITIVE_INFINITY));
        try (StepReadout r = new StepReadout(ps)) {
            StepReadout.Reading x = r.read(cpu.fromDoubles(DType.F32, new double[]{1}, 1));
            assertFalse(x.finite());
            assertEquals("broken", x.firstNonFinite());
        }
        try (StepReadout r = new StepReadout(List.of(param("ok", 1)))) {
            assertFalse(r.read(cpu.fromDoubles(DType.F32, new double[]{Double.NaN}, 1)).finite());
        }
    }
}
