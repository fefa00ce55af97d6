package io.cmamba.cuda;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.bytedeco.cuda.cudart.CUtensorMap;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;

/**
 * Tensor maps of the coupled scan forward's inputs, for its tensor-map staging
 * ({@code kernels/coupled_scan_fwd.cu}). Each input, an [M, B, L, rowLen] float32 tensor, is described
 * to the TMA unit as the 4-d tensor (rowLen, L, B, M), innermost first, whose box is {@code boxRows}
 * time steps of {@code boxCols} consecutive columns; what lies past the tensor's edges comes back as 0.
 * The five maps (delta_pre, u, z, B, C; {@value #MAP_BYTES} bytes each) travel by value as the kernel's
 * second parameter (CsTensorMaps), so that a launch needs no device buffer and no copy before it.
 */
final class ScanTensorMaps {
    static final int MAP_BYTES = 128;
    /** Bytes of the kernel's CsTensorMaps parameter: delta_pre, u, z, B, C. */
    static final int PARAM_BYTES = 5 * MAP_BYTES;
    /** The parameter of a launch that stages by cp.async (the kernel reads none of it). */
    static final byte[] NONE = new byte[PARAM_BYTES];

    /**
     * Encoded maps by what they describe. A map depends only on its tensor's address, sizes and box, so
     * an entry stays right whatever memory is freed and reused; the caching allocator hands a training
     * loop the same addresses step after step, so each launch finds its maps here.
     */
    private static final Map<Spec, byte[]> ENCODED = new LinkedHashMap<>(64, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Spec, byte[]> eldest) {
            return size() > 256;
        }
    };

    private ScanTensorMaps() {}

    /**
     * An [m, batch, length, rowLen] float32 tensor at {@code address} with boxes of {@code boxRows} time
     * steps x {@code boxCols} columns.
     */
    record Spec(long address, int m, int batch, int length, int rowLen, int boxCols, int boxRows) {
        /** Sizes, innermost first. */
        long[] dims() {
            return new long[] {rowLen, length, batch, m};
        }

        /** Strides in bytes of the dimensions past the first. */
        long[] strides() {
            long row = 4L * rowLen;
            return new long[] {row, row * length, row * length * batch};
        }

        int[] box() {
            return new int[] {boxCols, boxRows, 1, 1};
        }
    }

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
        return new Spec(address, m, batch, length, rowLen, boxCols, boxRows);
    }

    /** The kernel's CsTensorMaps parameter: the maps of {@code specs} (named for errors) one after another. */
    static byte[] parameter(Spec[] specs, String[] names) {
        if (specs.length * MAP_BYTES != PARAM_BYTES)
            throw new IllegalArgumentException(specs.length + " tensor maps given, the kernel takes " + PARAM_BYTES / MAP_BYTES);
        byte[] out = new byte[PARAM_BYTES];
        for (int i = 0; i < specs.length; i++) System.arraycopy(encoded(specs[i], names[i]), 0, out, i * MAP_BYTES, MAP_BYTES);
        return out;
    }

    private static byte[] encoded(Spec spec, String name) {
        synchronized (ENCODED) {
            byte[] map = ENCODED.get(spec);
            if (map == null) {
                map = encode(spec, name);
                ENCODED.put(spec, map);
            }
            return map;
        }
    }

    /** The {@value #MAP_BYTES} bytes of the map of {@code spec}. */
    static byte[] encode(Spec spec, String name) {
        // CUtensorMap must be 64-byte aligned: placed by hand inside a larger host block
        try (BytePointer block = new BytePointer(MAP_BYTES + 64)) {
            long aligned = (block.address() + 63) & ~63L;
            CUtensorMap map = new CUtensorMap(new CudaGemm.RawPointer(aligned));
            int r = cudart.cuTensorMapEncodeTiled(map, cudart.CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 4,
                    new CudaGemm.RawPointer(spec.address()), spec.dims(), spec.strides(), spec.box(), new int[] {1, 1, 1, 1},
                    cudart.CU_TENSOR_MAP_INTERLEAVE_NONE, cudart.CU_TENSOR_MAP_SWIZZLE_NONE,
                    cudart.CU_TENSOR_MAP_L2_PROMOTION_L2_128B, cudart.CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
            Cuda.check(r, "cuTensorMapEncodeTiled", "describing " + name + " (sizes " + Arrays.toString(spec.dims())
                    + ", box " + Arrays.toString(spec.box()) + ") for the coupled scan's staging");
            byte[] out = new byte[MAP_BYTES];
            for (int i = 0; i < MAP_BYTES / 8; i++) {
                long w = map.opaque(i);
                for (int j = 0; j < 8; j++) out[i * 8 + j] = (byte) (w >>> (8 * j));
            }
            return out;
        }
    }
}
