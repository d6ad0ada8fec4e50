package dev.vlstm;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * Detects two threads inside one object's methods at the same time, for objects that are not thread-safe but are
 * easily shared by mistake (a runner, a stream's state). Each guarded method calls {@link #enter} first and
 * {@link #exit} in a {@code finally}: one compare-and-set and one release store, a few nanoseconds, no allocation.
 *
 * <p>What it cannot see: calls that do not overlap in time. Two threads that take turns without synchronizing
 * (say, alternate {@code step} calls on one state from a thread pool without a happens-before edge) are not
 * detected; each call is then correct on its own, but the sequence of calls is whatever the threads' order was.
 * Guarded methods do not call each other on the same object: a second {@code enter} by the owning thread fails.
 */
final class ExclusiveUse {

    private static final VarHandle OWNER;

    static {
        try {
            OWNER = MethodHandles.lookup().findVarHandle(ExclusiveUse.class, "owner", Thread.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final Object guarded;
    private final String advice;
    @SuppressWarnings("unused") // accessed through OWNER
    private volatile Thread owner;

    /**
     * @param guarded the object whose methods are guarded, named in the message
     * @param advice  the sentence that ends the message: what to do instead
     */
    ExclusiveUse(Object guarded, String advice) {
        this.guarded = guarded;
        this.advice = advice;
    }

    /**
     * Marks the calling thread as inside {@code method}.
     *
     * @throws IllegalStateException if another thread is inside a guarded method of the same object
     */
    void enter(String method) {
        Thread current = Thread.currentThread();
        Thread other = (Thread) OWNER.compareAndExchange(this, null, current);
        if (other != null) {
            throw new IllegalStateException(name() + "." + method + " called by " + describe(current) + " while "
                    + (other == current ? "the same thread" : describe(other)) + " is using it: " + advice);
        }
    }

    /** Marks the calling thread as gone; only the thread that entered calls this. */
    void exit() {
        OWNER.setRelease(this, null);
    }

    /** The thread inside a guarded method now, or null: for tests and diagnostics. */
    Thread owner() {
        return (Thread) OWNER.getAcquire(this);
    }

    private String name() {
        return guarded.getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(guarded));
    }

    private static String describe(Thread thread) {
        return "thread \"" + thread.getName() + "\" (id " + thread.threadId() + ")";
    }
}
