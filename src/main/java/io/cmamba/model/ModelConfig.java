package io.cmamba.model;

import java.util.Arrays;

/**
 * Everything that fixes a model's shape (MODEL.md, "The whole model"); stored beside the weights in
 * every checkpoint. Defaults are the paper's where it gives one.
 *
 * @param featureSizes F_m per modality (M = featureSizes.length)
 * @param inputLengths L_m per modality (the padded length of each modality's features)
 * @param length       common length L the modalities are pooled to
 * @param dModel       model width
 * @param expand       inner width D = expand * dModel
 * @param dState       N
 * @param dtRank       R (0 means ceil(N / 8))
 * @param convWidth    depthwise causal conv width
 * @param layers       number of coupled layers
 * @param mode         selective scan or time-invariant global convolution
 * @param fusion       coupled (the model) or one of the paper's Table 11 ablations
 * @param architecture coupled Mamba or the cross-attention baseline
 * @param heads        attention heads (cross-attention only)
 * @param norm         pre-norm kind
 * @param task         regression (1 output, L1) or classification (classes outputs, cross entropy)
 * @param classes      number of classes for classification
 * @param headHidden   width of the head's hidden layer (64)
 */
public record ModelConfig(int[] featureSizes, int[] inputLengths, int length, int dModel, int expand, int dState,
                          int dtRank, int convWidth, int layers, Mode mode, Fusion fusion, Architecture architecture,
                          int heads, Norm norm, Task task, int classes, int headHidden) {

    public enum Mode { SELECTIVE, LTI }

    public enum Fusion { COUPLED, INDEPENDENT, AVERAGE, CONCAT }

    public enum Architecture { COUPLED_MAMBA, CROSS_ATTENTION }

    public enum Norm { LAYER, RMS }

    public enum Task { REGRESSION, CLASSIFICATION }

    public ModelConfig {
        featureSizes = featureSizes.clone();
        inputLengths = inputLengths.clone();
        if (featureSizes.length < 1 || featureSizes.length > 8)
            throw new IllegalArgumentException("modalities: expected 1 to 8, got " + featureSizes.length);
        if (inputLengths.length != featureSizes.length)
            throw new IllegalArgumentException("inputLengths has " + inputLengths.length + " entries for " + featureSizes.length + " modalities");
        for (int i = 0; i < featureSizes.length; i++)
            if (featureSizes[i] < 1 || inputLengths[i] < 1)
                throw new IllegalArgumentException("modality " + i + ": feature size " + featureSizes[i] + " and length " + inputLengths[i] + " must be >= 1");
        positive("length", length);
        positive("dModel", dModel);
        positive("expand", expand);
        positive("dState", dState);
        positive("convWidth", convWidth);
        positive("layers", layers);
        positive("headHidden", headHidden);
        if (dtRank < 0) throw new IllegalArgumentException("dtRank must be >= 0 (0 = ceil(dState / 8)), got " + dtRank);
        if (dtRank == 0) dtRank = (dState + 7) / 8;
        if (architecture == Architecture.CROSS_ATTENTION && (heads < 1 || dModel % heads != 0))
            throw new IllegalArgumentException("dModel " + dModel + " must be a multiple of heads " + heads);
        if (architecture == Architecture.CROSS_ATTENTION && featureSizes.length < 2)
            throw new IllegalArgumentException("cross-attention fusion needs at least 2 modalities");
        if (task == Task.CLASSIFICATION && classes < 2)
            throw new IllegalArgumentException("classification needs classes >= 2, got " + classes);
    }

    private static void positive(String name, int v) {
        if (v < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + v);
    }

    public int modalities() {
        return featureSizes.length;
    }

    /** D = expand * dModel. */
    public int inner() {
        return expand * dModel;
    }

    public int outputs() {
        return task == Task.REGRESSION ? 1 : classes;
    }

    /** The paper's setting (d_model 128, expand 2, N 64, R 8, conv 4, 3 layers) for the given modalities. */
    public static ModelConfig paper(int[] featureSizes, int[] inputLengths, int length, Task task, int classes) {
        return new ModelConfig(featureSizes, inputLengths, length, 128, 2, 64, 0, 4, 3, Mode.SELECTIVE,
                Fusion.COUPLED, Architecture.COUPLED_MAMBA, 8, Norm.LAYER, task, classes, 64);
    }

    public ModelConfig withFusion(Fusion f) {
        return new ModelConfig(featureSizes, inputLengths, length, dModel, expand, dState, dtRank, convWidth, layers,
                mode, f, architecture, heads, norm, task, classes, headHidden);
    }

    public ModelConfig withMode(Mode m) {
        return new ModelConfig(featureSizes, inputLengths, length, dModel, expand, dState, dtRank, convWidth, layers,
                m, fusion, architecture, heads, norm, task, classes, headHidden);
    }

    public ModelConfig withArchitecture(Architecture a) {
        return new ModelConfig(featureSizes, inputLengths, length, dModel, expand, dState, dtRank, convWidth, layers,
                mode, fusion, a, heads, norm, task, classes, headHidden);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelConfig c && Arrays.equals(featureSizes, c.featureSizes)
                && Arrays.equals(inputLengths, c.inputLengths) && length == c.length && dModel == c.dModel
                && expand == c.expand && dState == c.dState && dtRank == c.dtRank && convWidth == c.convWidth
                && layers == c.layers && mode == c.mode && fusion == c.fusion && architecture == c.architecture
                && heads == c.heads && norm == c.norm && task == c.task && classes == c.classes
                && headHidden == c.headHidden;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(featureSizes) * 31 + Arrays.hashCode(inputLengths) * 17 + length * 7 + dModel;
    }

    @Override
    public String toString() {
        return "ModelConfig[modalities " + Arrays.toString(featureSizes) + " x lengths " + Arrays.toString(inputLengths)
                + ", L " + length + ", d_model " + dModel + ", expand " + expand + ", N " + dState + ", R " + dtRank
                + ", conv " + convWidth + ", layers " + layers + ", " + mode + ", " + fusion + ", " + architecture
                + (architecture == Architecture.CROSS_ATTENTION ? ", heads " + heads : "") + ", " + norm + ", " + task
                + (task == Task.CLASSIFICATION ? " (" + classes + " classes)" : "") + ", head " + headHidden + "]";
    }
}
