package io.cmamba.bench;

import io.cmamba.cuda.CachingAllocator;
import io.cmamba.cuda.CudaBackend;
import io.cmamba.cuda.DeviceOutOfMemoryException;
import io.cmamba.cuda.CudaEvent;
import io.cmamba.cuda.KernelProfile;
import io.cmamba.cuda.KernelProfiler;
import io.cmamba.model.CrossAttentionModel;
import io.cmamba.model.FusionModel;
import io.cmamba.model.ModelConfig;
import io.cmamba.model.ModelInput;
import io.cmamba.model.Models;
import io.cmamba.tensor.AttentionKind;
import io.cmamba.tensor.Backend;
import io.cmamba.tensor.DType;
import io.cmamba.tensor.Tensor;
import io.cmamba.train.Adam;

import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The paper's Figures 3 and 4 on this machine: peak device memory and speed against sequence length
 * for Coupled Mamba and cross-attention fusion (materialised scores, and flash), at equal width,
 * layers and head. Per length: the median of the repeats (after a warm-up) of one inference pass
 * ({@link FusionModel#predict}: activations freed layer by layer, as PyTorch under no_grad) and
 * of one training step (forward, L1 loss against a random target, backward; no optimizer), each timed
 * by CUDA events on the backend's stream (the host clock around a synchronised region on the CPU), and
 * the allocator's peak bytes during the timed runs (GPU only). A size that runs out of memory is
 * recorded as such. {@link #throughput} times whole training steps with Adam. The tables, plots and
 * conclusions are {@link FusionReport}'s.
 *
 * <p>The peak is {@link CachingAllocator.Stats#peakInUseBytes} after {@link CachingAllocator#resetPeak}
 * at the start of the timed runs: every live buffer in whole size-class blocks (parameters and their
 * gradient buffers, which the models hold from creation, inputs, activations, saved tensors), not the
 * cached free blocks, the CUDA context or cuBLAS's own workspace.
 */
public final class FusionBenchmark {
    public record Settings(int[] lengths, int batch, int dModel, int layers, int heads, int dState, int repeats) {
        @Override
        public String toString() {
            return "lengths " + Arrays.toString(lengths) + ", batch " + batch + ", d_model " + dModel + ", layers " + layers
                    + ", heads " + heads + ", d_state " + dState + ", " + repeats + " timed runs per size";
        }
    }

    /**
     * One model at one length; NaN where not measured, oom set when memory ran out. The peaks are the
     * allocator's (bytes held by live tensors); the driver figures are the device memory in use as the
     * driver reports it after the timed runs (the CUDA context, library workspaces and every block the
     * allocator holds, cached ones included; other processes too).
     */
    public record Row(String model, int length, int batch, double inferMs, double trainMs, double inferPeakMiB,
                      double trainPeakMiB, boolean oom, String note, double inferDriverMiB, double trainDriverMiB) {
        /** A row without the driver's figures (a table written before they were measured). */
        public Row(String model, int length, int batch, double inferMs, double trainMs, double inferPeakMiB,
                   double trainPeakMiB, boolean oom, String note) {
            this(model, length, batch, inferMs, trainMs, inferPeakMiB, trainPeakMiB, oom, note, Double.NaN, Double.NaN);
        }
    }

    public static final String[] MODELS = {"coupled-mamba", "cross-attention-plain", "cross-attention-flash"};

    private FusionBenchmark() {
    }

    static ModelConfig config(Settings s, String model, int length) {
        int[] features = {32, 32, 32}, lengths = {length, length, length};
        ModelConfig c = new ModelConfig(features, lengths, length, s.dModel(), 2, s.dState(), 0, 4, s.layers(),
                ModelConfig.Mode.SELECTIVE, ModelConfig.Fusion.COUPLED, ModelConfig.Architecture.COUPLED_MAMBA, s.heads(),
                ModelConfig.Norm.LAYER, ModelConfig.Task.REGRESSION, 0, 64);
        return model.equals("coupled-mamba") ? c : c.withArchitecture(ModelConfig.Architecture.CROSS_ATTENTION);
    }

    /** Where {@link #throughput} measures: a batch size and a sequence length. */
    public record Point(int batch, int length) {
        /** "1024x50" -> batch 1024, length 50. */
        public static Point parse(String s) {
            String[] p = s.strip().toLowerCase(Locale.ROOT).split("x", -1);
            try {
                if (p.length == 2) {
                    Point pt = new Point(Integer.parseInt(p[0]), Integer.parseInt(p[1]));
                    if (pt.batch() >= 1 && pt.length() >= 1) return pt;
                }
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw new IllegalArgumentException("--throughput: expected BATCHxLENGTH (e.g. 1024x50), got '" + s + "'");
        }
    }

    public static List<Row> run(Backend be, Settings s, PrintStream log) {
        return run(be, s, List.of(MODELS), log);
    }

    public static List<Row> run(Backend be, Settings s, List<String> models, PrintStream log) {
        return run(be, s, models, log, rows -> { });
    }

    /** As {@link #run(Backend, Settings, PrintStream)}; {@code afterEach} sees the rows so far after every row. */
    public static List<Row> run(Backend be, Settings s, List<String> models, PrintStream log,
                                java.util.function.Consumer<List<Row>> afterEach) {
        return run(be, s, models, log, afterEach, null);
    }

    /**
     * As above; on a GPU, when {@code kernels} is not null, each size is also run once more under the
     * kernel profiler (one inference pass, one training step, after the timed runs) and its kernels are
     * added to {@code kernels}.
     */
    public static List<Row> run(Backend be, Settings s, List<String> models, PrintStream log,
                                java.util.function.Consumer<List<Row>> afterEach, List<KernelReport.Row> kernels) {
        List<Row> rows = new ArrayList<>();
        // a throwaway round at the first length: the first measured size otherwise pays for compiling
        // kernels, cuBLAS's first calls and the GPU's clocks ramping up (the first H200 sweep's L 64
        // took 5.1 ms against 1.9 ms at L 128)
        if (s.lengths().length > 0)
            for (String model : models) measure(be, s, model, s.lengths()[0]);
        for (int length : s.lengths())
            for (String model : models) {
                Row r = measure(be, s, model, length, kernels, log);
                rows.add(r);
                log.printf(Locale.ROOT, "%-22s L %6d  infer %9.3f ms  train %9.3f ms  peak %9.1f / %9.1f MiB  driver %9.1f / %9.1f MiB%s%n",
                        model, length, r.inferMs(), r.trainMs(), r.inferPeakMiB(), r.trainPeakMiB(), r.inferDriverMiB(),
                        r.trainDriverMiB(), r.oom() ? "  (out of memory)" : "");
                afterEach.accept(List.copyOf(rows));
            }
        return rows;
    }

    static Row measure(Backend be, Settings s, String model, int length) {
        return measure(be, s, model, length, null, null);
    }

    private static Row measure(Backend be, Settings s, String model, int length, List<KernelReport.Row> kernels, PrintStream log) {
        // the driver's figure counts cached blocks: start each size from none, as the PyTorch peer does
        if (be instanceof CudaBackend gpu) gpu.allocator().trim();
        try (Fixture f = Fixture.open(be, config(s, model, length), model, s.batch())) {
            double[] infer = time(be, 1, s.repeats(), f::infer);
            double[] train = time(be, 1, s.repeats(), f::trainStep);
            if (kernels != null && be instanceof CudaBackend gpu) {
                // a separate run: the events around each launch must not enter the timings above
                profileInto(kernels, gpu, model, length, s.batch(), "inference", f::infer, log);
                profileInto(kernels, gpu, model, length, s.batch(), "training", f::trainStep, log);
            }
            return new Row(model, length, s.batch(), infer[0], train[0], infer[1], train[1], false, "", infer[2], train[2]);
        } catch (RuntimeException | OutOfMemoryError e) {
            if (!isOutOfMemory(e)) throw e;
            return new Row(model, length, s.batch(), Double.NaN, Double.NaN, Double.NaN, Double.NaN, true,
                    String.valueOf(e.getMessage()).lines().findFirst().orElse(""));
        }
    }

    /** Runs {@code body} once under the kernel profiler and adds its kernels to {@code kernels}. */
    private static void profileInto(List<KernelReport.Row> kernels, CudaBackend gpu, String model, int length, int batch, String pass,
                                    Runnable body, PrintStream log) {
        KernelProfile p;
        try (KernelProfiler prof = gpu.profile()) {
            body.run();
            p = prof.finish();
        }
        kernels.addAll(KernelReport.rows(model, length, batch, pass, p));
        if (log != null) log.println("    " + pass + " kernels: " + topKernels(p, 3));
    }

    /** "coupled_scan_fwd 41%, cublasSgemm 30%, ..." of the {@code n} longest kernels. */
    static String topKernels(KernelProfile p, int n) {
        double total = p.totalMillis();
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%.3f ms in %d launches;", total, p.launches()));
        List<KernelProfile.Entry> es = p.entries();
        for (int i = 0; i < Math.min(n, es.size()); i++)
            sb.append(String.format(Locale.ROOT, "%s %s %.0f%%", i == 0 ? "" : ",", es.get(i).kernel(), 100 * es.get(i).millis() / total));
        return sb.toString();
    }

    /** One model with its input, target and loss buffers at one size; closing frees them all. */
    private static final class Fixture implements AutoCloseable {
        final Backend be;
        final FusionModel model;
        final ModelInput in;
        final Tensor target, loss, dOut;

        private Fixture(Backend be, FusionModel model, ModelInput in, Tensor target, Tensor loss, Tensor dOut) {
            this.be = be;
            this.model = model;
            this.in = in;
            this.target = target;
            this.loss = loss;
            this.dOut = dOut;
        }

        /** Frees what was made so far when a later allocation fails (out of memory at a large size). */
        static Fixture open(Backend be, ModelConfig c, String name, int batch) {
            FusionModel m = null;
            ModelInput in = null;
            Tensor target = null, loss = null;
            try {
                m = create(be, c, name);
                in = input(be, c, batch);
                target = target(be, batch);
                loss = be.empty(DType.F32, 1);
                return new Fixture(be, m, in, target, loss, be.empty(DType.F32, batch));
            } catch (RuntimeException | OutOfMemoryError e) {
                FusionBenchmark.close(be, m, in, target, loss);
                throw e;
            }
        }

        void trainStep() {
            FusionBenchmark.trainStep(be, model, in, target, loss, dOut);
        }

        /** One inference pass, its output freed. */
        void infer() {
            model.predict(in).close();
        }

        @Override
        public void close() {
            FusionBenchmark.close(be, model, in, target, loss, dOut);
        }
    }

    /**
     * Whole training steps (forward, L1 loss, backward, Adam at lr 1e-4 without clipping) at each point:
     * two warm-up steps (the first after Adam's moments exist), then the median of {@code repeats}.
     */
    public static List<FusionReport.ThroughputRow> throughput(Backend be, Settings s, List<String> models, List<Point> points,
                                                              PrintStream log) {
        List<FusionReport.ThroughputRow> rows = new ArrayList<>();
        for (Point p : points)
            for (String model : models) {
                Settings at = new Settings(new int[]{p.length()}, p.batch(), s.dModel(), s.layers(), s.heads(), s.dState(), s.repeats());
                double ms;
                String note = "";
                try (Fixture f = Fixture.open(be, config(at, model, p.length()), model, p.batch());
                     Adam opt = new Adam(f.model.parameters(), Adam.Settings.of(Adam.Kind.ADAM, 0))) {
                    ms = time(be, 2, s.repeats(), () -> {
                        f.trainStep();
                        opt.step(1e-4, 1.0);
                    })[0];
                } catch (RuntimeException | OutOfMemoryError e) {
                    if (!isOutOfMemory(e)) throw e;
                    ms = Double.NaN;
                    note = "  (out of memory)";
                }
                FusionReport.ThroughputRow r = new FusionReport.ThroughputRow(model, p.length(), p.batch(), ms, p.batch() / (ms / 1e3));
                rows.add(r);
                log.printf(Locale.ROOT, "%-22s B %5d L %6d  step %9.3f ms  %10.1f samples/s%s%n", model, p.batch(), p.length(),
                        r.stepMs(), r.samplesPerS(), note);
            }
        return rows;
    }

    private static FusionModel create(Backend be, ModelConfig c, String model) {
        FusionModel m = Models.create(c, be, 1);
        if (m instanceof CrossAttentionModel ca)
            ca.attention(model.endsWith("plain") ? AttentionKind.PLAIN : AttentionKind.FLASH);
        return m;
    }

    /** Forward, L1 loss against {@code target} [B], backward: the Trainer's step without the readout and the update. */
    static void trainStep(Backend be, FusionModel m, ModelInput in, Tensor target, Tensor loss, Tensor dOut) {
        try (FusionModel.Forward f = m.forward(in)) {
            int n = target.shape().dims()[0];
            Tensor pred = f.output().reshape(n);
            be.l1LossForward(loss, pred, target);
            be.l1LossBackward(dOut, pred, target);
            m.backward(f, dOut.reshape(n, 1));
        }
    }

    private static Tensor target(Backend be, int batch) {
        Random r = new Random(6);
        float[] v = new float[batch];
        for (int i = 0; i < batch; i++) v[i] = (float) r.nextGaussian();
        return be.fromFloats(v, batch);
    }

    private static void close(Backend be, FusionModel m, ModelInput in, Tensor... tensors) {
        for (Tensor t : tensors) if (t != null) t.close();
        if (in != null) for (Tensor t : in.features()) t.close();
        if (in != null) for (Tensor t : in.lengths()) t.close();
        if (m != null) m.close();
        if (be instanceof CudaBackend g) g.allocator().trim();
    }

    static boolean isOutOfMemory(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof OutOfMemoryError || t instanceof DeviceOutOfMemoryException) return true;
            String msg = String.valueOf(t.getMessage()).toLowerCase(Locale.ROOT);
            if (msg.contains("out of memory") || msg.contains("out of device memory") || msg.contains("out of gpu memory")) return true;
        }
        return false;
    }

    static ModelInput input(Backend be, ModelConfig c, int batch) {
        Random r = new Random(5);
        Tensor[] f = new Tensor[c.modalities()], l = new Tensor[c.modalities()];
        for (int m = 0; m < c.modalities(); m++) {
            float[] v = new float[batch * c.inputLengths()[m] * c.featureSizes()[m]];
            for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
            f[m] = be.fromFloats(v, batch, c.inputLengths()[m], c.featureSizes()[m]);
            int[] lens = new int[batch];
            Arrays.fill(lens, c.inputLengths()[m]);
            l[m] = be.fromInts(lens, batch);
        }
        return new ModelInput(f, l);
    }

    /**
     * {median ms, peak MiB during the timed runs, the most device memory in use as the driver reports it
     * after a timed run (MiB)}; the memory figures NaN off the GPU. {@code warmups} runs first, then
     * {@code repeats} runs, each between two CUDA events on the backend's stream (host clock on the CPU).
     */
    static double[] time(Backend be, int warmups, int repeats, Runnable body) {
        for (int i = 0; i < warmups; i++) body.run();
        be.synchronize();
        CudaBackend gpu = be instanceof CudaBackend g ? g : null;
        // the peak counts everything in use (parameters and inputs too): what the user's device must hold
        if (gpu != null) gpu.allocator().resetPeak();
        double[] ms = new double[repeats];
        double driver = Double.NaN;
        if (gpu != null) {
            try (CudaEvent start = new CudaEvent(); CudaEvent end = new CudaEvent()) {
                for (int i = 0; i < repeats; i++) {
                    start.record(gpu.stream());
                    body.run();
                    end.record(gpu.stream());
                    ms[i] = end.millisSince(start);
                    // after the run's end: the allocator returns nothing to the driver within a run (unless
                    // a request failed), so what the driver counts now is at least the run's peak
                    long[] info = gpu.allocator().deviceMemoryInfo();
                    if (info[1] > 0) driver = Math.max(Double.isNaN(driver) ? 0 : driver, (info[1] - info[0]) / 1048576.0);
                }
            }
        } else {
            for (int i = 0; i < repeats; i++) {
                long t0 = System.nanoTime();
                body.run();
                be.synchronize();
                ms[i] = (System.nanoTime() - t0) / 1e6;
            }
        }
        double peak = gpu == null ? Double.NaN : gpu.allocator().stats().peakInUseBytes() / 1048576.0;
        return new double[]{median(ms), peak, driver};
    }

    static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }
}
