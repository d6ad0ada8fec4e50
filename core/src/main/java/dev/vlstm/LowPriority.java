package dev.vlstm;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * Lowers the calling thread's scheduling priority, for a background warm-up that should run on the CPU time the
 * requests leave: a request thread then takes a core back from it at once instead of waiting out a time slice.
 * HotSpot ignores {@link Thread#setPriority} on Linux (it honours it on Windows and macOS), so on Linux the thread's
 * nice value is raised to {@link #NICENESS} with {@code setpriority(PRIO_PROCESS, gettid(), 19)}, through
 * java.lang.foreign; Linux keeps a nice value per thread, so the process's other threads keep theirs. That call is
 * made only where this module may call native code ({@code --enable-native-access}), since otherwise the JVM
 * prints a warning for it; raising one's own nice value needs no privilege.
 */
final class LowPriority {

    /** The lowest priority: a nice-0 thread on the same core gets about 70 times its share of the CPU. */
    static final int NICENESS = 19;
    /** {@code which} for a process or, on Linux, one thread. */
    private static final int PRIO_PROCESS = 0;

    private LowPriority() {
    }

    /**
     * Gives the current thread the lowest Java priority and, on Linux where native access is enabled for this
     * module, the nice value {@link #NICENESS}.
     *
     * @return whether the operating system's priority was lowered (false: only the Java priority was set)
     */
    static boolean lowerCurrentThread() {
        Thread.currentThread().setPriority(Thread.MIN_PRIORITY);
        if (!"Linux".equals(System.getProperty("os.name"))
                || !LowPriority.class.getModule().isNativeAccessEnabled()) {
            return false;
        }
        Linker linker = Linker.nativeLinker();
        SymbolLookup libc = linker.defaultLookup();
        Optional<MemorySegment> gettid = libc.find("gettid");
        Optional<MemorySegment> setpriority = libc.find("setpriority");
        if (gettid.isEmpty() || setpriority.isEmpty()) {
            return false;
        }
        MethodHandle threadId = linker.downcallHandle(gettid.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT));
        MethodHandle setPriority = linker.downcallHandle(setpriority.get(), FunctionDescriptor.of(
                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
        try {
            int thread = (int) threadId.invokeExact();
            return (int) setPriority.invokeExact(PRIO_PROCESS, thread, NICENESS) == 0;
        } catch (Throwable e) {
            return false;
        }
    }
}
