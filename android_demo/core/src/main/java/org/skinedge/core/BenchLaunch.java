package org.skinedge.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * How the benchmark screen was started, and the rest of the protocol of
 * {@code skinedge bench --device android --runner app} (skinedge/bench/android.py): the launch
 * extras carry minibench's names,
 * <pre>
 *   am start -W -S -n org.skinedge.demo/.BenchmarkActivity --es model_dir DIR
 *       --ei num_iter N --ei num_warm_up_iter W [--ei num_threads T]
 * </pre>
 * the one {@code .pte} in {@code DIR} is timed, and the {@code skinedge.bench/2} document is
 * written to {@code files/benchmark_results.json} in the app's data folder, which the harness
 * reads with {@code run-as}. Without {@code model_dir} the model bundled in the app is timed,
 * at once when {@code --ez autorun true} is given, else when the button is pressed.
 */
public final class BenchLaunch {
    public static final String MODEL_DIR = "model_dir";
    public static final String RUNS = "num_iter";
    public static final String WARMUP = "num_warm_up_iter";
    public static final String THREADS = "num_threads";
    public static final String AUTORUN = "autorun";
    /** In Context.getFilesDir(): the harness reads files/benchmark_results.json (run-as). */
    public static final String RESULT_FILE = "benchmark_results.json";
    public static final int DEFAULT_WARMUP = 10;
    public static final int DEFAULT_RUNS = 100;

    /** The folder holding the one .pte to time; null: the model bundled in the app. */
    public final String modelDir;
    public final int warmup;
    public final int runs;
    /** ExecuTorch's CPU threads; 0: the runtime's default. */
    public final int threads;
    /** Run at once (always with model_dir: the harness waits for the result file). */
    public final boolean autorun;
    /** "" when the extras are usable, else what was wrong with which extra. */
    public final String problem;

    private BenchLaunch(String modelDir, int warmup, int runs, int threads, boolean autorun,
                        String problem) {
        this.modelDir = modelDir;
        this.warmup = warmup;
        this.runs = runs;
        this.threads = threads;
        this.autorun = autorun;
        this.problem = problem;
    }

    /** The launch extras (Intent extras as a map; null or empty: started from the launcher). */
    public static BenchLaunch fromExtras(Map<String, ?> extras) {
        List<String> problems = new ArrayList<>();
        Map<String, ?> e = extras == null ? Collections.<String, Object>emptyMap() : extras;
        Object dir = e.get(MODEL_DIR);
        String modelDir = null;
        if (dir instanceof String && !((String) dir).isEmpty()) {
            modelDir = (String) dir;
        } else if (dir != null) {
            problems.add(MODEL_DIR + " must be a folder path (--es " + MODEL_DIR + " DIR), not " + dir);
        }
        int warmup = integer(e, WARMUP, DEFAULT_WARMUP, problems);
        int runs = integer(e, RUNS, DEFAULT_RUNS, problems);
        int threads = integer(e, THREADS, 0, problems);
        if (threads < 0) {
            problems.add(THREADS + " must be 0 (the runtime's default) or more, not " + threads);
        }
        String counts = checkCounts(warmup, runs);
        if (!counts.isEmpty()) {
            problems.add(counts);
        }
        Object auto = e.get(AUTORUN);
        if (auto != null && !(auto instanceof Boolean)) {
            problems.add(AUTORUN + " must be a boolean (--ez " + AUTORUN + " true), not " + auto);
        }
        boolean autorun = modelDir != null || Boolean.TRUE.equals(auto);
        return new BenchLaunch(modelDir, warmup, runs, threads, autorun, String.join("; ", problems));
    }

    /** This launch with the counts typed on the screen. */
    public BenchLaunch withCounts(int warmupRuns, int timedRuns) {
        return new BenchLaunch(modelDir, warmupRuns, timedRuns, threads, autorun,
                checkCounts(warmupRuns, timedRuns));
    }

    /** "" when W warm-up and N timed runs can be measured, else why not. */
    public static String checkCounts(int warmupRuns, int timedRuns) {
        if (warmupRuns < 0 || timedRuns < 1) {
            return "warm-up runs (" + WARMUP + ") must be 0 or more and timed runs (" + RUNS
                    + ") 1 or more, not " + warmupRuns + " and " + timedRuns;
        }
        return "";
    }

    /**
     * The one .pte among {@code names} (the listing of {@code dir}; null when it cannot be
     * listed). Throws ModelException naming the folder when there is none, or several.
     */
    public static String pickModel(String dir, String[] names) {
        if (names == null) {
            throw new ModelException(dir + ": cannot list the folder (missing, or not readable "
                    + "by the app); push the .pte with adb into a folder under /data/local/tmp");
        }
        List<String> ptes = new ArrayList<>();
        for (String n : names) {
            if (n.endsWith(".pte")) {
                ptes.add(n);
            }
        }
        if (ptes.size() != 1) {
            String[] sorted = ptes.toArray(new String[0]);
            Arrays.sort(sorted);
            throw new ModelException(dir + (ptes.isEmpty() ? ": no .pte in it"
                    : ": " + ptes.size() + " .pte files in it (" + String.join(", ", sorted) + ")")
                    + "; " + MODEL_DIR + " must hold exactly one model to time");
        }
        return ptes.get(0);
    }

    /**
     * Writes {@code doc} to {@code filesDir/benchmark_results.json} whole or not at all (a temporary
     * file renamed over it), so a harness polling for the file never reads half of it.
     */
    public static File writeResult(File filesDir, JSONObject doc) throws IOException {
        if (!filesDir.isDirectory() && !filesDir.mkdirs()) {
            throw new IOException(filesDir + ": cannot create the folder");
        }
        File dest = new File(filesDir, RESULT_FILE);
        File tmp = new File(filesDir, RESULT_FILE + ".tmp");
        String text;
        try {
            text = doc.toString(1) + "\n";
        } catch (JSONException e) {
            throw new IOException("benchmark document is not JSON: " + e.getMessage(), e);
        }
        try (OutputStream out = new FileOutputStream(tmp)) {
            out.write(text.getBytes(StandardCharsets.UTF_8));
        }
        if (!tmp.renameTo(dest)) {
            tmp.delete();
            throw new IOException(dest + ": cannot replace it");
        }
        return dest;
    }

    private static int integer(Map<String, ?> e, String key, int fallback, List<String> problems) {
        Object v = e.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Integer || v instanceof Long) {
            return ((Number) v).intValue();
        }
        if (v instanceof String && ((String) v).trim().matches("-?\\d{1,9}")) {
            return Integer.parseInt(((String) v).trim());  // --es instead of --ei
        }
        problems.add(key + " must be an integer (--ei " + key + " N), not " + v);
        return fallback;
    }
}
