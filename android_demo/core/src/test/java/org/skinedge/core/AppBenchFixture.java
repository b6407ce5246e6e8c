package org.skinedge.core;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.Map;
import org.json.JSONObject;

/**
 * The benchmark app's side of {@code skinedge bench --device android --runner app} on the JVM,
 * for tests/test_bench_device.py: started with the arguments of the harness's {@code am start}
 * (run by the fake adb), it parses the extras as am does and the app's core reads them, picks
 * the one .pte, checks its card and writes {@code FILES/benchmark_results.json}, or a failed row
 * saying why, as BenchmarkActivity does. What only a phone has is stood in for: the folder
 * listed is LOCAL_DIR (the pushed model_dir), the embedded card is CARD (what the .pte's
 * {@code model_card} method returns), and timing run i takes 1 + 0.25 * (i % 4) ms.
 *
 * <p>Arguments: FILES LOCAL_DIR CARD am start ... --es model_dir DIR --ei num_iter N ...
 */
public final class AppBenchFixture {
    private AppBenchFixture() {
    }

    public static void main(String[] args) throws Exception {
        File files = new File(args[0]);
        Path local = Paths.get(args[1]);
        byte[] embedded = Files.readAllBytes(Paths.get(args[2]));
        BenchLaunch launch = BenchLaunch.fromExtras(amExtras(args));
        BenchReport.Run run = new BenchReport.Run();
        run.fileName = new File(launch.modelDir == null ? "model" : launch.modelDir).getName();
        run.path = launch.modelDir;
        run.warmup = launch.warmup;
        run.threads = launch.threads;
        run.pid = 4242;
        run.date = "2026-01-01T00:00:00+00:00";
        Map<String, Object> host = new HashMap<>();
        host.put("cpu", "Google Tensor G3");
        host.put("cores", 9);
        host.put("os", "Android 14 (API 34)");
        host.put("machine", "arm64-v8a");
        host.put("device", "Google Pixel 8 (shiba)");
        run.host = host;
        Map<String, String> software = new HashMap<>();
        software.put("executorch-android", "1.5.1");
        software.put("skinedge-android-demo", "0.1.0");
        run.software = software;
        ModelCard card = null;
        try {
            if (!launch.problem.isEmpty()) {
                throw new SkinedgeException(launch.problem);
            }
            String name = BenchLaunch.pickModel(launch.modelDir, local.toFile().list());
            byte[] pte = Files.readAllBytes(local.resolve(name));
            card = Integrity.cardOf(name, pte, embedded, null);
            run.fileName = name;
            run.path = launch.modelDir + "/" + name;
            run.sizeBytes = pte.length;
            run.loadSeconds = 0.0315;
            run.peakMemoryMb = 61.5;
            run.latenciesMs = new double[launch.runs];
            for (int i = 0; i < launch.runs; i++) {
                run.latenciesMs[i] = 1 + 0.25 * (i % 4);
            }
            run.seconds = 0.4;
        } catch (SkinedgeException e) {
            run.status = "failed";
            run.error = e.getMessage();
        }
        JSONObject doc = BenchReport.document(run, card);
        BenchLaunch.writeResult(files, doc);
    }

    /** am start's typed extras: --es KEY STRING, --ei KEY INT, --ez KEY BOOL. */
    static Map<String, Object> amExtras(String[] args) {
        Map<String, Object> extras = new HashMap<>();
        for (int i = 3; i + 2 < args.length; i++) {
            String flag = args[i], key = args[i + 1], value = args[i + 2];
            if (flag.equals("--es")) {
                extras.put(key, value);
            } else if (flag.equals("--ei")) {
                extras.put(key, Integer.valueOf(value));
            } else if (flag.equals("--ez")) {
                extras.put(key, Boolean.valueOf(value));
            } else {
                continue;
            }
            i += 2;
        }
        return extras;
    }
}
