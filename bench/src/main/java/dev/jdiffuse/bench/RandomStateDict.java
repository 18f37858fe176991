package dev.jdiffuse.bench;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.nn.Module;
import dev.jdiffuse.models.nn.Parameter;
import dev.jdiffuse.models.nn.StateDict;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Random weights for a module tree (speed does not depend on weight values, so a real architecture with random
 * weights times like the released checkpoint). Matrices and kernels are drawn as PyTorch's default initialisation
 * scales them (std {@code 1/sqrt(3 fan_in)}), norm scales are 1, biases 0, so activations stay in range in float16.
 * With {@code keep}, the float32 draws are kept on the host so a second model (another device or dtype) gets exactly
 * the same values.
 */
public final class RandomStateDict implements StateDict {

    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final NDManager host;
    private final Map<String, NDArray> kept;

    public RandomStateDict(Module module, NDManager host, boolean keep) {
        for (Map.Entry<String, Parameter> e : module.namedParameters().entrySet()) {
            shapes.put(e.getKey(), e.getValue().shape().getShape());
        }
        this.host = host;
        this.kept = keep ? new LinkedHashMap<>() : null;
    }

    @Override
    public Set<String> keys() {
        return shapes.keySet();
    }

    @Override
    public long[] shape(String key) {
        return shapes.get(key);
    }

    @Override
    public synchronized NDArray load(String key, NDManager manager, DataType dtype) {
        if (kept == null) {
            NDArray drawn = draw(key, manager);
            if (drawn.getDataType() == dtype) {
                return drawn;
            }
            NDArray out = drawn.toType(dtype, false);
            drawn.close();
            return out;
        }
        NDArray src = kept.computeIfAbsent(key, k -> draw(k, host));
        NDArray out = src.toDevice(manager.getDevice(), true).toType(dtype, true);
        out.attach(manager);
        return out;
    }

    private NDArray draw(String key, NDManager m) {
        Shape s = new Shape(shapes.get(key));
        if (s.dimension() >= 2) {
            long fanIn = s.size() / s.get(0);
            return m.randomNormal(0f, (float) (1 / Math.sqrt(3.0 * fanIn)), s, DataType.FLOAT32);
        }
        boolean scale = key.endsWith("weight") && (key.contains("norm") || key.contains("ln"));
        return scale ? m.ones(s) : m.zeros(s);
    }
}
