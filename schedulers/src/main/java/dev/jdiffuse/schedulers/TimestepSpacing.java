package dev.jdiffuse.schedulers;

/**
 * How {@code n} inference timesteps are picked from the {@code T} training timesteps (Lin et al. 2024, "Common
 * Diffusion Noise Schedules and Sample Steps are Flawed", Table 2), exactly as diffusers' {@code set_timesteps}:
 * descending, and including numpy's rounding (half to even) and {@code arange} length rules.
 */
public enum TimestepSpacing {
    /** {@code linspace(0, T-1, n)}: both ends of the training range. */
    LINSPACE,
    /** {@code arange(n) * (T // n) + steps_offset}: starts low (SD1's default, with offset 1). */
    LEADING,
    /** {@code round(arange(T, 0, -T/n)) - 1}: always starts at {@code T-1}. */
    TRAILING;

    public static TimestepSpacing parse(String name) {
        return switch (name) {
            case "linspace" -> LINSPACE;
            case "leading" -> LEADING;
            case "trailing" -> TRAILING;
            default -> throw new IllegalArgumentException("unsupported timestep_spacing " + name);
        };
    }

    /**
     * The timesteps of Euler/Heun-style schedulers: {@code linspace} is not rounded (float32 values, as diffusers
     * computes them), the others are integers.
     */
    public double[] timesteps(int trainSteps, int n, int stepsOffset) {
        return switch (this) {
            case LINSPACE -> {
                double[] t = reverse(BetaSchedules.linspace(0, trainSteps - 1, n));
                for (int i = 0; i < n; i++) {
                    t[i] = (float) t[i];
                }
                yield t;
            }
            case LEADING -> {
                int ratio = trainSteps / n;
                double[] t = new double[n];
                for (int i = 0; i < n; i++) {
                    t[i] = (double) (n - 1 - i) * ratio + stepsOffset;
                }
                yield t;
            }
            case TRAILING -> trailing(trainSteps, (double) trainSteps / n);
        };
    }

    /** The integer timesteps of DDPM/DDIM: as {@link #timesteps} with {@code linspace} rounded half to even. */
    public double[] integerTimesteps(int trainSteps, int n, int stepsOffset) {
        double[] t = timesteps(trainSteps, n, stepsOffset);
        if (this == LINSPACE) {
            t = reverse(BetaSchedules.linspace(0, trainSteps - 1, n));
            for (int i = 0; i < n; i++) {
                t[i] = Math.rint(t[i]);
            }
        }
        return t;
    }

    /**
     * The integer timesteps of the multistep solvers (DPM-Solver, UniPC), which space {@code n + 1} points and drop
     * the last: {@code linspace(0, T-1, n+1)}, {@code arange(n+1) * (T // (n+1))}, or trailing as usual.
     */
    public double[] solverTimesteps(int trainSteps, int n, int stepsOffset) {
        return switch (this) {
            case LINSPACE -> {
                double[] all = reverse(BetaSchedules.linspace(0, trainSteps - 1, n + 1));
                double[] t = new double[n];
                for (int i = 0; i < n; i++) {
                    t[i] = Math.rint(all[i]);
                }
                yield t;
            }
            case LEADING -> {
                int ratio = trainSteps / (n + 1);
                double[] t = new double[n];
                for (int i = 0; i < n; i++) {
                    t[i] = (double) (n - i) * ratio + stepsOffset;
                }
                yield t;
            }
            case TRAILING -> trailing(trainSteps, (double) trainSteps / n);
        };
    }

    /** {@code round(arange(T, 0, -ratio)) - 1}, with numpy's length {@code ceil(T / ratio)}. */
    private static double[] trailing(int trainSteps, double ratio) {
        int len = (int) Math.ceil((0.0 - trainSteps) / -ratio);
        double[] t = new double[len];
        for (int i = 0; i < len; i++) {
            t[i] = Math.rint(trainSteps - i * ratio) - 1;
        }
        return t;
    }

    private static double[] reverse(double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = v[v.length - 1 - i];
        }
        return r;
    }
}
