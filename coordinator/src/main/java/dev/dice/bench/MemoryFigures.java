package dev.dice.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The figures {@code dice bench memory} prints, from what its trainers reported: per run, and the ratios asked for. */
final class MemoryFigures {
    private static final double MIB = 1 << 20;

    /** One run's trainers' reports, in rank order. */
    record Measured(MemoryBench.Run run, List<MemoryTrainer.Report> reports) {
        /** The largest trainer's peak: each trainer needs this much. */
        long peak() {
            return reports.stream().mapToLong(MemoryTrainer.Report::measuredPeak).max().orElseThrow();
        }

        long state() {
            return reports.stream().mapToLong(MemoryTrainer.Report::measuredState).max().orElseThrow();
        }

        long activations() {
            return reports.stream().mapToLong(MemoryTrainer.Report::measuredActivations).max().orElseThrow();
        }

        MemoryTrainer.Report planned() {
            return reports.get(0);
        }

        /** (planned − measured) / measured of the peak. */
        double planError() {
            return (planned().plannedPeak() - peak()) / (double) peak();
        }

        /** The median over the steps after the first of the slowest trainer's step (the ring waits for it). */
        double stepSeconds() {
            return slowestMedian(MemoryTrainer.Report::stepSeconds);
        }

        /** The same of the step's CPU seconds (the trainer process's threads). */
        double stepCpuSeconds() {
            return slowestMedian(MemoryTrainer.Report::stepCpuSeconds);
        }

        private double slowestMedian(java.util.function.Function<MemoryTrainer.Report, double[]> times) {
            int steps = times.apply(reports.get(0)).length;
            double[] slowest = new double[steps - 1];
            for (int i = 1; i < steps; i++) {
                for (MemoryTrainer.Report r : reports) {
                    slowest[i - 1] = Math.max(slowest[i - 1], times.apply(r)[i]);
                }
            }
            return Figures.median(slowest);
        }
    }

    private MemoryFigures() {}

    /**
     * Every run's figures and, over them: {@code checkpointing_activation_ratio} and
     * {@code checkpointing_step_time_ratio} (checkpointed over plain, one trainer, the largest over the sizes; the step's
     * CPU time beside it),
     * {@code zero<k>_state_ratio_r<R>} (gradients and optimizer state per trainer under ZeRO k over stage 0, at R
     * trainers, for the stages run: at the last size ZeRO ran at, the largest, where the JVM's own growth between steps
     * weighs least; every size's in {@code zero<k>_state_ratio_r<R>_by_size} when there are several) and
     * {@code plan_max_error} (the largest |planned − measured| / measured peak).
     */
    static Map<String, Object> summary(List<Measured> measured, int trainers) {
        Map<String, Object> out = new LinkedHashMap<>();
        List<Map<String, Object>> runs = new ArrayList<>();
        double activationRatio = Double.NaN;
        double timeRatio = Double.NaN;
        double cpuRatio = Double.NaN;
        double maxError = 0;
        Map<Integer, Map<String, Double>> stateRatios = new LinkedHashMap<>(); // by stage, then size in run order
        for (Measured m : measured) {
            MemoryBench.Setting s = m.run().setting();
            Measured plain = find(measured, m.run().size(), new MemoryBench.Setting(s.trainers(), 0, false));
            MemoryTrainer.Report plan = m.planned();
            Map<String, Object> run = new LinkedHashMap<>();
            run.put("size", m.run().size().name());
            run.put("trainers", s.trainers());
            run.put("zero_stage", s.zeroStage());
            run.put("checkpointing", s.checkpointing());
            run.put("planned_peak_mib", mib(plan.plannedPeak()));
            run.put("measured_peak_mib", mib(m.peak()));
            run.put("plan_error", Figures.round(m.planError()));
            run.put("peak_rss_mib", m.reports().stream().map(r -> mib(r.baseBytes() + r.measuredPeak())).toList());
            run.put("planned_weights_mib", mib(plan.plannedWeights()));
            run.put("measured_weights_mib", mib(m.reports().stream()
                    .mapToLong(MemoryTrainer.Report::measuredWeights).max().orElseThrow()));
            run.put("planned_state_mib", mib(plan.plannedState()));
            run.put("measured_state_mib", mib(m.state()));
            run.put("planned_activation_mib", mib(plan.plannedActivations()));
            run.put("measured_activation_mib", mib(m.activations()));
            run.put("step_s", Figures.round(m.stepSeconds()));
            run.put("step_cpu_s", Figures.round(m.stepCpuSeconds()));
            if (plain != null) {
                run.put("step_time_ratio", Figures.round(m.stepSeconds() / plain.stepSeconds()));
                if (s.trainers() == 1 && s.zeroStage() == 0 && s.checkpointing()) {
                    activationRatio = max(activationRatio, m.activations() / (double) plain.activations());
                    timeRatio = max(timeRatio, m.stepSeconds() / plain.stepSeconds());
                    cpuRatio = max(cpuRatio, m.stepCpuSeconds() / plain.stepCpuSeconds());
                }
                if (s.trainers() == trainers && s.zeroStage() > 0 && !s.checkpointing()) {
                    stateRatios.computeIfAbsent(s.zeroStage(), k -> new LinkedHashMap<>())
                            .put(m.run().size().name(), Figures.round(m.state() / (double) plain.state()));
                }
            }
            maxError = Math.max(maxError, Math.abs(m.planError()));
            runs.add(run);
        }
        out.put("runs", runs);
        if (!Double.isNaN(activationRatio)) {
            out.put("checkpointing_activation_ratio", Figures.round(activationRatio));
            out.put("checkpointing_step_time_ratio", Figures.round(timeRatio));
            out.put("checkpointing_step_cpu_ratio", Figures.round(cpuRatio));
        }
        stateRatios.forEach((stage, bySize) -> {
            String key = "zero" + stage + "_state_ratio_r" + trainers;
            out.put(key, new ArrayList<>(bySize.values()).get(bySize.size() - 1));
            if (bySize.size() > 1) {
                out.put(key + "_by_size", bySize);
            }
        });
        out.put("plan_max_error", Figures.round(maxError));
        return out;
    }

    private static Measured find(List<Measured> measured, MemoryBench.Size size, MemoryBench.Setting setting) {
        return measured.stream().filter(m -> m.run().size().equals(size) && m.run().setting().equals(setting))
                .findFirst().orElse(null);
    }

    private static double max(double a, double b) {
        return Double.isNaN(a) ? b : Math.max(a, b);
    }

    private static double mib(long bytes) {
        return Figures.round(bytes / MIB);
    }
}
