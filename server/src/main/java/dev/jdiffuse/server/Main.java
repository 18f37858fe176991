package dev.jdiffuse.server;

import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.util.List;

/**
 * Entry point: {@code java -jar jdiffuse-server.jar [serve] --models DIR [--port 8765] [--host 127.0.0.1] ...}, or
 * {@code java -jar jdiffuse-server.jar generate --model DIR --prompt TEXT ...} for one image from the command line
 * ({@link dev.jdiffuse.server.cli.GenerateCommand}), or {@code demo} to serve a tiny random-weight model that the
 * command writes on first use. Loads every
 * entry of {@code --models} at start-up (eagerly: the server is ready only once at least one loaded), then serves
 * until SIGTERM/SIGINT, when it cancels waiting jobs, lets the running one stop at its next step and exits.
 */
public final class Main {

    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    private Main() {
    }

    /** Folder the {@code demo} command serves unless {@code --models} is given. */
    static final String DEMO_MODELS = "demo-models";

    /**
     * {@code demo}: makes sure a models folder with the tiny random-weight demo pipeline exists (written once by
     * {@link dev.jdiffuse.models.demo.TinyPipelineWriter}), then serves it with the remaining options.
     */
    static String[] demo(String[] args) {
        List<String> rest = new java.util.ArrayList<>(List.of(args));
        int i = rest.indexOf("--models");
        java.nio.file.Path models = java.nio.file.Path.of(i >= 0 && i + 1 < rest.size() ? rest.get(i + 1) : DEMO_MODELS);
        java.nio.file.Path tiny = models.resolve("tiny-sd");
        if (!Files.exists(tiny.resolve("model_index.json"))) {
            LOG.info("writing the demo model (random weights, never trained: its pictures are coloured noise) to {}",
                    tiny.toAbsolutePath());
            dev.jdiffuse.models.demo.TinyPipelineWriter.write(tiny, 2026);
        }
        if (i < 0) {
            rest.add("--models");
            rest.add(models.toString());
        }
        return rest.toArray(String[]::new);
    }

    public static void main(String[] args) throws Exception {
        if (args.length > 0 && args[0].equals("generate")) {
            dev.jdiffuse.server.cli.GenerateCommand.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args.length > 0 && args[0].equals("serve")) {
            args = java.util.Arrays.copyOfRange(args, 1, args.length);
        }
        if (args.length > 0 && args[0].equals("demo")) {
            args = demo(java.util.Arrays.copyOfRange(args, 1, args.length));
        }
        if (List.of(args).contains("--help") || List.of(args).contains("-h")) {
            System.out.print(ServerOptions.usage());
            return;
        }
        ServerOptions options;
        try {
            options = ServerOptions.parse(List.of(args), System.getenv());
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.print(ServerOptions.usage());
            System.exit(2);
            return;
        }
        ModelRegistry models;
        if (options.models() == null) {
            LOG.warn("no --models folder given: the server starts but is not ready");
            models = new ModelRegistry(List.of());
        } else if (!Files.isDirectory(options.models())) {
            System.err.println("--models " + options.models() + " is not a folder");
            System.exit(2);
            return;
        } else {
            models = ModelRegistry.load(options.models(), ModelLoaders.production(), options.device(),
                    options.dtype());
        }
        JDiffuseServer server = new JDiffuseServer(options, models).start();
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "jdiffuse-shutdown"));
        LOG.info("open http://{}:{}/ in a browser", options.host(), server.port());
    }
}
