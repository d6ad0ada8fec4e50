package dev.vlstm.bench;

/**
 * A deliberate slowdown, for proving that the performance gate catches one: with the system property
 * {@value #PROPERTY} set to N, every N-th call of a gate benchmark's {@code vector} method does its work twice, so
 * the call takes 1 + 1/N times as long on average, whatever the machine. Unset (the default), {@link #repeat()} is
 * false and C2 folds the test away.
 */
final class InjectedSlowdown {

    static final String PROPERTY = "vlstm.bench.slowdown.every";
    private static final int EVERY = Integer.getInteger(PROPERTY, 0);

    private int calls;

    /** True if this call should do its work once more. */
    boolean repeat() {
        return EVERY > 0 && ++calls % EVERY == 0;
    }
}
