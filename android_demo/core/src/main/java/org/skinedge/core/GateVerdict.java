package org.skinedge.core;

import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * The input gate's verdict: usable when no reason was found; reasons one sentence each (the
 * words skinedge predict prints); scores min_side, luminance, sharpness, ood, rounded to 4
 * decimals as gate.Verdict gives them.
 */
public final class GateVerdict {
    public final boolean usable;
    public final List<String> reasons;
    public final Map<String, Double> scores;

    GateVerdict(boolean usable, List<String> reasons, Map<String, Double> scores) {
        this.usable = usable;
        this.reasons = Collections.unmodifiableList(reasons);
        this.scores = Collections.unmodifiableMap(scores);
    }
}
