package io.cmamba.train;

import io.cmamba.data.Batch;

import java.util.SplittableRandom;

/** Modality dropout for training and missing modalities for evaluation. */
final class Augment {
    private Augment() {
    }

    static Batch dropModalities(Batch batch, double rate, SplittableRandom random) {
        throw new UnsupportedOperationException("modality dropout is not available in this build yet");
    }
}
