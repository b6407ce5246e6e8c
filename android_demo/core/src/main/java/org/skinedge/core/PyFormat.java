package org.skinedge.core;

import java.math.BigDecimal;
import java.math.RoundingMode;

/**
 * Python's number formatting, so the app shows the same text as {@code skinedge predict}.
 * Python rounds the exact binary value half to even ({@code f"{x:.2f}"}, {@code round(x, 4)});
 * Java's {@code String.format} rounds a shortest decimal string half up, which differs on ties
 * such as 0.125.
 */
public final class PyFormat {
    private PyFormat() {
    }

    /** {@code f"{x:.{digits}f}"} for a finite x. */
    public static String fixed(double x, int digits) {
        String s = new BigDecimal(x).setScale(digits, RoundingMode.HALF_EVEN).toPlainString();
        // Python keeps the sign of a negative value that rounds to zero ("-0.00").
        return (x < 0 || (x == 0 && 1 / x < 0)) && !s.startsWith("-") ? "-" + s : s;
    }

    /** {@code round(x, digits)} for a finite x. */
    public static double round(double x, int digits) {
        return new BigDecimal(x).setScale(digits, RoundingMode.HALF_EVEN).doubleValue();
    }
}
