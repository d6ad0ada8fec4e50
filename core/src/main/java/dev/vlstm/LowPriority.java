package dev.vlstm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Lowers the calling thread's scheduling priority, for a background warm-up that should run on the CPU time the
 * requests leave: a request thread then takes a core back from it at once instead of waiting out a time slice.
 * HotSpot ignores {@link Thread#setPriority} on Linux (it honours it on Windows and macOS), so on Linux the thread's
 * nice value is raised to {@link #NICENESS} with {@code setpriority(PRIO_PROCESS, 0, 19)} through java.lang.foreign:
 * Linux keeps a nice value per thread, and {@code who = 0} names the calling thread, so the process's other threads
 * keep theirs. Threads the lowered thread creates inherit its nice value, and an unprivileged process cannot lower
 * it again (at the default {@code RLIMIT_NICE}). The call is made only where this module has native access
 * ({@link Module#isNativeAccessEnabled()}), so that the JVM never prints its warning about a restricted method;
 * raising one's own nice value needs no privilege.
 */
final class LowPriority {

    /** The lowest priority: a nice-0 thread on the same core gets about 70 times its share of the CPU. */
    static final int NICENESS = 19;
    /** {@code which} for a process or, on Linux, one thread. */
    private static final int PRIO_PROCESS = 0;
    /** {@code who} for the calling thread. */
    private static final int CALLING_THREAD = 0;

    private LowPriority() {
    }

    /**
     * Gives the current thread the lowest Java priority and, on Linux where this module has native access, the nice
     * value {@link #NICENESS}. Best effort: it never throws.
     *
     * @return whether the operating system's priority was lowered (false: only the Java priority was set)
     */
    static boolean lowerCurrentThread() {
        Thread.currentThread().setPriority(Thread.MIN_PRIORITY);
        if (!"Linux".equals(System.getProperty("os.name"))
                || !LowPriority.class.getModule().isNativeAccessEnabled()) {
            return false;
        }
        try {
            Linker linker = Linker.nativeLinker();
            Optional<MemorySegment> setpriority = linker.defaultLookup().find("setpriority");
            if (setpriority.isEmpty()) {
                return false;
            }
            MethodHandle call = linker.downcallHandle(setpriority.get(), FunctionDescriptor.of(
                    ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            return (int) call.invokeExact(PRIO_PROCESS, CALLING_THREAD, NICENESS) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
