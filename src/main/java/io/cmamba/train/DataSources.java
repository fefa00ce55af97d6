package io.cmamba.train;

import io.cmamba.data.Dataset;
import io.cmamba.data.FeatureDirectoryLoader;
import io.cmamba.data.Split;
import io.cmamba.data.SyntheticDataset;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** The dataset a run's options name: the built-in one or a feature directory, cut to the chosen modalities. */
public final class DataSources {
    public static final String BUILTIN = "builtin";

    private DataSources() {
    }

    public static Dataset open(TrainOptions o) throws IOException {
        Dataset d;
        if (o.data().equals(BUILTIN)) {
            int held = Math.max(1, o.datasetSize() / 5);
            d = SyntheticDataset.create(o.dataSeed(), o.datasetSize(), held, held, o.classes());
        } else {
            Path dir = Path.of(o.data());
            if (!Files.isDirectory(dir)) throw new IOException("--data " + o.data() + ": no such directory (expected 'builtin' or a feature directory)");
            d = FeatureDirectoryLoader.load(dir);
        }
        return o.modalities() == null ? d : select(d, o.modalities());
    }

    /** The dataset with only the given modalities, in that order (unimodal baselines, ablations). */
    public static Dataset select(Dataset d, int[] keep) {
        String[] names = new String[keep.length];
        for (int i = 0; i < keep.length; i++) {
            if (keep[i] < 0 || keep[i] >= d.modalities())
                throw new IllegalArgumentException("modality " + keep[i] + " does not exist: " + d.name() + " has "
                        + d.modalities() + " modalities " + Arrays.toString(d.modalityNames()) + " (indices 0 to " + (d.modalities() - 1) + ")");
            names[i] = d.modalityNames()[keep[i]];
        }
        Split tr = d.train().selectModalities(keep), va = d.valid().selectModalities(keep), te = d.test().selectModalities(keep);
        return new Dataset(d.name(), names, tr, va, te, d.classes(), d.labelRange());
    }
}
