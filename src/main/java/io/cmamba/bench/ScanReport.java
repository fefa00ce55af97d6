package io.cmamba.bench;

import io.cmamba.files.AtomicFiles;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.LegendItemCollection;
import org.jfree.chart.axis.CategoryAxis;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.CombinedDomainCategoryPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.data.category.DefaultCategoryDataset;

import java.awt.Color;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.text.DecimalFormat;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The coupled scan's figures as a picture: {@link ScanBenchmark}'s output (each setting's forward and
 * backward time and floor) and, optionally, the PyTorch peer's (bench/peers/coupled_scan_torch.py: eager
 * and torch.compile times at the same settings), drawn as bars on a log scale, forward above backward.
 * The GPU host has no fonts to draw with, so the report is drawn from the saved outputs, anywhere.
 * <p>
 * Usage: ScanReport --bench SCAN_BENCH.txt [--peer PEER.txt ..] --out FILE.png. It also prints each
 * setting's ratios to the floor against the targets (forward 1.5x, backward 2.5x) and the speed-ups.
 * --peer may be given more than once, for a peer run in pieces (some settings per run); a formulation
 * timed at one setting in two files is refused, since the chart could show only one of them.
 */
public final class ScanReport {
    private ScanReport() {
    }

    /** The issue's targets: time over floor. */
    static final double FORWARD_TARGET = 1.5, BACKWARD_TARGET = 2.5;

    /** One ScanBenchmark line: a setting's times and floors, in ms. */
    record Bench(String setting, double fwdMs, double fwdFloorMs, double bwdMs, double bwdFloorMs) {
    }

    /** One peer line: a formulation's times at a setting, in ms. */
    record Peer(String peer, String setting, double fwdMs, double bwdMs) {
    }

    private static final String NUM = "([0-9]+(?:\\.[0-9]+)?)";
    private static final Pattern BENCH = Pattern.compile("^(\\S+)\\s+M=\\d+ B=\\d+ L=\\d+ D=\\d+ N=\\d+: forward " + NUM
            + " ms \\(floor " + NUM + " ms[^)]*\\), backward " + NUM + " ms \\(floor " + NUM + " ms.*$");
    private static final Pattern PEER = Pattern.compile("^(torch(?:\\.compile)?) (\\S+)\\s+M=\\d+ B=\\d+ L=\\d+ D=\\d+ N=\\d+ .*?: forward "
            + NUM + " ms, backward " + NUM + " ms.*$");

    /** The settings of a ScanBenchmark output, in its order; refused when it holds none. */
    static List<Bench> readBench(List<String> lines, String where) {
        List<Bench> out = new ArrayList<>();
        for (String line : lines) {
            Matcher m = BENCH.matcher(line.strip());
            if (m.matches())
                out.add(new Bench(m.group(1), Double.parseDouble(m.group(2)), Double.parseDouble(m.group(3)),
                        Double.parseDouble(m.group(4)), Double.parseDouble(m.group(5))));
        }
        if (out.isEmpty())
            throw new IllegalArgumentException(where + ": no ScanBenchmark result lines (\"NAME M=.. B=..: forward X ms (floor Y ms: ..), backward ..\")");
        return out;
    }

    /** The timed settings of a peer output (a setting it could not time has no line); refused when it holds none. */
    static List<Peer> readPeer(List<String> lines, String where) {
        List<Peer> out = new ArrayList<>();
        for (String line : lines) {
            Matcher m = PEER.matcher(line.strip());
            if (m.matches())
                out.add(new Peer(m.group(1), m.group(2), Double.parseDouble(m.group(3)), Double.parseDouble(m.group(4))));
        }
        if (out.isEmpty())
            throw new IllegalArgumentException(where + ": no peer result lines (\"torch[.compile] NAME M=.. ..: forward X ms, backward Y ms\")");
        return out;
    }

    /** The peer lines of one more file after those read so far; refused where a formulation's setting repeats. */
    static List<Peer> joinPeers(List<Peer> sofar, List<Peer> more, String where) {
        List<Peer> out = new ArrayList<>(sofar);
        for (Peer p : more) {
            if (out.stream().anyMatch(q -> q.peer().equals(p.peer()) && q.setting().equals(p.setting())))
                throw new IllegalArgumentException(where + ": " + p.peer() + " at " + p.setting()
                        + " was already read from an earlier --peer file; give each setting once");
            out.add(p);
        }
        return out;
    }

    /** Per setting: ratios to the floor against the targets, and the peers' times over ours. */
    static List<String> summary(List<Bench> bench, List<Peer> peers) {
        List<String> lines = new ArrayList<>();
        for (Bench b : bench) {
            double rf = b.fwdMs() / b.fwdFloorMs(), rb = b.bwdMs() / b.bwdFloorMs();
            StringBuilder s = new StringBuilder(String.format(Locale.ROOT,
                    "%-12s forward %.3f ms = %.2fx floor (target %.1fx: %s), backward %.3f ms = %.2fx floor (target %.1fx: %s)",
                    b.setting(), b.fwdMs(), rf, FORWARD_TARGET, rf <= FORWARD_TARGET ? "met" : "not met",
                    b.bwdMs(), rb, BACKWARD_TARGET, rb <= BACKWARD_TARGET ? "met" : "not met"));
            for (Peer p : peers)
                if (p.setting().equals(b.setting()))
                    s.append(String.format(Locale.ROOT, "; %s %.1fx / %.1fx slower", p.peer(), p.fwdMs() / b.fwdMs(), p.bwdMs() / b.bwdMs()));
            lines.add(s.toString());
        }
        return lines;
    }

