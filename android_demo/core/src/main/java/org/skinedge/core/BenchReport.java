package org.skinedge.core;

import java.util.Arrays;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The benchmark screen's result as a {@code skinedge.bench/2} document (skinedge/bench/report.py,
 * benchmarks/README.md): one row with the host rows' fields, so {@code skinedge bench --import}
 * can put a phone beside the host runtimes. What a phone cannot measure is null: accuracy (no
 * labelled data on the phone), the fp32 matmul peak (so no {@code fraction_of_matmul_peak}),
 * a graph FLOP count; ratios are empty (no baseline runs in the app).
 */
public final class BenchReport {
    public static final String SCHEMA = "skinedge.bench/2";

    /** One benchmark run of one .pte at batch 1. */
    public static final class Run {
        public String fileName;
        public String path;
        public long sizeBytes;
        public double loadSeconds;
        public int warmup;
        public double[] latenciesMs;
        public double peakMemoryMb;
        public int pid;
        /** ExecuTorch's CPU threads as asked for; 0: the runtime's default (written as null). */
        public int threads;
        public double seconds;
        public String date;
        /** cpu (SoC), cores, os, machine (ABI), device (manufacturer model). */
        public Map<String, Object> host;
        /** e.g. executorch-android, skinedge-android-demo, android versions. */
        public Map<String, String> software;
        /** "ok", or "failed" with error. */
        public String status = "ok";
        public String error = "";
    }

    private BenchReport() {
    }

    /**
     * stats(): n, median, p90, p99, trimmed_mean (10% off each side), min of latencies in ms,
     * with numpy's median and linear percentile arithmetic.
     */
    public static JSONObject stats(double[] ms) {
        double[] a = ms.clone();
        Arrays.sort(a);
        int n = a.length, k = (int) (n * 0.1);
        double[] trimmed = n > 2 * k ? Arrays.copyOfRange(a, k, n - k) : a;
        double sum = 0;
        for (double v : trimmed) {
            sum += v;
        }
        return put(new JSONObject(), "n", n, "median", percentile(a, 50), "p90", percentile(a, 90),
                "p99", percentile(a, 99), "trimmed_mean", sum / trimmed.length, "min", a[0]);
    }

    /** np.percentile(sorted, q), default linear method, with numpy's two-sided lerp. */
    static double percentile(double[] sorted, double q) {
        int n = sorted.length;
        double qq = q / 100;
        double index = (n - 1) * qq;  // numpy's virtual index for the linear method
        int lo = (int) Math.floor(index);
        int hi = Math.min(lo + 1, n - 1);
        double t = index - lo;
        double a = sorted[lo], b = sorted[hi], d = b - a;
        if (q == 50 && n % 2 == 0) {
            return (a + b) / 2;  // np.median: mean of the two middle values
        }
        return t >= 0.5 ? b - d * (1 - t) : a + d * t;
    }

    /**
     * The whole document for one run of the model whose card is {@code card}; null when the run
     * failed before a card was read (status "failed", the error says why): the card's fields are
     * then null.
     */
    public static JSONObject document(Run run, ModelCard card) {
        Object nil = JSONObject.NULL;
        long flops = card == null ? 0 : card.json.optLong("flops");
        JSONObject row = put(new JSONObject(), "name", run.fileName, "kind", "artifact",
                "target", "executorch", "quantization", card == null ? nil : card.quantization,
                "path", run.path, "role", "candidate", "status", run.status, "error", run.error,
                "peak_rss_mb", run.peakMemoryMb, "pids", new JSONArray().put(run.pid),
                "accuracy", nil,
                "accuracy_error", "not measured on the phone (no labelled images there)",
                "size_bytes", run.sizeBytes, "architecture", card == null ? nil : card.architecture,
                "input_size", card == null ? nil : card.inputSize,
                "params", card == null ? nil : card.json.optLong("params"),
                "flops", card == null ? nil : flops, "macs", card == null ? nil : flops / 2,
                "flops_graph", nil, "flops_graph_from", nil, "load_s", run.loadSeconds);
        JSONObject latency = new JSONObject(), throughput = new JSONObject();
        if ("ok".equals(run.status) && run.latenciesMs != null && run.latenciesMs.length > 0) {
            JSONObject s = stats(run.latenciesMs);
            double median = s.optDouble("median");
            put(latency, "1", s);
            if (median > 0) {
                put(throughput, "1", 1 / (median / 1e3));
                put(row, "gflops_achieved", flops / (median / 1e3) / 1e9);
            }
        }
        put(row, "latency_ms", latency, "throughput_img_s", throughput, "ratios", new JSONObject());
        JSONObject settings = put(new JSONObject(), "rounds", 1, "warmup", run.warmup,
                "runs_per_round", run.latenciesMs == null ? 0 : run.latenciesMs.length,
                "data", JSONObject.NULL, "split", JSONObject.NULL, "baselines", new JSONObject());
        JSONObject host = new JSONObject(run.host);
        put(host, "threads", run.threads > 0 ? (Object) run.threads : nil);
        return put(new JSONObject(), "schema", SCHEMA, "date", run.date, "host", host,
                "software", new JSONObject(run.software), "matmul_peak_gflops", JSONObject.NULL,
                "matmul_gflops_by_library", new JSONObject(), "batches", new JSONArray().put(1),
                "settings", settings,
                "accuracy_data", put(new JSONObject(), "data", JSONObject.NULL, "split",
                        JSONObject.NULL, "shipped_sample", false),
                "seconds", PyFormat.round(run.seconds, 1), "rows", new JSONArray().put(row),
                "exports", new JSONArray());
    }

    private static JSONObject put(JSONObject o, Object... kv) {
        for (int i = 0; i < kv.length; i += 2) {
            try {
                o.put((String) kv[i], kv[i + 1]);
            } catch (JSONException e) {
                throw new IllegalArgumentException("not a JSON value for " + kv[i] + ": " + kv[i + 1], e);
            }
        }
        return o;
    }
}
