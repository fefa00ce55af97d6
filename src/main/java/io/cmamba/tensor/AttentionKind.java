package io.cmamba.tensor;

/** How attention is computed: the score matrix stored, or never materialised (online softmax). */
public enum AttentionKind {
    /** Scores and probabilities [B, H, Lq, Lk] are written to memory and kept for the backward. */
    PLAIN,
    /** Flash-style: online softmax over key tiles; only the row log-sum-exp [B, H, Lq] is kept. */
    FLASH
}
