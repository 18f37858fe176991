package dev.jdiffuse.server;

import dev.jdiffuse.server.auth.ApiKeys;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * {@code hash-key NAME}: makes a new random API key and prints it (to give to its user, once) and the line for the
 * {@code --api-keys} file, which holds only the key's SHA-256. With {@code --stdin} it hashes a key read from the
 * first line of standard input instead ({@code printf %s "$KEY" | sha256sum} gives the same hash).
 */
@Command(name = "hash-key", mixinStandardHelpOptions = true,
        description = "Make an API key and its line for the --api-keys file.")
final class HashKeyCommand implements Callable<Integer> {

    @Parameters(index = "0", description = "the key's name (letters, digits and ._@-), shown in job records, logs "
            + "and metrics")
    String name;

    @Option(names = "--options", description = "options of the line: admin, queued=N, images_per_hour=N, "
            + "priority=high|normal|low (comma-separated)")
    String options;

    @Option(names = "--stdin", description = "hash the key read from standard input instead of making one")
    boolean stdin;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public Integer call() throws IOException {
        String key;
        if (stdin) {
            key = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
            if (key == null || key.isBlank()) {
                spec.commandLine().getErr().println("no key on standard input");
                return 2;
            }
            key = key.strip();
        } else {
            key = ApiKeys.newKey();
        }
        String line = name + ":" + ApiKeys.sha256Hex(key) + (options == null || options.isBlank() ? "" : ":"
                + options.strip());
        try {
            ApiKeys.parse(List.of(line), "the line");
        } catch (IllegalArgumentException e) {
            spec.commandLine().getErr().println(e.getMessage());
            return 2;
        }
        var out = spec.commandLine().getOut();
        if (!stdin) {
            out.println("key (give it to its user; it is not stored anywhere): " + key);
        }
        out.println(line);
        out.flush();
        return 0;
    }
}
