package dev.jdiffuse.server;

import dev.jdiffuse.models.nn.CudaGraphs;
import dev.jdiffuse.server.models.ModelLoaders;
import dev.jdiffuse.server.models.ModelRegistry;
import dev.jdiffuse.server.models.WarmUp;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code serve}: lists the entries of {@code --models} and loads the default one (the server is ready once it has
 * loaded; the others load on first use, within {@code --max-loaded-models}), then
 * serves until SIGTERM/SIGINT, when it cancels waiting jobs, lets the running one stop at its next step and exits.
 */
@Command(name = "serve", mixinStandardHelpOptions = true, description = "Serve the models of a folder over HTTP.")
class ServeCommand implements Callable<Integer> {

    private static final Logger LOG = LoggerFactory.getLogger(ServeCommand.class);

    @Mixin
    ServerFlags flags;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        return serve(spec, flags);
    }

    /** Starts the server with {@code flags} (already over the {@code JDIFFUSE_*} environment); the exit code. */
    static int serve(CommandLine.Model.CommandSpec spec, ServerFlags flags) throws IOException {
        ServerOptions options;
        try {
            options = flags.toOptions();
        } catch (IllegalArgumentException e) {
            spec.commandLine().getErr().println(e.getMessage());
            return 2;
        }
        if (flags.cudaGraphs != null) {
            if (!Files.isRegularFile(flags.cudaGraphs)) {
                spec.commandLine().getErr().println("--cuda-graphs " + flags.cudaGraphs + " is not a file");
                return 2;
            }
            // read by the models module when a scripted forward first runs on a GPU, after this
            System.setProperty(CudaGraphs.PROPERTY, flags.cudaGraphs.toAbsolutePath().toString());
        }
        if (options.loras() != null && !Files.isDirectory(options.loras())) {
            spec.commandLine().getErr().println("--loras " + options.loras() + " is not a folder");
            return 2;
        }
        ModelRegistry models;
        if (options.models() == null) {
            LOG.warn("no --models folder given: the server starts but is not ready");
            models = new ModelRegistry(List.of());
        } else if (!Files.isDirectory(options.models())) {
            spec.commandLine().getErr().println("--models " + options.models() + " is not a folder");
            return 2;
        } else {
            try {
                options.devices().forEach(ModelLoaders::device); // a device PyTorch cannot see: refused before loading
            } catch (IllegalStateException e) {
                spec.commandLine().getErr().println(e.getMessage());
                return 2;
            }
            models = ModelRegistry.open(options.models(),
                    WarmUp.warming(ModelLoaders.production(options.t5Device()), options.batching().warmup()), options.devices(),
                    options.dtype(), options.budget());
        }
        JDiffuseServer server;
        try {
            server = new JDiffuseServer(options, models);
        } catch (IllegalArgumentException e) {
            spec.commandLine().getErr().println(e.getMessage());
            models.close();
            return 2;
        }
        server.start();
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "jdiffuse-shutdown"));
        LOG.info("open http://{}:{}/ in a browser", options.host(), server.port());
        return 0;
    }
}
