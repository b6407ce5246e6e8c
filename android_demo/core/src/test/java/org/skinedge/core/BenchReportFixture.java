package org.skinedge.core;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Map;

/**
 * Writes the benchmark screen's JSON for a made-up run of a .pte (args: the .pte, the output
 * file), so tests/test_android_demo.py can compare its rows with the host's
 * (skinedge.bench.report) field for field.
 */
public final class BenchReportFixture {
    private BenchReportFixture() {
    }

    public static void main(String[] args) throws Exception {
        Path pte = Paths.get(args[0]);
        byte[] bytes = Files.readAllBytes(pte);
        byte[] side = Files.readAllBytes(pte.resolveSibling(
                pte.getFileName().toString().replaceAll("\\.pte$", ".card.json")));
        ModelCard card = Integrity.cardOf(pte.getFileName().toString(), bytes, null, side);
        BenchReport.Run run = new BenchReport.Run();
        run.fileName = pte.getFileName().toString();
        run.path = "/data/user/0/org.skinedge.demo/files/" + run.fileName;
        run.sizeBytes = bytes.length;
        run.loadSeconds = 0.031;
        run.warmup = 5;
        run.latenciesMs = new double[] {1.5, 1.25, 1.75, 1.5, 2.0, 1.0};
        run.peakMemoryMb = 123.5;
        run.pid = 4242;
        run.threads = 4;
        run.seconds = 0.5;
        run.date = "2026-01-01T00:00:00+00:00";
        run.host = Map.of("cpu", "Tensor G3", "cores", 9, "os", "Android 14 (API 34)",
                "machine", "arm64-v8a", "device", "Google Pixel 8");
        run.software = Map.of("executorch-android", "1.5.1", "skinedge-android-demo", "0.1.0");
        Files.write(Paths.get(args[1]), BenchReport.document(run, card).toString(1)
                .getBytes(StandardCharsets.UTF_8));
    }
}
