package io.cmamba.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where a run stands after its last completed epoch; stored in checkpoints so that a resumed run
 * continues exactly. Shuffling is seeded by (seed, epoch) and modality dropout by (seed, update), so
 * the epoch and the update count are the whole random-number position.
 */
public final class TrainerState {
    /** Epochs completed. */
    public int epoch;
    /** Optimizer updates taken. */
    public long step;
    /** Best validation value of the selection metric so far, and its epoch (0: none yet). */
    public double bestValue = Double.NaN;
    public int bestEpoch;
    /** Epochs since the last improvement. */
    public int sinceBest;
    /** Why the run ended, null while it may go on ("early stop", "finished"). */
    public String stopped;
    /** Seconds spent in completed epochs (training and validation). */
    public double seconds;
    /** One entry per completed epoch. */
    public List<EpochRecord> history = new ArrayList<>();

    /** Mean training loss and its per-update values, validation scores, learning rate at the end, time. */
    public record EpochRecord(int epoch, double trainLoss, float[] stepLosses, Map<String, Double> valid,
                              double lr, double seconds) {
        public EpochRecord {
            valid = new LinkedHashMap<>(valid);
        }
    }
}
