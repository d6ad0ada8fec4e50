package dev.vlstm.kernel;

import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;

import com.sun.management.ThreadMXBean;

/**
 * Repeats a call until HotSpot runs it compiled. Two signals say when: the JIT's total compilation time stops
 * growing, and the calls stop allocating (before C2 compiles a Vector API loop, the interpreter and C1 box every
 * vector, so an uncompiled kernel allocates on every call and a compiled one never does). Rounds run in windows of
 * at least {@link #WINDOW_NANOS}; the calls have settled after {@link #QUIET_WINDOWS} windows in a row (or as many as
 * the caller asks) without either signal, the last of them no slower than {@link #SLOWER_THAN_BEST} times the
 * fastest of the last {@link #RECENT_WINDOWS} windows. Only recent windows count: a shared machine can turn slower
 * for minutes, and a window measured before that would otherwise hold off settling until the deadline.
 */
public final class Settling {

    /** Long enough to see the JIT idle between compilations, short enough not to waste a settled JVM's time. */
    private static final long WINDOW_NANOS = 200_000_000L;
    private static final int QUIET_WINDOWS = 3;
    private static final double SLOWER_THAN_BEST = 1.25;
    /** Windows whose fastest round sets the pace: a second's worth. */
    private static final int RECENT_WINDOWS = 5;

    private Settling() {
    }

    /** One round of calls; {@code round} counts from 0, so that rounds can vary their arguments. */
    @FunctionalInterface
    public interface Round {
        /**
         * Makes the round's calls.
         *
         * @param round the number of rounds before this one
         * @return how many calls it made
         */
        long run(long round);
    }

    /**
     * What the repetition did: the calls made, the nanoseconds spent, whether it stopped because the calls had
     * settled (false: the deadline came first), and whether the calls of its last window allocated (never, if they
     * settled).
     */
    public record Outcome(long calls, long nanos, boolean settled, boolean allocating) {
    }

    /**
     * Repeats {@code round} until the calls have settled or {@link System#nanoTime()} passes {@code deadline}.
     *
     * @param round    the calls to repeat
     * @param deadline a {@link System#nanoTime()} value after which to stop, settled or not
     * @return what the repetition did
     */
    public static Outcome repeat(Round round, long deadline) {
        return repeat(round, deadline, QUIET_WINDOWS);
    }

    /**
     * Repeats {@code round} as {@link #repeat(Round, long)} does, but settles after {@code quietWindows} quiet
     * windows in a row instead of {@link #QUIET_WINDOWS}: for calls whose code is to be compiled, not yet timed.
     *
     * @param round        the calls to repeat
     * @param deadline     a {@link System#nanoTime()} value after which to stop, settled or not
     * @param quietWindows windows without compilation or allocation that settle the calls, &ge; 1
     * @return what the repetition did
     * @throws IllegalArgumentException if {@code quietWindows} &lt; 1
     */
    public static Outcome repeat(Round round, long deadline, int quietWindows) {
        return repeat(round, deadline, quietWindows, 1, null);
    }

    /**
     * Repeats {@code round} as {@link #repeat(Round, long, int)} does, and runs {@code runCompiled} once, after the
     * first {@code compiledRounds} rounds in a row that allocated nothing: from then on the calls run compiled code,
     * though the JIT may still be busy (the repetition goes on until it is quiet). Rounds whose arguments vary must
     * go through every variant within {@code compiledRounds} rounds, so that none of their paths still runs boxed.
     *
     * @param round          the calls to repeat
     * @param deadline       a {@link System#nanoTime()} value after which to stop, settled or not
     * @param quietWindows   windows without compilation or allocation that settle the calls, &ge; 1
     * @param compiledRounds rounds in a row without allocation that show the calls compiled, &ge; 1
     * @param runCompiled    what to do once the calls run compiled, or null for nothing (and no check per round);
     *                       not run if they never do before the deadline
     * @return what the repetition did
     * @throws IllegalArgumentException if {@code quietWindows} or {@code compiledRounds} &lt; 1
     */
    public static Outcome repeat(Round round, long deadline, int quietWindows, int compiledRounds,
                                 Runnable runCompiled) {
        if (quietWindows < 1) {
            throw new IllegalArgumentException("quietWindows must be >= 1, got " + quietWindows);
        }
        if (compiledRounds < 1) {
            throw new IllegalArgumentException("compiledRounds must be >= 1, got " + compiledRounds);
        }
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        boolean jitObservable = jit != null && jit.isCompilationTimeMonitoringSupported();
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long start = System.nanoTime();
        long calls = 0;
        long rounds = 0;
        int quiet = 0;
        double[] recentRounds = new double[RECENT_WINDOWS];
        long windows = 0;
        int cleanRounds = 0;
        long compilationMillis = jitObservable ? jit.getTotalCompilationTime() : 0;
        while (true) {
            long windowStart = System.nanoTime();
            long allocatedBefore = threads.getCurrentThreadAllocatedBytes();
            long allocatedAtRound = allocatedBefore;
            long windowRounds = 0;
            long now;
            do {
                calls += round.run(rounds++);
                windowRounds++;
                if (runCompiled != null && cleanRounds < compiledRounds) {
                    long allocatedNow = threads.getCurrentThreadAllocatedBytes();
                    boolean clean = allocatedNow >= 0 && allocatedNow == allocatedAtRound;
                    cleanRounds = clean ? cleanRounds + 1 : 0;
                    allocatedAtRound = allocatedNow;
                    if (cleanRounds == compiledRounds) {
                        runCompiled.run();
                    }
                }
                now = System.nanoTime();
            } while (now - windowStart < WINDOW_NANOS && now < deadline);
            boolean allocated = threads.getCurrentThreadAllocatedBytes() != allocatedBefore;
            long compiled = jitObservable ? jit.getTotalCompilationTime() : compilationMillis;
            double roundNanos = (double) (now - windowStart) / windowRounds;
            recentRounds[(int) (windows++ % RECENT_WINDOWS)] = roundNanos;
            double fastestRound = roundNanos;
            for (int n = 0; n < Math.min(windows, RECENT_WINDOWS); n++) {
                fastestRound = Math.min(fastestRound, recentRounds[n]);
            }
            quiet = allocated || compiled != compilationMillis ? 0 : quiet + 1;
            compilationMillis = compiled;
            boolean settled = quiet >= quietWindows && roundNanos <= SLOWER_THAN_BEST * fastestRound;
            if (settled || now >= deadline) {
                return new Outcome(calls, now - start, settled, allocated);
            }
        }
    }
}
