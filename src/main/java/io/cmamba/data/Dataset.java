package io.cmamba.data;

/**
 * A multimodal dataset: three splits with the same modalities. {@code classes} is the number of
 * classes of the classification labels (0 when the dataset has regression labels only);
 * {@code labelRange} is 3 for [-3, 3] sentiment (CMU-MOSI/MOSEI) and 1 for [-1, 1] (CH-SIMS).
 */
public record Dataset(String name, String[] modalityNames, Split train, Split valid, Split test, int classes,
                      double labelRange) {
    public Dataset {
        if (modalityNames.length != train.modalities())
            throw new IllegalArgumentException(name + ": " + modalityNames.length + " modality names for " + train.modalities() + " modalities");
        for (Split s : new Split[]{valid, test})
            if (!java.util.Arrays.equals(s.featureSizes(), train.featureSizes()) || !java.util.Arrays.equals(s.maxLengths(), train.maxLengths()))
                throw new IllegalArgumentException(name + ": split " + s.name() + " has other modalities than train (" + s + " vs " + train + ")");
    }

    public int modalities() {
        return train.modalities();
    }
}
