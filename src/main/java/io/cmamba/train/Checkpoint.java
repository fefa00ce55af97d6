package io.cmamba.train;

import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import io.cmamba.files.SafeTensors;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.nn.Parameter;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A training checkpoint in one safetensors file. Tensors: every parameter under its own name and,
 * when the optimizer is saved, its moments under {@code optimizer.m.NAME} and {@code optimizer.v.NAME}.
 * The {@code __metadata__} strings: {@code format}, {@code config} (the {@link ModelConfig} as JSON),
 * {@code options} ({@link TrainOptions}), {@code trainer} ({@link TrainerState}) and {@code optimizer}
 * (kind and update count). The file is written atomically, so a crash leaves the previous one whole.
 */
public final class Checkpoint {
    public static final String FORMAT = "cmamba-checkpoint-1";
    static final String M_PREFIX = "optimizer.m.", V_PREFIX = "optimizer.v.";

    private final Path path;
    private final SafeTensors file;
    private final ModelConfig config;
    private final TrainOptions options;
    private final TrainerState state;
    private final long optimizerSteps;
    private final boolean hasOptimizer;

    private Checkpoint(Path path, SafeTensors file, ModelConfig config, TrainOptions options, TrainerState state,
                       long optimizerSteps, boolean hasOptimizer) {
        this.path = path;
        this.file = file;
        this.config = config;
        this.options = options;
        this.state = state;
        this.optimizerSteps = optimizerSteps;
        this.hasOptimizer = hasOptimizer;
    }

    public Path path() {
        return path;
    }

    public ModelConfig config() {
        return config;
    }

    public TrainOptions options() {
        return options;
    }

    public TrainerState state() {
        return state;
    }

    public boolean hasOptimizer() {
        return hasOptimizer;
    }

    /** Writes the model's weights, its config, the options, the state and (when not null) the optimizer. */
    public static void write(Path path, FusionModel model, Adam optimizer, TrainerState state, TrainOptions options)
            throws IOException {
        SafeTensors st = new SafeTensors();
        List<Parameter> ps = model.parameters();
        for (int i = 0; i < ps.size(); i++) {
            Parameter p = ps.get(i);
            if (p.name().startsWith("optimizer.")) throw new IllegalStateException("parameter name " + p.name() + " clashes with the optimizer's keys");
            put(st, p.name(), p.value());
            if (optimizer != null) {
                if (optimizer.parameters().get(i) != p)
                    throw new IllegalStateException("the optimizer does not hold the model's parameter " + p.name() + " at position " + i);
                put(st, M_PREFIX + p.name(), optimizer.firstMoment(i));
                put(st, V_PREFIX + p.name(), optimizer.secondMoment(i));
            }
        }
        Map<String, String> meta = st.metadata();
        meta.put("format", FORMAT);
        meta.put("config", Json.STATE.toJson(model.config()));
        meta.put("options", Json.STATE.toJson(options));
        meta.put("trainer", Json.STATE.toJson(state));
        JsonObject opt = new JsonObject();
        opt.addProperty("saved", optimizer != null);
        if (optimizer != null) {
            opt.addProperty("kind", optimizer.settings().kind().name());
            opt.addProperty("steps", optimizer.steps());
        }
        meta.put("optimizer", opt.toString());
        st.write(path);
    }

    private static void put(SafeTensors st, String name, Tensor t) {
        String dtype = switch (t.dtype()) {
            case F32 -> "F32";
            case F64 -> "F64";
            case I32 -> "I32";
        };
        st.put(name, dtype, t.shape().dims(), t.toDoubles());
    }

    /** Reads and checks a checkpoint; a corrupt or foreign file gives an IOException naming the file and the fault. */
    public static Checkpoint read(Path path) throws IOException {
        SafeTensors st = SafeTensors.read(path);
        Map<String, String> meta = st.metadata();
        String format = meta.get("format");
        if (!FORMAT.equals(format))
            throw new IOException(path + ": not a cmamba checkpoint (format " + (format == null ? "missing" : "'" + format + "'")
                    + ", expected '" + FORMAT + "')");
        ModelConfig config = parse(path, meta, "config", ModelConfig.class);
        TrainOptions options = parse(path, meta, "options", TrainOptions.class);
        TrainerState state = parse(path, meta, "trainer", TrainerState.class);
        if (state.history == null) state.history = new java.util.ArrayList<>();
        JsonObject opt;
        long steps = 0;
        boolean saved;
        try {
            opt = JsonParser.parseString(required(path, meta, "optimizer")).getAsJsonObject();
            saved = opt.get("saved").getAsBoolean();
            if (saved) steps = opt.get("steps").getAsLong();
        } catch (RuntimeException e) {
            throw new IOException(path + ": metadata 'optimizer' is not valid (" + e.getMessage() + ")", e);
        }
        if (steps < 0) throw new IOException(path + ": optimizer step count " + steps + " is negative");
        return new Checkpoint(path, st, config, options, state, steps, saved);
    }

