package io.cmamba.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A kernel source file and the headers it includes, read from the class path under "kernels/"
 * (the project's kernels/ folder is packaged there). Only quoted includes of other files in
 * kernels/ are followed; NVRTC receives them as named headers, so the sources need no file system.
 *
 * @param fileName "kernels/elementwise.cu": NVRTC's name for the program, shown in its messages
 * @param headers  include name ("common.cuh") to text, every file reached transitively, sorted
 */
public record KernelSource(String fileName, String text, Map<String, String> headers) {
    private static final Pattern INCLUDE = Pattern.compile("^\\s*#\\s*include\\s+\"([^\"]+)\"", Pattern.MULTILINE);

    /** The class-path folder holding the kernels. */
    public static final String ROOT = "kernels/";

    /** Loads kernels/NAME (NAME like "elementwise.cu") and every header it includes. */
    public static KernelSource load(String name) {
        String text = read(name);
        Map<String, String> headers = new TreeMap<>();
        Deque<String> todo = new ArrayDeque<>(includes(text));
        while (!todo.isEmpty()) {
            String h = todo.pop();
            if (headers.containsKey(h)) continue;
            String ht = read(h);
            headers.put(h, ht);
            todo.addAll(includes(ht));
        }
        return new KernelSource(ROOT + name, text, headers);
    }

    /** A source given as text (tests, generated code), with its headers. */
    public static KernelSource of(String fileName, String text, Map<String, String> headers) {
        return new KernelSource(fileName, text, new TreeMap<>(headers));
    }

    static java.util.List<String> includes(String text) {
        java.util.List<String> r = new java.util.ArrayList<>();
        Matcher m = INCLUDE.matcher(text);
        while (m.find()) r.add(m.group(1));
        return r;
    }

    private static String read(String name) {
        if (name.contains("..") || name.startsWith("/"))
            throw new IllegalArgumentException("kernel file names are relative to kernels/, got '" + name + "'");
        ClassLoader cl = KernelSource.class.getClassLoader();
        try (InputStream in = cl.getResourceAsStream(ROOT + name)) {
            if (in == null) throw new IllegalArgumentException("kernel source " + ROOT + name + " is not on the class path");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read kernel source " + ROOT + name + ": " + e.getMessage(), e);
        }
    }
}
