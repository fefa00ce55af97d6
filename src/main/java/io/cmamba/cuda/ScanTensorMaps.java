package io.cmamba.cuda;

import org.bytedeco.cuda.cudart.CUtensorMap;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;

/**
 * Tensor maps of the coupled scan forward's inputs, for its tensor-map staging
 * ({@code kernels/coupled_scan_fwd.cu}). Each input, an [M, B, L, rowLen] float32 tensor, is described
 * to the TMA unit as the 4-d tensor (rowLen, L, B, M), innermost first, whose box is {@code boxRows}
 * time steps of {@code boxCols} consecutive columns; what lies past the tensor's edges comes back as 0.
 * The kernel reads the five maps (delta_pre, u, z, B, C; {@value #MAP_BYTES} bytes each) from device
 * memory.
 */
final class ScanTensorMaps {
    static final int MAP_BYTES = 128;

    private ScanTensorMaps() {}

    /** What cuTensorMapEncodeTiled is given for one tensor: sizes and box innermost first, strides in bytes. */
    record Spec(long[] dims, long[] strides, int[] box) {}

    /**
     * The description of an [m, batch, length, rowLen] float32 tensor at {@code address} with boxes of
     * {@code boxRows} x {@code boxCols}, or null where the TMA unit cannot take it (the kernel then stages
     * with cp.async): the address and every row stride must be multiples of 16 bytes, a box row too, and
     * a box at most 256 elements a side.
     */
    static Spec spec(long address, int m, int batch, int length, int rowLen, int boxCols, int boxRows) {
        if (address % 16 != 0 || rowLen % 4 != 0 || boxCols % 4 != 0 || boxCols <= 0 || boxCols > 256 || boxRows <= 0
                || boxRows > 256 || m <= 0 || batch <= 0 || length <= 0)
            return null;
        long row = 4L * rowLen;
        return new Spec(new long[] {rowLen, length, batch, m}, new long[] {row, row * length, row * length * batch},
                new int[] {boxCols, boxRows, 1, 1});
    }

    /** The {@value #MAP_BYTES} bytes of the map of {@code spec} over the device tensor at {@code address}. */
    static byte[] encode(Spec spec, long address, String name) {
        // CUtensorMap must be 64-byte aligned: placed by hand inside a larger host block
        try (BytePointer block = new BytePointer(MAP_BYTES + 64)) {
            long aligned = (block.address() + 63) & ~63L;
            CUtensorMap map = new CUtensorMap(new CudaGemm.RawPointer(aligned));
            int r = cudart.cuTensorMapEncodeTiled(map, cudart.CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4,
                    new CudaGemm.RawPointer(address), spec.dims(), spec.strides(), spec.box(), new int[] {1, 1, 1, 1},
                    cudart.CU_TENSOR_MAP_INTERLEAVE_NONE, cudart.CU_TENSOR_MAP_SWIZZLE_NONE,
                    cudart.CU_TENSOR_MAP_L2_PROMOTION_L2_128B, cudart.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
            Cuda.check(r, "cuTensorMapEncodeTiled", "describing " + name + " (sizes " + java.util.Arrays.toString(spec.dims())
                    + ", box " + java.util.Arrays.toString(spec.box()) + ") for the coupled scan's staging");
            byte[] out = new byte[MAP_BYTES];
            for (int i = 0; i < MAP_BYTES / 8; i++) {
                long w = map.opaque(i);
                for (int j = 0; j < 8; j++) out[i * 8 + j] = (byte) (w >>> (8 * j));
            }
            return out;
        }
    }
}
