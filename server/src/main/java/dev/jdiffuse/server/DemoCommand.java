package dev.jdiffuse.server;

import dev.jdiffuse.models.demo.TinyPipelineWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code demo}: makes sure a models folder with the tiny random-weight demo pipeline exists (written once by
 * {@link TinyPipelineWriter} into {@code --models}, default {@value #DEMO_MODELS}), then serves it like {@code serve}.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Write a tiny demo model (once) and serve it.")
final class DemoCommand extends ServeCommand {

    private static final Logger LOG = LoggerFactory.getLogger(DemoCommand.class);

    /** Folder the demo serves unless {@code --models} is given. */
    static final String DEMO_MODELS = "demo-models";

    @Override
    public Integer call() throws IOException {
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
