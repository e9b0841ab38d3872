package dev.dice.coordinator;

import java.lang.management.ManagementFactory;

/**
 * This JVM's CPU time against wall time from a start: how busy the process kept the machine's cores. CPU time is
 * the whole process's (every thread: model work, libtorch's intra-op threads, actors, garbage collection), so it
 * covers what runs in this JVM only — on a cluster, the node that reads it.
 */
public record CpuClock(long wallNanos, long cpuNanos) {

    /** What a stretch of time used: wall and CPU seconds, and the cores the JVM may run on. */
    public record Use(double wallSeconds, double cpuSeconds, int cores) {
        /** CPU seconds / wall seconds / cores: 1 when every core was busy throughout. */
        public double utilization() {
            return wallSeconds <= 0 ? 0 : cpuSeconds / wallSeconds / cores;
        }
    }

    public static CpuClock start() {
        return new CpuClock(System.nanoTime(), processCpuNanos());
    }

    public Use since() {
        return new Use((System.nanoTime() - wallNanos) / 1e9, (processCpuNanos() - cpuNanos) / 1e9,
                Runtime.getRuntime().availableProcessors());
    }

    private static long processCpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }
}
