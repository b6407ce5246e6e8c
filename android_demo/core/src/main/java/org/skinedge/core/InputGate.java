package org.skinedge.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONObject;

/**
 * The card's input gate (skinedge/gate.py): is a photo usable for the classifier at all? Scored
 * on the model image and the original's shown size: too small, too dark or bright (Rec. 601
 * luma), blurred (log10 variance of the Laplacian), or unlike the validation images (squared
 * Mahalanobis distance of {@link #FEATURES}). The verdict never changes the classification.
 */
public final class InputGate {
    /** The statistics this core computes, in order; the card's {@code ood.features} must match. */
    public static final List<String> FEATURES = Collections.unmodifiableList(Arrays.asList("mean_r", "mean_g", "mean_b", "std_r",
            "std_g", "std_b", "chroma_r", "chroma_g", "saturation", "grey_share",
            "rgb_order_share", "sharpness", "edge_density", "center_minus_border"));
    private static final double EPS = 1e-6;
    /** gate.py's ranges: within them every statistic is finite (no inf - inf = NaN). */
    static final int MIN_SIDE_LOW = 1;
    static final int MIN_SIDE_HIGH = 65536;
    static final double SHARPNESS_LOW = -1.0;
    static final double SHARPNESS_HIGH = 10.0;
    static final double FEATURE_BOUND = 10.0;
    static final double PRECISION_BOUND = 1e12;
    static final double THRESHOLD_MAX = 1e12;

    public final int minSide;
    public final double luminanceLow;
    public final double luminanceHigh;
    public final double sharpnessMin;
    public final double oodThreshold;
    private final double[] oodMean;
    private final double[][] precision;

    private InputGate(int minSide, double lo, double hi, double sharpnessMin, double threshold,
                      double[] mean, double[][] precision) {
        this.minSide = minSide;
        this.luminanceLow = lo;
        this.luminanceHigh = hi;
        this.sharpnessMin = sharpnessMin;
        this.oodThreshold = threshold;
        this.oodMean = mean;
        this.precision = precision;
    }

    static InputGate parse(JSONObject v, ModelCard.FieldError err) {
        if (v == null) {
            return null;
        }
        JSONArray lum = v.optJSONArray("luminance");
        double[] lohi = numbers(lum, 2);
        if (!ModelCard.isInt(v.opt("min_side")) || lohi == null
                || !ModelCard.isNumber(v.opt("sharpness_min"))) {
            throw err.of("gate", "must have min_side (integer), luminance [low, high] and "
                    + "sharpness_min");
        }
        int n = FEATURES.size();
        JSONObject ood = v.optJSONObject("ood");
        String problem = "must have ood statistics over the " + n + " features this version computes";
        if (ood == null || !ModelCard.isNumber(ood.opt("threshold"))) {
            throw err.of("gate", problem);
        }
        JSONArray feats = ood.optJSONArray("features");
        List<String> names = new ArrayList<>();
        for (int i = 0; feats != null && i < feats.length(); i++) {
            names.add(String.valueOf(feats.opt(i)));
        }
        double[] mean = numbers(ood.optJSONArray("mean"), n);
        JSONArray p = ood.optJSONArray("precision");
        double[][] prec = new double[n][];
        for (int i = 0; p != null && p.length() == n && i < n; i++) {
            prec[i] = numbers(p.optJSONArray(i), n);
            if (prec[i] == null) {
                p = null;
            }
        }
        if (!names.equals(FEATURES) || mean == null || p == null || p.length() != n) {
            throw err.of("gate", problem);
        }
        long minSide = ((Number) v.opt("min_side")).longValue();
        double sharp = ((Number) v.opt("sharpness_min")).doubleValue();
        double threshold = ((Number) ood.opt("threshold")).doubleValue();
        checkRanges(minSide, lohi, sharp, mean, prec, threshold, err);
        return new InputGate((int) minSide, lohi[0], lohi[1], sharp, threshold, mean, prec);
    }

