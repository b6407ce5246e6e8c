package org.skinedge.core;

import static org.hamcrest.CoreMatchers.containsString;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.json.JSONObject;
import org.junit.Test;

/**
 * The launch protocol of {@code skinedge bench --device android --runner app}: the extras
 * am start gives (--es model_dir, --ei num_iter / num_warm_up_iter / num_threads), the one .pte
 * in model_dir, and the result file written whole.
 */
public class BenchLaunchTest {
    private static Map<String, Object> extras(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    @Test
    public void theHarnessExtrasTimeThePushedModelAtOnce() {
        BenchLaunch l = BenchLaunch.fromExtras(extras("model_dir", "/data/local/tmp/b/app-r1-m.pte",
                "num_iter", 50, "num_warm_up_iter", 3, "num_threads", 4));
        assertEquals("", l.problem);
        assertEquals("/data/local/tmp/b/app-r1-m.pte", l.modelDir);
        assertEquals(3, l.warmup);
        assertEquals(50, l.runs);
        assertEquals(4, l.threads);
        assertTrue(l.autorun);
    }

    @Test
    public void withoutExtrasTheBundledModelWaitsForTheButton() {
        for (BenchLaunch l : new BenchLaunch[] {BenchLaunch.fromExtras(null),
                BenchLaunch.fromExtras(extras())}) {
            assertEquals("", l.problem);
            assertNull(l.modelDir);
            assertEquals(BenchLaunch.DEFAULT_WARMUP, l.warmup);
            assertEquals(BenchLaunch.DEFAULT_RUNS, l.runs);
            assertEquals(0, l.threads);
            assertFalse(l.autorun);
        }
        assertTrue(BenchLaunch.fromExtras(extras("autorun", true)).autorun);
    }

    @Test
    public void countsGivenAsStringsAreRead() {
        BenchLaunch l = BenchLaunch.fromExtras(extras("num_iter", "20", "num_warm_up_iter", " 0 "));
        assertEquals("", l.problem);
        assertEquals(20, l.runs);
        assertEquals(0, l.warmup);
    }

    @Test
    public void badExtrasNameTheExtraAndTheFlag() {
        assertThat(BenchLaunch.fromExtras(extras("num_iter", 0)).problem,
                containsString("timed runs (num_iter) 1 or more, not 10 and 0"));
        assertThat(BenchLaunch.fromExtras(extras("num_warm_up_iter", -1)).problem,
                containsString("warm-up runs (num_warm_up_iter) must be 0 or more"));
        assertThat(BenchLaunch.fromExtras(extras("num_threads", "four")).problem,
                containsString("num_threads must be an integer (--ei num_threads N), not four"));
        assertThat(BenchLaunch.fromExtras(extras("num_threads", -2)).problem,
                containsString("num_threads must be 0 (the runtime's default) or more"));
        assertThat(BenchLaunch.fromExtras(extras("model_dir", 7)).problem,
                containsString("model_dir must be a folder path (--es model_dir DIR)"));
        assertThat(BenchLaunch.fromExtras(extras("autorun", "yes")).problem,
                containsString("autorun must be a boolean (--ez autorun true)"));
        BenchLaunch both = BenchLaunch.fromExtras(extras("model_dir", "/d", "num_iter", "x",
                "num_threads", -1));
        assertThat(both.problem, containsString("num_iter must be an integer"));
        assertThat(both.problem, containsString("; num_threads must be 0"));
        assertEquals("/d", both.modelDir);  // still known: the failed result names it
    }

    @Test
    public void theScreensCountsReplaceTheExtras() {
        BenchLaunch l = BenchLaunch.fromExtras(extras("num_threads", 2)).withCounts(1, 7);
        assertEquals("", l.problem);
        assertEquals(1, l.warmup);
        assertEquals(7, l.runs);
        assertEquals(2, l.threads);
        assertThat(l.withCounts(0, 0).problem, containsString("1 or more, not 0 and 0"));
    }

    @Test
    public void theOnePteInModelDirIsTimed() {
        assertEquals("m.pte", BenchLaunch.pickModel("/d", new String[] {"m.card.json", "m.pte", "x.onnx"}));
        assertThat(assertThrows(ModelException.class,
                () -> BenchLaunch.pickModel("/d", new String[] {"x.onnx"})).getMessage(),
                containsString("/d: no .pte in it; model_dir must hold exactly one model to time"));
        assertThat(assertThrows(ModelException.class,
                () -> BenchLaunch.pickModel("/d", new String[] {"b.pte", "a.pte"})).getMessage(),
                containsString("/d: 2 .pte files in it (a.pte, b.pte)"));
        assertThat(assertThrows(ModelException.class,
                () -> BenchLaunch.pickModel("/nope", null)).getMessage(),
                containsString("/nope: cannot list the folder"));
    }

    @Test
    public void theResultFileIsWrittenWholeAndReplaced() throws Exception {
        Path dir = Files.createTempDirectory("bench-files");
        File files = dir.resolve("files").toFile();  // created when missing
        BenchLaunch.writeResult(files, new JSONObject().put("rows", 1));
        File written = BenchLaunch.writeResult(files, new JSONObject().put("rows", 2));
        assertEquals(new File(files, "benchmark_results.json"), written);
        assertEquals(2, new JSONObject(new String(Files.readAllBytes(written.toPath()),
                StandardCharsets.UTF_8)).getInt("rows"));
        assertEquals(1, files.list().length);  // no temporary file left behind
    }

    @Test
    public void aRunThatCouldNotStartIsOneFailedRow() throws Exception {
        BenchReport.Run run = new BenchReport.Run();
        run.fileName = "app-r1-m.pte";
        run.path = "/data/local/tmp/b/app-r1-m.pte";
        run.status = "failed";
        run.error = "/data/local/tmp/b/app-r1-m.pte: no .pte in it";
        run.host = new HashMap<>();
        run.software = new HashMap<>();
        JSONObject row = BenchReport.document(run, null).getJSONArray("rows").getJSONObject(0);
        assertEquals("failed", row.getString("status"));
        assertEquals(run.error, row.getString("error"));
        assertEquals(0, row.getJSONObject("latency_ms").length());
        assertTrue(row.isNull("quantization") && row.isNull("input_size") && row.isNull("flops"));
    }
}
