package io.cmamba.tensor;

/** Element types. The CUDA backend stores F32 and I32 (4 bytes); the CPU backend also offers F64. */
public enum DType {
    F32(4), F64(8), I32(4);

    public final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }
}