    private static String required(Path path, Map<String, String> meta, String key) throws IOException {
        String s = meta.get(key);
        if (s == null) throw new IOException(path + ": metadata '" + key + "' is missing");
        return s;
    }

    private static <T> T parse(Path path, Map<String, String> meta, String key, Class<T> type) throws IOException {
        String s = required(path, meta, key);
        try {
            T t = Json.STATE.fromJson(s, type);
            if (t == null) throw new JsonParseException("empty");
            return t;
        } catch (RuntimeException e) {
            Throwable root = e;
            while (root.getCause() != null && root.getCause() != root) root = root.getCause();
            throw new IOException(path + ": metadata '" + key + "' is not a valid " + type.getSimpleName() + " ("
                    + root.getMessage() + ")", e);
        }
    }

    /**
     * Copies the weights into the model. The model must have this checkpoint's config, and the file
     * must hold every parameter with the model's shape and nothing else besides optimizer moments.
     */
    public void loadModel(FusionModel model) {
        double[][] w = weightsFor(model);
        List<Parameter> ps = model.parameters();
        for (int i = 0; i < w.length; i++) upload(ps.get(i).value(), w[i], ps.get(i).value().shape().dims());
    }

    /** The weights for the model's parameters, in its order, after the checks of {@link #loadModel}. */
    public double[][] weightsFor(FusionModel model) {
        if (!model.config().equals(config))
            throw new IllegalArgumentException(path + ": written for " + config + ", but the model is " + model.config());
        Set<String> expected = new HashSet<>();
        for (Parameter p : model.parameters()) {
            expected.add(p.name());
            if (!file.has(p.name()))
                throw new IllegalArgumentException(path + ": tensor '" + p.name() + "' of the model is missing");
            checkShape(p.name(), p.value());
        }
        for (String name : file.entries().keySet()) {
            if (name.startsWith(M_PREFIX) || name.startsWith(V_PREFIX)) continue;
            if (!expected.contains(name))
                throw new IllegalArgumentException(path + ": tensor '" + name + "' is not a parameter of the model");
        }
        List<Parameter> ps = model.parameters();
        double[][] w = new double[ps.size()][];
        for (int i = 0; i < w.length; i++) w[i] = file.get(ps.get(i).name()).values();
        return w;
    }

    /** Copies the moments and the update count into the optimizer (built over the same model's parameters). */
    public void loadOptimizer(Adam optimizer) {
        if (!hasOptimizer) throw new IllegalArgumentException(path + ": holds no optimizer state (a best-weights file?); resume from last.safetensors");
        List<Parameter> ps = optimizer.parameters();
        for (int i = 0; i < ps.size(); i++) {
            String name = ps.get(i).name();
            for (String key : new String[]{M_PREFIX + name, V_PREFIX + name}) {
                if (!file.has(key)) throw new IllegalArgumentException(path + ": optimizer tensor '" + key + "' is missing");
                checkShape(key, ps.get(i).value());
            }
        }
        for (int i = 0; i < ps.size(); i++) {
            SafeTensors.Entry m = file.get(M_PREFIX + ps.get(i).name()), v = file.get(V_PREFIX + ps.get(i).name());
            upload(optimizer.firstMoment(i), m.values(), m.shape());
            upload(optimizer.secondMoment(i), v.values(), v.shape());
        }
        optimizer.restoreSteps(optimizerSteps);
    }

    private void checkShape(String name, Tensor like) {
        SafeTensors.Entry e = file.get(name);
        if (!Arrays.equals(e.shape(), like.shape().dims()))
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has shape " + Arrays.toString(e.shape())
                    + ", the model expects " + like.shape());
        if (e.dtype().equals("I32") != (like.dtype() == DType.I32))
            throw new IllegalArgumentException(path + ": tensor '" + name + "' has dtype " + e.dtype() + ", the model stores " + like.dtype());
        int bad = 0;
        for (double v : e.values()) if (!Double.isFinite(v)) bad++;
        if (bad > 0) throw new IllegalArgumentException(path + ": tensor '" + name + "' holds " + bad + " NaN or infinite values");
    }

    private static void upload(Tensor target, double[] values, int[] shape) {
        try (Tensor t = target.backend().fromDoubles(target.dtype(), values, shape)) {
            target.backend().copy(target, t);
        }
    }
}