    /** Forward and backward bars per setting: the floor, the target, ours, then each peer; log time axis. */
    static void chart(Path png, String title, List<Bench> bench, List<Peer> peers) throws IOException {
        System.setProperty("java.awt.headless", "true");
        CombinedDomainCategoryPlot plot = new CombinedDomainCategoryPlot(new CategoryAxis("setting"));
        LegendItemCollection legend = null;
        for (boolean forward : new boolean[]{true, false}) {
            DefaultCategoryDataset data = new DefaultCategoryDataset();
            for (Bench b : bench) {
                double floor = forward ? b.fwdFloorMs() : b.bwdFloorMs();
                data.addValue(floor, "floor", b.setting());
                data.addValue(floor * (forward ? FORWARD_TARGET : BACKWARD_TARGET), "target (1.5x / 2.5x floor)", b.setting());
                data.addValue(forward ? b.fwdMs() : b.bwdMs(), "ours", b.setting());
            }
            Set<String> peerNames = new LinkedHashSet<>();   // in the order of the peer's output
            for (Peer p : peers) peerNames.add(p.peer());
            for (String name : peerNames)
                for (Bench b : bench)   // a setting the peer did not time stays a gap
                    data.addValue(peers.stream().filter(p -> p.peer().equals(name) && p.setting().equals(b.setting()))
                            .map(p -> forward ? p.fwdMs() : p.bwdMs()).findFirst().orElse(null), name, b.setting());
            // times from a tenth of a millisecond to seconds: only a log axis shows both ends
            LogAxis y = new LogAxis((forward ? "forward" : "backward") + " ms");
            y.setBase(10);
            y.setTickUnit(new NumberTickUnit(1));
            y.setNumberFormatOverride(new DecimalFormat("0.###"));
            BarRenderer r = new BarRenderer();
            r.setBarPainter(new StandardBarPainter());
            r.setShadowVisible(false);
            r.setBase(0.05);   // bars rise from below the smallest time, not from 0 (no log of 0)
            r.setIncludeBaseInRange(false);
            r.setItemMargin(0.05);
            Color[] colours = {new Color(150, 150, 150), new Color(120, 190, 120), new Color(200, 30, 30),
                    new Color(150, 60, 160), new Color(235, 130, 20)};
            for (int i = 0; i < data.getRowCount(); i++) r.setSeriesPaint(i, colours[Math.min(i, colours.length - 1)]);
            CategoryPlot sub = new CategoryPlot(data, null, y, r);
            sub.setBackgroundPaint(Color.WHITE);
            sub.setRangeGridlinePaint(Color.LIGHT_GRAY);
            plot.add(sub, 1);
            if (legend == null) legend = sub.getLegendItems();
        }
        plot.setFixedLegendItems(legend);   // both halves have the same series: one legend
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        AtomicFiles.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, 1000, 720));
    }

    private static List<String> lines(Path file) throws IOException {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": no such file");
        }
    }

    public static void main(String[] args) {
        BenchArgs.runMain("ScanReport", () -> run(args));
    }

    static void run(String[] args) throws IOException {
        Path benchFile = null, out = null;
        List<Path> peerFiles = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bench" -> benchFile = Path.of(BenchArgs.value(args, ++i, "--bench"));
                case "--peer" -> peerFiles.add(Path.of(BenchArgs.value(args, ++i, "--peer")));
                case "--out" -> out = Path.of(BenchArgs.value(args, ++i, "--out"));
                default -> throw new IllegalArgumentException("unknown argument '" + args[i]
                        + "'; usage: ScanReport --bench SCAN_BENCH.txt [--peer PEER.txt ..] --out FILE.png");
            }
        }
        if (benchFile == null || out == null)
            throw new IllegalArgumentException("--bench and --out are required; usage: ScanReport --bench SCAN_BENCH.txt [--peer PEER.txt ..] --out FILE.png");
        List<String> benchLines = lines(benchFile);
        List<Bench> bench = readBench(benchLines, benchFile.toString());
        List<Peer> peers = new ArrayList<>();
        for (Path f : peerFiles) peers = joinPeers(peers, readPeer(lines(f), f.toString()), f.toString());
        String device = benchLines.stream().filter(l -> l.startsWith("device ")).findFirst()
                .map(l -> l.substring(7, l.indexOf(':') > 7 ? l.indexOf(':') : l.length())).orElse("GPU");
        summary(bench, peers).forEach(System.out::println);
        chart(out, "Coupled scan on " + device + ": time against the floor" + (peers.isEmpty() ? "" : " and PyTorch"), bench, peers);
        System.out.println("wrote " + out);
    }
}
