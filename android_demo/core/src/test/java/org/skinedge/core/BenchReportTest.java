package org.skinedge.core;

import static org.junit.Assert.assertEquals;

import org.json.JSONObject;
import org.junit.Test;

/** The bench statistics equal skinedge.bench.report.stats (values computed there with numpy). */
public class BenchReportTest {
    private static final double[] ODD = {3.5, 1.25, 9.0, 2.0, 2.5, 4.75, 1.0, 8.5, 3.0, 2.25, 7.0, 1.5, 6.25};

    @Test
    public void statsOfAnOddCount() throws Exception {
        JSONObject s = BenchReport.stats(ODD);
        assertEquals(13, s.getInt("n"));
        assertEquals(3.0, s.getDouble("median"), 0);
        assertEquals(8.200000000000001, s.getDouble("p90"), 0);
        assertEquals(8.94, s.getDouble("p99"), 0);
        assertEquals(3.8636363636363638, s.getDouble("trimmed_mean"), 0);
        assertEquals(1.0, s.getDouble("min"), 0);
    }

    @Test
    public void statsOfAnEvenCount() throws Exception {
        double[] even = java.util.Arrays.copyOf(ODD, ODD.length + 1);
        even[ODD.length] = 5.5;
        JSONObject s = BenchReport.stats(even);
        assertEquals(3.25, s.getDouble("median"), 0);
        assertEquals(8.05, s.getDouble("p90"), 0);
        assertEquals(8.934999999999999, s.getDouble("p99"), 0);
        assertEquals(4.0, s.getDouble("trimmed_mean"), 0);
    }
}
