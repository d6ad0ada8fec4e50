package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * {@link Settling#repeat(Settling.Round, long, int, int, Runnable)} says the calls run compiled once, right after the
 * first run of {@code compiledRounds} rounds in a row that allocated nothing: an allocating round in between starts
 * the count again. Calls settle at the pace of the recent windows, and the outcome says whether the last ones
 * allocated.
 */
class SettlingTest {

    /** Where an allocating round puts what it allocates, so that the JIT cannot take the allocation away. */
    private static volatile Object sink;

    @Test
    void compiledIsSaidOnceAfterTheFirstRunOfCleanRounds() {
        long[] lastRound = {-1};
        long[] saidAfter = {-1};
        int[] said = {0};
        Settling.Outcome outcome = Settling.repeat(round -> {
            if (round < 5 || round == 7) {
                sink = new long[16];
            }
            lastRound[0] = round;
            return 1;
        }, System.nanoTime() + TimeUnit.SECONDS.toNanos(2), 1, 4, () -> {
            said[0]++;
            saidAfter[0] = lastRound[0];
        });
        assertEquals(1, said[0], "compiled is said once");
        assertEquals(11, saidAfter[0], "rounds 0 to 4 and 7 allocate: 5 and 6 are too few, 8 to 11 are four clean");
        assertTrue(outcome.calls() > 11, "the rounds went on after it: " + outcome);
    }

    @Test
    void compiledIsNotSaidWhileEveryFewRoundsAllocate() {
        int[] said = {0};
        Settling.Outcome outcome = Settling.repeat(round -> {
            if (round % 3 == 0) {
                sink = new long[16];
            }
            return 1;
        }, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500), 1, 4, () -> said[0]++);
        assertEquals(0, said[0], "never four clean rounds in a row");
        assertFalse(outcome.settled(), "rounds that allocate never settle: " + outcome);
        assertTrue(outcome.allocating(), "the last window's rounds allocated: " + outcome);
    }

    /**
     * Rounds that spin three times as long from a quarter of a second after the first on, as on a shared machine that
     * turns slower and stays so: the calls settle once the fast windows are no longer among the recent ones (after
     * about 1.4 s), not before (the pace is still judged) and not at the deadline (the slow pace is the machine's).
     */
    @Test
    void callsSettleOnAMachineThatTurnedSlower() {
        long[] slowerFrom = {0};
        Settling.Outcome outcome = Settling.repeat(round -> {
            long began = System.nanoTime();
            if (round == 0) {
                slowerFrom[0] = began + TimeUnit.MILLISECONDS.toNanos(250);
            }
            long spin = began < slowerFrom[0] ? 100_000 : 300_000;
            while (System.nanoTime() - began < spin) {
                Thread.onSpinWait();
            }
            return 1;
        }, System.nanoTime() + TimeUnit.SECONDS.toNanos(10), 2);
        assertTrue(outcome.settled(), "settled on the slower pace: " + outcome);
        assertFalse(outcome.allocating(), "rounds that allocate nothing: " + outcome);
        assertTrue(outcome.nanos() > TimeUnit.SECONDS.toNanos(1), "the fast windows were still recent: " + outcome);
    }

    @Test
    void fewerThanOneRoundOrWindowIsRefused() {
        long deadline = System.nanoTime();
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Settling.repeat(round -> 1, deadline, 1, 0, () -> { })).getMessage().contains("compiledRounds"));
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> Settling.repeat(round -> 1, deadline, 0, 4, () -> { })).getMessage().contains("quietWindows"));
    }
}
