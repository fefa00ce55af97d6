package io.cmamba.cli;

import io.cmamba.model.ModelConfig;
import io.cmamba.train.Adam;
import io.cmamba.train.LrSchedule;

import java.util.Locale;
import java.util.Map;

/** The command line's spellings of the enumerated options, with an error listing the accepted ones. */
final class Choices {
    private Choices() {
    }

    static <T> T pick(String option, String value, Map<String, T> accepted) {
        T t = accepted.get(value.toLowerCase(Locale.ROOT));
        if (t == null)
            throw new Main.UsageException(option + ": expected " + String.join(", ", new java.util.TreeSet<>(accepted.keySet()))
                    + "; got '" + value + "'");
        return t;
    }

    static Adam.Kind optimizer(String v) {
        return pick("--optimizer", v, Map.of("adam", Adam.Kind.ADAM, "adamw", Adam.Kind.ADAMW));
    }

    static LrSchedule.Kind schedule(String v) {
        return pick("--schedule", v, Map.of("cosine", LrSchedule.Kind.COSINE, "constant", LrSchedule.Kind.CONSTANT));
    }

    static ModelConfig.Architecture architecture(String v) {
        return pick("--arch", v, Map.of("coupled-mamba", ModelConfig.Architecture.COUPLED_MAMBA,
                "cross-attention", ModelConfig.Architecture.CROSS_ATTENTION));
    }

    static ModelConfig.Fusion fusion(String v) {
        return pick("--fusion", v, Map.of("coupled", ModelConfig.Fusion.COUPLED, "independent", ModelConfig.Fusion.INDEPENDENT,
                "average", ModelConfig.Fusion.AVERAGE, "concat", ModelConfig.Fusion.CONCAT));
    }

    static ModelConfig.Mode mode(String v) {
        return pick("--mode", v, Map.of("selective", ModelConfig.Mode.SELECTIVE, "lti", ModelConfig.Mode.LTI));
    }

    static ModelConfig.Norm norm(String v) {
        return pick("--norm", v, Map.of("layer", ModelConfig.Norm.LAYER, "rms", ModelConfig.Norm.RMS));
    }

    static ModelConfig.Task task(String v) {
        return pick("--task", v, Map.of("regression", ModelConfig.Task.REGRESSION, "classification", ModelConfig.Task.CLASSIFICATION));
    }
}
