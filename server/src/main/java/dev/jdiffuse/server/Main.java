package dev.jdiffuse.server;

import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Files;
import java.util.List;

/**
 * Entry point: {@code java -jar jdiffuse-server.jar --models DIR [--port 8765] [--host 127.0.0.1] ...}. Loads every
 * entry of {@code --models} at start-up (eagerly: the server is ready only once at least one loaded), then serves
 * until SIGTERM/SIGINT, when it cancels waiting jobs, lets the running one stop at its next step and exits.
 */
public final class Main {

    private static final Logger LOG = LoggerFactory.getLogger(Main.class);

    private Main() {
    }

    public static void main(String[] args) throws Exception {
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
