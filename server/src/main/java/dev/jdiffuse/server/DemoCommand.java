package dev.jdiffuse.server;

import dev.jdiffuse.models.demo.TinyPipelineWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code demo}: serves the default model that ships with the project ({@value #DEFAULT_MODELS}: {@code emoji-sd}, a
 * small text-to-image model trained on openly licensed emoji art, docs/default-model.md) like {@code serve}. Run
 * elsewhere than the checkout, where that folder is absent, it writes the tiny random-weight pipeline of
 * {@link TinyPipelineWriter} once into {@value #DEMO_MODELS} (its pictures are noise) and serves that.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Write a tiny demo model (once) and serve it.")
final class DemoCommand extends ServeCommand {

    private static final Logger LOG = LoggerFactory.getLogger(DemoCommand.class);

    /** The models folder of the checkout, holding the trained default model. */
    static final String DEFAULT_MODELS = "models-default";

    /** Folder the random-weight fallback is written to. */
    static final String DEMO_MODELS = "demo-models";

    @Override
    public Integer call() throws IOException {
        if (flags.models == null && Files.isDirectory(Path.of(DEFAULT_MODELS, "emoji-sd"))) {
            flags.models = Path.of(DEFAULT_MODELS);
            return ServeCommand.serve(spec, flags);
        }
        if (flags.models == null) {
            flags.models = Path.of(DEMO_MODELS);
        }
        Path tiny = flags.models.resolve("tiny-sd");
        if (!Files.exists(tiny.resolve("model_index.json"))) {
            LOG.info("writing the demo model (random weights, never trained: its pictures are coloured noise) to {}",
                    tiny.toAbsolutePath());
            TinyPipelineWriter.write(tiny, 2026);
        }
        return ServeCommand.serve(spec, flags);
    }
}
