package io.cmamba.cli;

import com.google.gson.JsonObject;
import io.cmamba.data.Dataset;
import io.cmamba.data.Split;
import io.cmamba.model.FusionModel;
import io.cmamba.model.Models;
import io.cmamba.tensor.Backends;
import io.cmamba.train.Checkpoint;
import io.cmamba.train.DataSources;
import io.cmamba.train.Evaluator;
import io.cmamba.train.Json;
import io.cmamba.train.TrainOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code cmamba eval}: scores a checkpoint on a split of the data it was trained on; JSON on stdout. */
@Command(mixinStandardHelpOptions = true, name = "eval", sortOptions = false, showDefaultValues = true,
        description = "Scores a checkpoint's weights on a split, optionally with modalities missing at random; prints JSON.")
final class EvalCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A best.safetensors or last.safetensors.")
    Path checkpoint;
    @Option(names = "--split", paramLabel = "train|valid|test")
    String split = "test";
    @Option(names = "--missing-rate", paramLabel = "P", description = "Probability of zeroing each modality of each sample (the same samples at any batch size).")
    double missingRate = 0;
    @Option(names = "--missing-seed", paramLabel = "N", description = "Seed of the missing-modality draw.")
    long missingSeed = 1;
    @Option(names = "--data", paramLabel = "builtin|DIR", description = "Data to score on (default: what the checkpoint was trained on).")
    String data;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda[:N]")
    String device = "auto";
    @Option(names = "--batch-size", paramLabel = "N", description = "Default: the training batch size.")
    Integer batchSize;

    @Override
    public Integer call() throws Exception {
        if (!(missingRate >= 0 && missingRate <= 1))
            throw new Main.UsageException("--missing-rate must lie in [0, 1], got " + missingRate);
        if (batchSize != null && batchSize < 1) throw new Main.UsageException("--batch-size must be >= 1, got " + batchSize);
        Checkpoint ck = Checkpoint.read(checkpoint);
        TrainOptions o = ck.options();
        if (data != null)
            o = new TrainOptions(o.epochs(), o.batchSize(), o.lr(), o.weightDecay(), o.optimizer(), o.schedule(), o.warmup(),
                    o.clip(), o.seed(), o.patience(), o.metric(), o.modalityDropout(), data, o.datasetSize(), o.dataSeed(),
                    o.classes(), o.modalities());
        Dataset d = DataSources.open(o);
        Split s = switch (split) {
            case "train" -> d.train();
            case "valid" -> d.valid();
            case "test" -> d.test();
            default -> throw new Main.UsageException("--split: expected train, valid or test; got '" + split + "'");
        };
        Backends.Choice choice = Main.openBackend(device);
        try (FusionModel model = Models.create(ck.config(), choice.backend(), 0)) {
            ck.loadModel(model);
            Evaluator.Result r = Evaluator.evaluate(model, s, d.labelRange(), batchSize != null ? batchSize : o.batchSize(),
                    missingRate, missingSeed);
            JsonObject j = new JsonObject();
            j.addProperty("checkpoint", checkpoint.toString());
            j.addProperty("epoch", ck.state().epoch);
            j.addProperty("device", choice.backend().name());
            j.addProperty("dataset", d.name());
            j.addProperty("split", r.split());
            j.addProperty("samples", r.samples());
            j.addProperty("missing_rate", missingRate);
            j.add("scores", Json.numbers(r.scores()));
            main.out.println(Json.REPORT.toJson(j));
        } finally {
            choice.backend().close();
        }
        return Main.OK;
    }
}
