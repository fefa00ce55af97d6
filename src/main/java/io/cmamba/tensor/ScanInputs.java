package io.cmamba.tensor;

/**
 * Inputs of the coupled selective scan (MODEL.md, "One coupled layer"), all M modalities at once.
 *
 * @param u            [M, B, L, D] input after conv and SiLU
 * @param deltaPre     [M, B, L, D] delta before softplus (dt_proj output, bias included)
 * @param z            [M, B, L, D] gate input; o = y * silu(z)
 * @param A            [M, D, N] the (negative) state matrix, A = -exp(A_log)
 * @param B            [M, B, L, N] input matrix
 * @param C            [M, B, L, N] output matrix
 * @param Dskip        [M, D] skip
 * @param lengths      [B] int32 true lengths, or null for all L; past a sample's end the state is
 *                     frozen, the output is 0 and no gradient flows
 * @param initialState [B, D, N] s_{-1}, or null for zeros
 */
public record ScanInputs(Tensor u, Tensor deltaPre, Tensor z, Tensor A, Tensor B, Tensor C, Tensor Dskip,
                         Tensor lengths, Tensor initialState) {

    public int modalities() {
        return u.shape().dim(0);
    }

    public int batch() {
        return u.shape().dim(1);
    }

    public int length() {
        return u.shape().dim(2);
    }

    public int channels() {
        return u.shape().dim(3);
    }

    public int states() {
        return A.shape().dim(2);
    }

    /** Throws with the expected and the actual shape of the first argument that does not fit. */
    public ScanInputs {
        if (u.rank() != 4) throw new IllegalArgumentException("expected u [M, B, L, D], got " + u.shape());
        int m = u.shape().dim(0), b = u.shape().dim(1), l = u.shape().dim(2), d = u.shape().dim(3);
        if (A.rank() != 3) throw new IllegalArgumentException("expected A [M, D, N], got " + A.shape());
        int n = A.shape().dim(2);
        Tensors.requireShape("deltaPre", deltaPre, m, b, l, d);
        Tensors.requireShape("z", z, m, b, l, d);
        Tensors.requireShape("A", A, m, d, n);
        Tensors.requireShape("B", B, m, b, l, n);
        Tensors.requireShape("C", C, m, b, l, n);
        Tensors.requireShape("Dskip", Dskip, m, d);
        if (lengths != null) {
            Tensors.requireShape("lengths", lengths, b);
            if (lengths.dtype() != DType.I32) throw new IllegalArgumentException("lengths must be int32, got " + lengths.dtype());
        }
        if (initialState != null) Tensors.requireShape("initialState", initialState, b, d, n);
    }
}
