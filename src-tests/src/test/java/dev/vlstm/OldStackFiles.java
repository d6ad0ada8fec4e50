package dev.vlstm;

import java.util.List;
import java.util.function.Function;
import java.util.function.IntFunction;

import dev.vlstm.io.SafeTensors;

/**
 * A PyTorch state_dict read into the old stack types by its names alone, without {@link dev.vlstm.io.StateDict}: the
 * prefix is that of the one name ending in {@code weight_ih_l0}, the layers are the {@code weight_ih_l{k}} present,
 * {@code _reverse} a second direction, a missing bias null and {@code weight_hr} a projection. For tests that compare
 * the new API's loading with the old API built from the same file.
 */
final class OldStackFiles {

    private OldStackFiles() {
    }

    /** Whether the file's {@code weight_hh_l0} is {@code [3H][H]}, a GRU's. */
    static boolean holdsGru(SafeTensors file) {
        long[] shape = file.tensor(prefix(file) + "weight_hh_l0").shape();
        return shape[0] == 3 * shape[1];
    }

    static LstmStackParameters lstm(SafeTensors file) {
        return LstmStackParameters.of(bidirectional(file), parts(file, LstmParameters[]::new, part -> {
            long[] input = part.shape("weight_ih");
            float[] weightHr = part.values("weight_hr");
            return LstmParameters.fromPyTorch((int) input[1], (int) input[0] / 4,
                    weightHr == null ? 0 : (int) part.shape("weight_hr")[0], part.values("weight_ih"),
                    part.values("weight_hh"), part.values("bias_ih"), part.values("bias_hh"), weightHr);
        }));
    }

    static GruStackWeights gru(SafeTensors file) {
        return GruStackWeights.of(bidirectional(file), parts(file, GruWeights[]::new, part -> {
            long[] input = part.shape("weight_ih");
            return GruWeights.fromPyTorch(Backend.PREFERRED, (int) input[1], (int) input[0] / 3,
                    part.values("weight_ih"), part.values("weight_hh"), part.values("bias_ih"),
                    part.values("bias_hh"));
        }));
    }

    /** One layer and direction's tensors, by the stem of their names ({@code "weight_ih"}, ...). */
    private record Part(SafeTensors file, String prefix, String suffix) {

        /** {@return the values of the tensor, or null if the file has none (a missing bias or projection)} */
        float[] values(String stem) {
            String name = prefix + stem + suffix;
            return file.names().contains(name) ? file.tensor(name).toFloats() : null;
        }

        long[] shape(String stem) {
            return file.tensor(prefix + stem + suffix).shape();
        }
    }

    /** Every layer's and direction's part (l0, l0_reverse, l1, ...), made by {@code make}. */
    private static <T> T[] parts(SafeTensors file, IntFunction<T[]> array, Function<Part, T> make) {
        String prefix = prefix(file);
        int directions = bidirectional(file) ? 2 : 1;
        int layers = 0;
        while (file.names().contains(prefix + "weight_ih_l" + layers)) {
            layers++;
        }
        T[] parts = array.apply(layers * directions);
        for (int n = 0; n < parts.length; n++) {
            String suffix = "_l" + n / directions + (n % directions == 1 ? "_reverse" : "");
            parts[n] = make.apply(new Part(file, prefix, suffix));
        }
        return parts;
    }

    private static boolean bidirectional(SafeTensors file) {
        return file.names().contains(prefix(file) + "weight_ih_l0_reverse");
    }

    private static String prefix(SafeTensors file) {
        List<String> first = file.names().stream().filter(name -> name.endsWith("weight_ih_l0")).toList();
        if (first.size() != 1) {
            throw new IllegalArgumentException("not one model: " + first);
        }
        return first.getFirst().substring(0, first.getFirst().length() - "weight_ih_l0".length());
    }
}