    /** gate.check_gate's ranges, worded as it words them. */
    private static void checkRanges(long minSide, double[] lum, double sharp, double[] mean,
                                    double[][] prec, double threshold, ModelCard.FieldError err) {
        if (minSide < MIN_SIDE_LOW || minSide > MIN_SIDE_HIGH) {
            throw err.of("gate", "must have min_side from " + MIN_SIDE_LOW + " to " + MIN_SIDE_HIGH
                    + " px");
        }
        if (!(lum[0] >= 0 && lum[0] <= lum[1] && lum[1] <= 1)) {
            throw err.of("gate", "must have luminance [low, high] with 0 <= low <= high <= 1");
        }
        if (!(sharp >= SHARPNESS_LOW && sharp <= SHARPNESS_HIGH)) {
            throw err.of("gate", "must have sharpness_min in [-1, 10]");
        }
        boolean bounded = threshold > 0 && threshold <= THRESHOLD_MAX;
        for (int i = 0; i < mean.length; i++) {
            bounded &= Math.abs(mean[i]) <= FEATURE_BOUND;
            for (double x : prec[i]) {
                bounded &= Math.abs(x) <= PRECISION_BOUND;
            }
        }
        if (!bounded) {
            throw err.of("gate", "must have ood mean within +-10, precision within +-1e+12 and a "
                    + "threshold in (0, 1e+12]");
        }
    }

    private static double[] numbers(JSONArray a, int n) {
        if (a == null || a.length() != n) {
            return null;
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            if (!ModelCard.isNumber(a.opt(i))) {
                return null;
            }
            out[i] = ((Number) a.opt(i)).doubleValue();
        }
        return out;
    }

    /** The verdict on a model image whose original was shown at (width, height). */
    public GateVerdict assess(ModelImage img) {
        double[] f = features(img);
        double lum = mean(luma(img));
        double sharp = f[FEATURES.indexOf("sharpness")];
        double ood = oodScore(f);
        int w = img.originalWidth, h = img.originalHeight;
        List<String> reasons = new ArrayList<>();
        if (Math.min(w, h) < minSide) {
            reasons.add("too small: " + w + "x" + h + " px, under " + minSide
                    + " px on the shorter side");
        }
        if (lum < luminanceLow || lum > luminanceHigh) {
            reasons.add("too " + (lum < luminanceLow ? "dark" : "bright") + ": mean luminance "
                    + PyFormat.fixed(lum, 2) + ", outside [" + PyFormat.fixed(luminanceLow, 2)
                    + ", " + PyFormat.fixed(luminanceHigh, 2) + "]");
        }
        if (sharp < sharpnessMin) {
            reasons.add("blurred: sharpness " + PyFormat.fixed(sharp, 2) + ", under "
                    + PyFormat.fixed(sharpnessMin, 2));
        }
        if (Double.isNaN(ood) || Double.isInfinite(ood)) {  // NaN > threshold is false
            reasons.add("does not look like a dermoscopic skin image: OOD score not finite "
                    + "(the card's gate statistics are corrupt)");
        } else if (ood > oodThreshold) {
            reasons.add("does not look like a dermoscopic skin image: OOD score "
                    + PyFormat.fixed(ood, 1) + " over " + PyFormat.fixed(oodThreshold, 1));
        }
        Map<String, Double> scores = new LinkedHashMap<>();
        scores.put("luminance", PyFormat.round(lum, 4));
        scores.put("min_side", (double) Math.min(w, h));
        scores.put("ood", Double.isNaN(ood) || Double.isInfinite(ood) ? ood : PyFormat.round(ood, 4));
        scores.put("sharpness", PyFormat.round(sharp, 4));
        return new GateVerdict(reasons.isEmpty(), reasons, scores);
    }

