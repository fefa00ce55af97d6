package io.cmamba.tensor;

/** Pointwise functions with a backend kernel each; backward recomputes from the input x. */
public enum Activation {
    /** x * sigmoid(x) */
    SILU,
    /** log(1 + exp(x)), computed stably (x for x > 20) */
    SOFTPLUS,
    /** max(x, 0) */
    RELU,
    /** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    GELU,
    /** 1 / (1 + exp(-x)) */
    SIGMOID,
    /** -exp(x): A = -exp(A_log) */
    NEG_EXP
}
