package dev.jdiffuse.server;

import dev.jdiffuse.samplers.SamplerCatalog;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** docs/samplers.md names every sampler of the catalogue (as {@code `name`}), so the guide cannot fall behind it. */
class SamplerDocsTest {

    @Test
    void everySamplerIsInTheGuide() throws IOException {
        Path doc = Path.of(System.getProperty("maven.multiModuleProjectDirectory", ".."), "docs", "samplers.md");
        if (!Files.exists(doc)) {
            doc = Path.of("..", "docs", "samplers.md");
        }
        String md = Files.readString(doc);
        List<String> missing = SamplerCatalog.names().stream().filter(n -> !md.contains("`" + n + "`")).toList();
        assertEquals(List.of(), missing, "samplers missing from docs/samplers.md");
        assertEquals(true, md.contains(SamplerCatalog.names().size() + " samplers"), "the guide's count is "
                + SamplerCatalog.names().size());
    }
}
