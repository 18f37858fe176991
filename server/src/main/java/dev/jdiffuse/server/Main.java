package dev.jdiffuse.server;

import dev.jdiffuse.server.cli.GenerateCommand;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.List;

/**
 * Entry point: {@code java -jar jdiffuse-server.jar serve --models DIR [options]} (also without the word
 * {@code serve}), {@code generate --model DIR --prompt TEXT ...} for one image from the command line, or {@code demo}
 * to serve a tiny random-weight model that the command writes on first use. {@code --help} on each lists its options.
 */
@Command(name = "jdiffuse-server", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "A diffusion image-generation server.",
        subcommands = {ServeCommand.class, GenerateCommand.class, DemoCommand.class, HashKeyCommand.class})
public final class Main implements Runnable {

    private static final List<String> TOP_LEVEL = List.of("-h", "--help", "-V", "--version");

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Without a subcommand: the help. */
    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static void main(String[] args) {
        int code = execute(args);
        if (code != 0) {
            System.exit(code);
        }
        // serve returns once the server runs; its threads keep the process alive until SIGTERM
    }

    /** Runs the command line; flags without a subcommand mean {@code serve}, as before there were subcommands. */
    static int execute(String... args) {
        if (args.length > 0 && args[0].startsWith("-") && !TOP_LEVEL.contains(args[0])) {
            String[] withServe = new String[args.length + 1];
            withServe[0] = "serve";
            System.arraycopy(args, 0, withServe, 1, args.length);
            args = withServe;
        }
        return new CommandLine(new Main()).setDefaultValueProvider(ServerFlags.fromEnvironment(System.getenv()))
                .execute(args);
    }

    /** The version line of {@code --version}. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {"jdiffuse " + dev.jdiffuse.server.images.ImageMetadata.VERSION};
        }
    }
}
