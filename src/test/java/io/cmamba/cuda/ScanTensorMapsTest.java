package io.cmamba.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

/** What the forward's tensor maps describe, and where the TMA unit cannot take a tensor (no device needed). */
class ScanTensorMapsTest {
    @Test
    void anInputIsFourDimensionalInnermostFirstWithByteStrides() {
        // u of the paper's setting: [3, 1024, 50, 256], boxes of 8 steps x 16 channels
        ScanTensorMaps.Spec s = ScanTensorMaps.spec(1L << 20, 3, 1024, 50, 256, 16, 8);
        assertNotNull(s);
        assertArrayEquals(new long[] {256, 50, 1024, 3}, s.dims());
        assertArrayEquals(new long[] {1024, 1024L * 50, 1024L * 50 * 1024}, s.strides());
        assertArrayEquals(new int[] {16, 8, 1, 1}, s.box());
        // B of the same setting: [3, 1024, 50, 64], boxes of 8 steps x all 64 states
        ScanTensorMaps.Spec b = ScanTensorMaps.spec(1L << 20, 3, 1024, 50, 64, 64, 8);
        assertArrayEquals(new long[] {256, 256L * 50, 256L * 50 * 1024}, b.strides());
    }

    @Test
    void misalignedOrOversizedTensorsAreLeftToTheCopies() {
        assertNull(ScanTensorMaps.spec((1L << 20) + 4, 3, 8, 50, 256, 16, 8), "address not a multiple of 16 bytes");
        assertNull(ScanTensorMaps.spec(1L << 20, 3, 8, 50, 70, 16, 8), "rows of 70 floats: strides not multiples of 16 bytes");
        assertNull(ScanTensorMaps.spec(1L << 20, 3, 8, 50, 256, 6, 8), "a box row of 24 bytes");
        assertNull(ScanTensorMaps.spec(1L << 20, 3, 8, 50, 512, 512, 8), "a box wider than 256");
        assertNull(ScanTensorMaps.spec(1L << 20, 3, 8, 0, 256, 16, 8), "an empty tensor");
    }
}
