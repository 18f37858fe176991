package dev.jdiffuse.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line: subcommands in the help, help that has no side effects, bad flags exit with 2. */
class MainTest {

    private static String stdout(Runnable r) {
        PrintStream before = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            r.run();
        } finally {
            System.setOut(before);
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    @Test
    void helpListsTheSubcommands() {
        String help = stdout(() -> assertEquals(0, Main.execute("--help")));
        for (String sub : new String[] {"serve", "generate", "demo"}) {
            assertTrue(help.contains(sub), sub + " in: " + help);
        }
        String generate = stdout(() -> assertEquals(0, Main.execute("generate", "--help")));
        assertTrue(generate.contains("edm_euler") && generate.contains("flow_euler"),
                "generate --help lists every sampler of the table: " + generate);
    }

    @Test
    void demoHelpWritesNothing(@TempDir Path tmp) {
        Path models = tmp.resolve("demo-models");
        String help = stdout(() -> assertEquals(0, Main.execute("demo", "--models", models.toString(), "--help")));
        assertTrue(help.contains("--max-steps") && help.contains("JDIFFUSE_QUEUE_SIZE"), help);
        assertFalse(Files.exists(models), "demo --help must not write the demo model");
    }

    @Test
    void badFlagsExitWithTwo() {
        PrintStream before = System.err;
        System.setErr(new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        try {
            assertEquals(2, Main.execute("serve", "--port", "not-a-number"));
            assertEquals(2, Main.execute("--no-such-flag"));
        } finally {
            System.setErr(before);
        }
    }

    @Test
    void badDeviceListsExitWithTwoAndSayWhy(@TempDir Path models) {
        PrintStream before = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            assertEquals(2, Main.execute("serve", "--models", models.toString(), "--devices", "cuda:0,,cuda:1"));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains("--devices 'cuda:0,,cuda:1' has an empty entry"),
                    err.toString(StandardCharsets.UTF_8));
            // a GPU PyTorch cannot see is refused before any model loads (no host has 100 GPUs)
            assertEquals(2, Main.execute("serve", "--models", models.toString(), "--devices", "cpu,cuda:99"));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains("device cuda:99: "),
                    err.toString(StandardCharsets.UTF_8));
            // a CUDA-graph helper that is not there is refused, not silently ignored
            Path missing = models.resolve("libjdiffuse_cudagraphs.so");
            assertEquals(2, Main.execute("serve", "--models", models.toString(), "--cuda-graphs", missing.toString()));
            assertTrue(err.toString(StandardCharsets.UTF_8).contains("--cuda-graphs " + missing + " is not a file"),
                    err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setErr(before);
        }
    }
}
