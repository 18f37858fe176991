package dev.jdiffuse.server;

import dev.jdiffuse.server.api.Limits;
import dev.jdiffuse.server.models.ModelBudget;
import org.junit.jupiter.api.Test;

import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Each {@code withX} copy of the server options changes exactly the component it names and keeps every other one. */
class ServerOptionsCopiesTest {

    private static final ServerOptions BASE = ServerOptions.defaults();

    @Test
    void eachCopyChangesOnlyItsComponent() throws Exception {
        check(o -> o.withPort(9999), "port");
        check(o -> o.withQueueSize(3), "queueSize");
        check(o -> o.withResultTtl(Duration.ofSeconds(5)), "resultTtl");
        check(o -> o.withLimits(new Limits(512, 512L * 512, 10, 2, 100, 1024, 1 << 20, 1 << 20, 4096)), "limits");
        check(o -> o.withSafety(new Safety(null, true, null, 1, 1, 1, 0, 1, Duration.ofSeconds(1),
                Duration.ofSeconds(1), 1, Duration.ofSeconds(3))), "safety");
        check(o -> o.withBudget(new ModelBudget(5, 0)), "budget");
        check(o -> o.withHost("0.0.0.0"), "host");
        check(o -> o.withLoras(Path.of("loras")), "loras");
        check(o -> o.withEmbeddings(Path.of("embeddings")), "embeddings");
        check(o -> o.withDevices(List.of("cpu", "cpu")), "devices");
        check(o -> o.withT5Device("cpu"), "t5Device");
        check(o -> o.withBatching(new ServerOptions.Batching(4, Duration.ofMillis(5))), "batching");
        check(o -> o.withWebhook(java.net.URI.create("http://h/x"), null), "webhookUrl");
    }

    private static void check(UnaryOperator<ServerOptions> copy, String changed) throws Exception {
        ServerOptions c = copy.apply(BASE);
        List<String> differing = new ArrayList<>();
        for (RecordComponent rc : ServerOptions.class.getRecordComponents()) {
            if (!Objects.equals(rc.getAccessor().invoke(BASE), rc.getAccessor().invoke(c))) {
                differing.add(rc.getName());
            }
        }
        assertEquals(List.of(changed), differing);
    }
}
