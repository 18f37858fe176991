/*
 * Writes the server's scripted UNet forward for the SD 1.5 and SDXL configs and its FLUX.1-dev transformer forward (the TorchScript archive UNetScriptSource
 * generates, as ScriptModules loads it) and its weight order, for script_vs_diffusers.py on the GPU machine. Runs on
 * the development machine (the generator is pure Java; the package-private classes are reached by reflection):
 *   bash bench/gpu/dump_unet_script.sh .gpu/scripts
 */
import java.lang.reflect.*;
import java.nio.file.*;
import java.util.*;
public class DumpUnetScript {
    public static void main(String[] a) throws Exception {
        Class<?> bench = Class.forName("dev.jdiffuse.bench.DenoiserBench");
        for (String model : new String[] {"sd15", "sdxl"}) {
            Method cfgM = bench.getDeclaredMethod(model + "Config"); cfgM.setAccessible(true);
            Object cfg = cfgM.invoke(null);
            Class<?> unetC = Class.forName("dev.jdiffuse.models.unet.UNet2DConditionModel");
            Class<?> cfgC = Class.forName("dev.jdiffuse.models.unet.UNet2DConditionConfig");
            Object unet = unetC.getConstructor(cfgC).newInstance(cfg);
            Map<String, ?> named = (Map<String, ?>) unetC.getMethod("namedParameters").invoke(unet);
            Class<?> src = Class.forName("dev.jdiffuse.models.unet.UNetScriptSource");
            Method of = src.getDeclaredMethod("of", cfgC, Set.class); of.setAccessible(true);
            Object s = of.invoke(null, cfg, named.keySet());
            Method code = src.getDeclaredMethod("code"); code.setAccessible(true);
            Method names = src.getDeclaredMethod("weightNames"); names.setAccessible(true);
            Class<?> fused = Class.forName("dev.jdiffuse.models.nn.FusedOps");
            Method arch = fused.getDeclaredMethod("archive", String.class, String.class, String.class); arch.setAccessible(true);
            byte[] zip = (byte[]) arch.invoke(null, "unetscript", "UNetScript", (String) code.invoke(s));
            Files.write(Path.of(a[0], model + "_unet_script.pt"), zip);
            Files.write(Path.of(a[0], model + "_unet_names.txt"), (List<String>) names.invoke(s));
        }
        // FLUX.1-dev's transformer (published config, as DenoiserBench flux) for flux_script_vs_diffusers.py
        Method fluxCfg = bench.getDeclaredMethod("fluxConfig"); fluxCfg.setAccessible(true);
        dev.jdiffuse.models.flux.FluxTransformerConfig fc = (dev.jdiffuse.models.flux.FluxTransformerConfig) fluxCfg.invoke(null);
        Object flux = new dev.jdiffuse.models.flux.FluxTransformer2DModel(fc);
        Map<String, ?> named = ((dev.jdiffuse.models.flux.FluxTransformer2DModel) flux).namedParameters();
        Class<?> src = Class.forName("dev.jdiffuse.models.flux.FluxScriptSource");
        Method of = src.getDeclaredMethod("of", dev.jdiffuse.models.flux.FluxTransformerConfig.class, Set.class);
        of.setAccessible(true);
        Object s = of.invoke(null, fc, named.keySet());
        Method code = src.getDeclaredMethod("code"); code.setAccessible(true);
        Method names = src.getDeclaredMethod("weightNames"); names.setAccessible(true);
        Class<?> fused = Class.forName("dev.jdiffuse.models.nn.FusedOps");
        Method arch = fused.getDeclaredMethod("archive", String.class, String.class, String.class); arch.setAccessible(true);
        Files.write(Path.of(a[0], "flux_script.pt"), (byte[]) arch.invoke(null, "fluxscript", "FluxScript",
                (String) code.invoke(s)));
        Files.write(Path.of(a[0], "flux_names.txt"), (List<String>) names.invoke(s));
    }
}
