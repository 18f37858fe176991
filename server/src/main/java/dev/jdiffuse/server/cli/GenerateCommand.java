package dev.jdiffuse.server.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jdiffuse.models.pipeline.ControlSpec;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.GenerationResult;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.PipelineDefaults;
import dev.jdiffuse.models.pipeline.Pipelines;
import dev.jdiffuse.models.pipeline.PreviewSpec;
import dev.jdiffuse.server.jobs.GenerationParameters;
import dev.jdiffuse.server.jobs.Submission;
import dev.jdiffuse.server.images.ImageMetadata;
import dev.jdiffuse.server.images.PngEncoder;
import dev.jdiffuse.server.models.LoadedModel;
import dev.jdiffuse.server.models.ModelHasher;
import dev.jdiffuse.server.models.ModelLoaders;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@code generate}: one text-to-image run from the command line, with a progress bar, written as PNG with the same
 * text chunks as the server's images. Usage: {@code java -jar jdiffuse-server.jar generate --model DIR|FILE
 * --prompt TEXT [--output out.png] [options]}; {@code generate --help} lists the options.
 */
public final class GenerateCommand {

    private static final Map<String, String> OPTIONS = options();

    private GenerateCommand() {
    }

    private static Map<String, String> options() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("model", "diffusers pipeline folder or single-file .safetensors checkpoint (required)");
        m.put("config", "diffusers config folder for a single-file checkpoint (default: <file>.config beside it)");
        m.put("prompt", "the prompt (required)");
        m.put("negative-prompt", "negative prompt (default empty)");
        m.put("width", "image width, a multiple of 8 (default: the model's)");
        m.put("height", "image height, a multiple of 8 (default: the model's)");
        m.put("steps", "sampler steps (default: the model's)");
        m.put("sampler", "ddpm|ddim|euler|euler_ancestral|heun|dpmpp_2m|unipc|lcm|flow_euler (default: the model's)");
        m.put("schedule", "default|karras|exponential|leading|linspace|trailing (default: default)");
        m.put("guidance", "classifier-free guidance scale (default: the model's)");
        m.put("guidance-rescale", "guidance rescale phi in [0,1] (default 0)");
        m.put("seed", "seed of the torch-compatible noise (default: random, printed)");
        m.put("batch", "images per run (default 1)");
        m.put("class-label", "class index for class-conditional models (DiT)");
        m.put("control-image", "ControlNet control image (PNG/JPEG)");
        m.put("controlnet", "ControlNet name (default: the model's first)");
        m.put("control-scale", "ControlNet conditioning scale (default 1.0)");
        m.put("control-start", "fraction of steps where the ControlNet starts (default 0)");
        m.put("control-end", "fraction of steps where it ends (default 1)");
        m.put("device", "auto|cpu|cuda (default auto)");
        m.put("dtype", "auto|fp32|fp16 (default auto: fp16 on CUDA, fp32 on CPU)");
        m.put("output", "output PNG (default out.png; a batch writes out-0.png, out-1.png, ...)");
        return m;
    }

    public static String usage() {
        StringBuilder sb = new StringBuilder("usage: generate --model DIR|FILE --prompt TEXT [options]\n");
        OPTIONS.forEach((k, v) -> sb.append(String.format("  --%-18s %s%n", k, v)));
        return sb.toString();
    }

    public static void main(String[] args) throws IOException {
        int code = run(args, System.err);
        if (code != 0) {
            System.exit(code);
        }
    }

    /** Runs the command; returns the process exit code (0 ok, 2 usage error, 1 failure). */
    public static int run(String[] args, PrintStream err) throws IOException {
        Map<String, String> o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            err.println(e.getMessage());
            err.print(usage());
            return 2;
        }
        if (o.containsKey("help")) {
            err.print(usage());
            return 0;
        }
        if (!o.containsKey("model") || !o.containsKey("prompt")) {
            err.println("--model and --prompt are required");
            err.print(usage());
            return 2;
        }
        Path model = Path.of(o.get("model"));
        long t0 = System.nanoTime();
        try (ImagePipeline pipe = open(model, o)) {
            err.printf("loaded %s (%s) in %.1f s%n", pipe.name(), pipe.family(), (System.nanoTime() - t0) / 1e9);
            GenerationRequest req = request(o, pipe);
            ProgressBar bar = new ProgressBar(err);
            GenerationResult res = pipe.generate(req, new GenerationListener() {
                @Override
                public void onStep(int step, int steps, double sigma) {
                    bar.update(step + 1, steps);
                }
            });
            bar.done();
            writeImages(o.getOrDefault("output", "out.png"), model, pipe, req, res, err);
            err.printf("seed %d, %s/%s, encode %d ms, denoise %d ms, decode %d ms%n", res.seed(), res.sampler(),
                    res.schedule(), res.encodeMillis(), res.denoiseMillis(), res.decodeMillis());
            return 0;
        } catch (Exception e) {
            err.println("generate failed: " + e.getMessage());
            return 1;
        }
    }

    private static ImagePipeline open(Path model, Map<String, String> o) throws Exception {
        String device = o.getOrDefault("device", "auto");
        String dtype = o.getOrDefault("dtype", "auto");
        if (!o.containsKey("config")) {
            return ModelLoaders.production().load(model, device, dtype);
        }
        var d = ModelLoaders.device(device);
        return Pipelines.open(model, new Pipelines.Options(d, ModelLoaders.dtype(dtype, d), null,
                Path.of(o.get("config"))));
    }

    private static GenerationRequest request(Map<String, String> o, ImagePipeline pipe) throws IOException {
        PipelineDefaults d = pipe.defaults();
        long seed = o.containsKey("seed") ? Long.parseLong(o.get("seed"))
                : ThreadLocalRandom.current().nextLong(0, 1L << 32);
        List<ControlSpec> controls = new ArrayList<>();
        if (o.containsKey("control-image")) {
            BufferedImage img = ImageIO.read(Path.of(o.get("control-image")).toFile());
            if (img == null) {
                throw new IllegalArgumentException("--control-image: not a readable image");
            }
            String name = o.getOrDefault("controlnet",
                    pipe.controlnets().isEmpty() ? "controlnet" : pipe.controlnets().get(0));
            controls.add(new ControlSpec(name, img, dbl(o, "control-scale", 1.0), dbl(o, "control-start", 0.0),
                    dbl(o, "control-end", 1.0)));
        }
        Integer label = o.containsKey("class-label") ? Integer.parseInt(o.get("class-label")) : null;
        return new GenerationRequest(o.get("prompt"), o.getOrDefault("negative-prompt", ""),
                (int) dbl(o, "width", d.width()), (int) dbl(o, "height", d.height()), (int) dbl(o, "steps", d.steps()),
                o.getOrDefault("sampler", d.sampler()), o.getOrDefault("schedule", d.schedule()),
                dbl(o, "guidance", d.guidanceScale()), dbl(o, "guidance-rescale", 0.0), seed,
                (int) dbl(o, "batch", 1), label, controls, PreviewSpec.NONE);
    }

    private static void writeImages(String output, Path model, ImagePipeline pipe, GenerationRequest req,
            GenerationResult res, PrintStream err) throws IOException {
        LoadedModel loaded = new LoadedModel(pipe.name(), pipe, ModelHasher.sha256(model));
        ObjectMapper json = new ObjectMapper();
        List<Submission.ControlRef> refs = req.controlnets().stream()
                .map(c -> new Submission.ControlRef(c.model(), "file", c.scale(), c.start(), c.end())).toList();
        for (int i = 0; i < res.images().size(); i++) {
            Path out = Path.of(res.images().size() == 1 ? output : output.replaceFirst("(\\.png)?$", "-" + i + ".png"));
            Map<String, String> text = ImageMetadata.pngText(GenerationParameters.of(loaded, req, refs, res),
                    res.sigmas(), i, v -> {
                try {
                    return json.writeValueAsString(v);
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            Files.write(out, PngEncoder.encode(res.images().get(i), text));
            err.println("wrote " + out.toAbsolutePath());
        }
    }

    private static double dbl(Map<String, String> o, String key, double dflt) {
        String v = o.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + key + ": not a number: " + v);
        }
    }

    static Map<String, String> parse(String[] args) {
        Map<String, String> o = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                o.put("help", "");
                continue;
            }
            if (!a.startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument: " + a);
            }
            String key = a.substring(2);
            String value;
            int eq = key.indexOf('=');
            if (eq >= 0) {
                value = key.substring(eq + 1);
                key = key.substring(0, eq);
            } else {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException("--" + key + " needs a value");
                }
                value = args[++i];
            }
            if (!OPTIONS.containsKey(key)) {
                throw new IllegalArgumentException("unknown option --" + key);
            }
            o.put(key, value);
        }
        return o;
    }
}
