// Benchmark results in the host bench schema (skinedge.bench/2, skinedge/bench/report.py and
// benchmarks/README.md), so a run in a phone's browser can be read back with
// `skinedge bench --import FILE` beside the host's rows.

export const SCHEMA = "skinedge.bench/2";

/** numpy.percentile (linear interpolation) of sorted values. */
function percentile(sorted, q) {
  const pos = (sorted.length - 1) * (q / 100);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** report.stats: n, median, p90, p99, trimmed_mean (10% each side), min of timings in ms. */
export function stats(ms) {
  const a = Float64Array.from(ms).sort();
  const k = Math.floor(a.length * 0.1);
  const trimmed = a.length > 2 * k ? a.subarray(k, a.length - k) : a;
  return { n: a.length, median: percentile(a, 50), p90: percentile(a, 90), p99: percentile(a, 99),
    trimmed_mean: trimmed.reduce((s, v) => s + v, 0) / trimmed.length, min: a[0] };
}

/**
 * The result document of one browser run.
 * run: {modelName, sizeBytes, card, loadS, timingsMs, warmup, runs, startedAt (Date), seconds}
 * env: {userAgent, platform, cores, ortVersion, backend, threads, deviceName}
 */
export function benchDocument(run, env) {
  const { card } = run;
  const quant = card.quantization === "none" ? "fp32" : card.quantization;
  const lat = stats(run.timingsMs);
  const runtime = `onnxruntime-web ${env.ortVersion} (${env.backend}, ${env.threads} thread${env.threads === 1 ? "" : "s"})`;
  // The device as `skinedge bench --import` places rows (skinedge/bench/importing.py)
  const device = { platform: "web", model: env.deviceName, os: env.platform, soc: "", abi: "",
    cores: env.cores, browser: env.userAgent };
  const row = {
    name: `${card.architecture} onnx ${quant} (browser)`,
    kind: "artifact", target: "onnx", quantization: quant, path: run.modelName, role: "candidate",
    status: "ok", error: "", peak_rss_mb: null, pids: [], accuracy: null,
    accuracy_error: "not measured in the browser (latency only)",
    size_bytes: run.sizeBytes, architecture: card.architecture, input_size: card.input_size,
    params: card.params, flops: card.flops, macs: Math.floor(card.flops / 2),
    flops_graph: null, flops_graph_from: null,
    load_s: run.loadS,
    latency_ms: { 1: lat },
    throughput_img_s: { 1: 1 / (lat.median / 1e3) },
    gflops_achieved: card.flops / (lat.median / 1e3) / 1e9,
    ratios: {},
    device, runner: "browser", runtime,
  };
  return {
    schema: SCHEMA,
    date: run.startedAt.toISOString().replace(/\.\d{3}Z$/, "+00:00"),
    host: { cpu: env.deviceName, cores: env.cores, threads: env.threads, os: env.platform,
      machine: env.platform, device: env.deviceName, browser: env.userAgent, runtime, kind: "browser" },
    software: { "onnxruntime-web": env.ortVersion, browser: env.userAgent },
    device,
    matmul_peak_gflops: null, matmul_gflops_by_library: {},
    batches: [1],
    settings: { rounds: 1, warmup: run.warmup, runs_per_round: run.runs, data: null, split: null, baselines: {} },
    accuracy_data: { data: null, split: null, shipped_sample: false },
    seconds: Math.round(run.seconds * 10) / 10,
    rows: [row],
    exports: [],
  };
}
