package io.cmamba.dist;

import io.cmamba.cli.Main;
import io.cmamba.train.Checkpoint;
import io.cmamba.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code cmamba train --gpus 2 --device cpu}: two worker JVMs over TCP. Killing one (SIGKILL) mid-run
 * ends the job quickly with the rank named, and the last checkpoint stays readable.
 */
class LauncherTest {
    @TempDir
    Path dir;

    @Test
    void aKilledWorkerStopsTheJobNamingItsRankAndTheLastCheckpointSurvives() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8), e = new PrintStream(err, true, StandardCharsets.UTF_8);
        Path run = dir.resolve("run");
        CompletableFuture<Integer> job = CompletableFuture.supplyAsync(() -> Main.run(new String[]{"train", "--device", "cpu",
                "--gpus", "2", "--epochs", "400", "--patience", "0", "--dataset-size", "32", "--batch-size", "16", "--d-model", "8",
                "--d-state", "4", "--layers", "1", "--length", "4", "--out", run.toString()}, o, e));
        Path last = run.resolve(Trainer.LAST);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (!Files.exists(last) && !job.isDone() && System.nanoTime() < deadline) Thread.sleep(50);
        assertTrue(Files.exists(last), "no checkpoint appeared; stderr:\n" + err);
        Optional<ProcessHandle> rank1 = ProcessHandle.current().children()
                .filter(p -> p.info().arguments().map(a -> java.util.Arrays.asList(a).contains("-Dcmamba.rank=1")).orElse(false))
                .findFirst();
        assertTrue(rank1.isPresent(), "rank 1's process not found");
        long killed = System.nanoTime();
        rank1.get().destroyForcibly();
        int code = job.get(60, TimeUnit.SECONDS);
        double seconds = (System.nanoTime() - killed) * 1e-9;
        String log = err.toString(StandardCharsets.UTF_8);
        assertEquals(Main.FAILED, code, log);
        assertTrue(log.contains("cmamba train: rank 1 exited with code 137 (killed by SIGKILL); stopping the other rank"), log);
        assertTrue(seconds < 20, "the job took " + seconds + " s to stop");
        // rank 0 heard it too, by the connection closing, and said so
        assertTrue(log.contains("[rank 0]") && log.contains("rank 1 exited or lost its connection"), log);
        Checkpoint ck = Checkpoint.read(last);
        assertTrue(ck.state().epoch >= 1, "the checkpoint holds a finished epoch");
        assertTrue(ProcessHandle.current().children().noneMatch(p -> p.info().arguments()
                .map(a -> String.join(" ", a).contains("-Dcmamba.rank=")).orElse(false) && p.isAlive()), "no worker left running");
    }
}
