package io.cmamba.testing;

import io.cmamba.model.FusionModel;
import io.cmamba.nn.Parameter;

import java.util.List;

/** A model's weights as plain arrays, and how far two such snapshots are apart (equivalence tests). */
public final class ModelWeights {
    private ModelWeights() {
    }

    public static double[][] of(FusionModel m) {
        List<Parameter> ps = m.parameters();
        double[][] w = new double[ps.size()][];
        for (int i = 0; i < w.length; i++) w[i] = ps.get(i).value().toDoubles();
        return w;
    }

    /** Largest |a - b| / max(1, |a|) over every weight. */
    public static double maxDifference(double[][] a, double[][] b) {
        double max = 0;
        for (int i = 0; i < a.length; i++)
            for (int j = 0; j < a[i].length; j++)
                max = Math.max(max, Math.abs(a[i][j] - b[i][j]) / Math.max(1, Math.abs(a[i][j])));
        return max;
    }
}
