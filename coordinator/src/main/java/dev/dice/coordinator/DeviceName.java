package dev.dice.coordinator;

import ai.djl.Device;
import ai.djl.engine.Engine;
import dev.dice.gpu.BadInputException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code dice.device} setting: {@code cpu} or {@code cuda:N} (PyTorch's spelling; {@code cudaN}, {@code gpuN} and
 * {@code gpu:N} are read the same). DJL names a GPU {@code gpuN}, so the name is translated here, and a GPU is
 * refused at start-up unless libtorch sees it.
 */
public final class DeviceName {
    private static final Pattern GPU = Pattern.compile("(?:cuda|gpu):?(\\d+)");

    private DeviceName() {}

    /** The DJL device for {@code name}; throws a one-line {@link BadInputException} for a name it cannot be. */
    public static Device djl(String name) {
        String n = name.strip().toLowerCase(java.util.Locale.ROOT);
        if (n.equals("cpu")) {
            return Device.cpu();
        }
        Matcher m = GPU.matcher(n);
        if (!m.matches()) {
            throw new BadInputException("dice.device (--device): expected cpu or cuda:N, got \"" + name + "\"");
        }
        return Device.gpu(Integer.parseInt(m.group(1)));
    }

    /** Checks that {@code name} is a device this process can compute on; one line naming what libtorch sees if not. */
    public static void check(String name) {
        Device device = djl(name);
        if (!device.isGpu()) {
            return;
        }
        int visible = Engine.getEngine("PyTorch").getGpuCount();
        if (device.getDeviceId() >= visible) {
            throw new BadInputException("dice.device (--device): " + name + " is not available: libtorch sees "
                    + (visible == 0 ? "no CUDA device (a CPU build of libtorch, or no GPU; see docs/configuration.md#device)"
                            : visible + " CUDA device(s), cuda:0 to cuda:" + (visible - 1)));
        }
    }
}