    double oodScore(double[] f) {
        int n = f.length;
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = f[i] - oodMean[i];
        }
        double s = 0;
        for (int j = 0; j < n; j++) {
            double dp = 0;
            for (int i = 0; i < n; i++) {
                dp += d[i] * precision[i][j];
            }
            s += dp * d[j];
        }
        return s;
    }

    /** Rec. 601 luma in [0, 1] per pixel [S * S]: gate.luminance. */
    static double[] luma(ModelImage img) {
        int n = img.size * img.size;
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            y[i] = 0.299 * (img.at(3 * i) / 255.0) + 0.587 * (img.at(3 * i + 1) / 255.0)
                    + 0.114 * (img.at(3 * i + 2) / 255.0);
        }
        return y;
    }

    /** log10 of the variance of the 4-neighbour Laplacian of the luma on 0..255, inner pixels. */
    static double sharpness(double[] luma01, int s) {
        double[] lap = new double[(s - 2) * (s - 2)];
        int k = 0;
        for (int r = 1; r < s - 1; r++) {
            for (int c = 1; c < s - 1; c++) {
                lap[k++] = luma01[(r - 1) * s + c] * 255.0 + luma01[(r + 1) * s + c] * 255.0
                        + luma01[r * s + c - 1] * 255.0 + luma01[r * s + c + 1] * 255.0
                        - 4 * (luma01[r * s + c] * 255.0);
            }
        }
        return Math.log10(variance(lap) + 1.0);
    }

    /** gate.features: float [14] of an S x S model image. */
    static double[] features(ModelImage img) {
        int s = img.size, n = s * s;
        double[][] ch = new double[3][n];
        double[] chromaR = new double[n], chromaG = new double[n], sat = new double[n];
        double[] grey = new double[n], order = new double[n];
        for (int i = 0; i < n; i++) {
            double r = img.at(3 * i) / 255.0, g = img.at(3 * i + 1) / 255.0, b = img.at(3 * i + 2) / 255.0;
            ch[0][i] = r;
            ch[1][i] = g;
            ch[2][i] = b;
            double total = r + g + b + EPS;
            double hi = Math.max(r, Math.max(g, b)), lo = Math.min(r, Math.min(g, b));
            chromaR[i] = r / total;
            chromaG[i] = g / total;
            sat[i] = (hi - lo) / (hi + EPS);
            grey[i] = sat[i] < 0.1 ? 1 : 0;
            order[i] = r >= g && g >= b ? 1 : 0;
        }
        double[] y = luma(img);
        double gy = 0, gx = 0;
        for (int r = 0; r < s; r++) {
            for (int c = 0; c < s; c++) {
                if (r + 1 < s) {
                    gy += Math.abs(y[(r + 1) * s + c] - y[r * s + c]);
                }
                if (c + 1 < s) {
                    gx += Math.abs(y[r * s + c + 1] - y[r * s + c]);
                }
            }
        }
        gy /= (double) (s - 1) * s;
        gx /= (double) s * (s - 1);
        int q = s / 4;
        double all = 0, inner = 0;
        for (int r = 0; r < s; r++) {
            for (int c = 0; c < s; c++) {
                all += y[r * s + c];
                if (r >= q && r < s - q && c >= q && c < s - q) {
                    inner += y[r * s + c];
                }
            }
        }
        int innerN = (s - 2 * q) * (s - 2 * q);
        double border = (all - inner) / (n - innerN);
        return new double[] {mean(ch[0]), mean(ch[1]), mean(ch[2]), std(ch[0]), std(ch[1]),
                std(ch[2]), mean(chromaR), mean(chromaG), mean(sat), mean(grey), mean(order),
                sharpness(y, s), Math.log10(gy + gx + 1e-4), inner / innerN - border};
    }

    static double mean(double[] a) {
        double s = 0;
        for (double v : a) {
            s += v;
        }
        return s / a.length;
    }

    /** numpy's var: mean of squared deviations from the mean (ddof 0). */
    static double variance(double[] a) {
        double m = mean(a), s = 0;
        for (double v : a) {
            s += (v - m) * (v - m);
        }
        return s / a.length;
    }

    static double std(double[] a) {
        return Math.sqrt(variance(a));
    }
}
