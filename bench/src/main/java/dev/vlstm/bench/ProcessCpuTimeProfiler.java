package dev.vlstm.bench;

import java.lang.management.ManagementFactory;
import java.util.Collection;
import java.util.List;

import com.sun.management.OperatingSystemMXBean;
import org.openjdk.jmh.infra.BenchmarkParams;
import org.openjdk.jmh.infra.IterationParams;
import org.openjdk.jmh.profile.InternalProfiler;
import org.openjdk.jmh.results.AggregationPolicy;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.ScalarResult;

/**
 * CPU time the benchmark's JVM spent per operation, as the secondary result {@value #RESULT} (ns/op, one value per
 * iteration). On a machine shared with other processes, wall time also counts the time the benchmark thread
 * waited for a core; CPU time does not. After warmup the benchmark thread is the only busy thread of the fork
 * (nothing to compile, nothing allocated to collect), so the process's CPU time is that thread's.
 */
public final class ProcessCpuTimeProfiler implements InternalProfiler {

    static final String RESULT = "cpu.time.per.op";

    private final OperatingSystemMXBean system = ManagementFactory.getPlatformMXBean(OperatingSystemMXBean.class);
    private long cpuNanosAtStart;

    @Override
    public String getDescription() {
        return "process CPU time per operation";
    }

    @Override
    public void beforeIteration(BenchmarkParams benchmarkParams, IterationParams iterationParams) {
        cpuNanosAtStart = system.getProcessCpuTime();
    }

    @Override
    public Collection<? extends Result> afterIteration(BenchmarkParams benchmarkParams,
                                                       IterationParams iterationParams, IterationResult result) {
        long operations = result.getMetadata().getMeasuredOps();
        double nanos = system.getProcessCpuTime() - cpuNanosAtStart;
        return List.of(new ScalarResult(RESULT, nanos / Math.max(1, operations), "ns/op", AggregationPolicy.AVG));
    }
}
