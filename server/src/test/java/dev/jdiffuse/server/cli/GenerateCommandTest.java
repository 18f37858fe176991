package dev.jdiffuse.server.cli;

import dev.jdiffuse.server.images.PngText;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GenerateCommandTest {

    @Test
    void writesAPngWithItsParametersFromAFolderAndFromASingleFile(@TempDir Path tmp) throws Exception {
        Path model = Fixtures.require("pipeline_sd1/model");
        Path single = Fixtures.require("single_file_sd1").resolve("sd1-tiny.safetensors");
        Path a = tmp.resolve("a.png");
        Path b = tmp.resolve("b.png");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(log, true, StandardCharsets.UTF_8);
        assertEquals(0, GenerateCommand.run(new String[] {"--model", model.toString(), "--prompt", "a red apple",
                "--steps", "3", "--width", "64", "--height", "64", "--seed", "11", "--sampler", "euler",
                "--output", a.toString()}, err), log.toString());
        assertEquals(0, GenerateCommand.run(new String[] {"--model", single.toString(), "--config", model.toString(),
                "--prompt", "a red apple", "--steps", "3", "--width", "64", "--height", "64", "--seed", "11",
                "--sampler", "euler", "--output", b.toString()}, err), log.toString());
        assertTrue(log.toString().contains("3/3"), "progress bar: " + log);
        BufferedImage ia = ImageIO.read(a.toFile());
        BufferedImage ib = ImageIO.read(b.toFile());
        assertEquals(64, ia.getWidth());
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                assertEquals(ia.getRGB(x, y), ib.getRGB(x, y), "single file and folder give the same pixels");
            }
        }
        Map<String, String> text = PngText.read(Files.readAllBytes(a));
        assertTrue(text.get("parameters").startsWith("a red apple"), text.toString());
        assertTrue(text.get("parameters").contains("Seed: 11"), text.toString());
    }

    @Test
    void inpaintsWithAMaskAndRunsTheHiresFix(@TempDir Path tmp) throws Exception {
        Path model = Fixtures.require("inpaint/sd15_9ch/model");
        Path c = Fixtures.require("inpaint/sd15_9ch");
        Path a = tmp.resolve("inpaint.png");
        Path b = tmp.resolve("hires.png");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(log, true, StandardCharsets.UTF_8);
        assertEquals(0, GenerateCommand.run(new String[] {"--model", model.toString(), "--prompt", "a fox",
                "--steps", "2", "--width", "128", "--height", "128", "--seed", "4", "--init-image",
                c.resolve("init.png").toString(), "--mask", c.resolve("mask.png").toString(), "--mask-blur", "2",
                "--paste-back", "--output", a.toString()}, err), log.toString());
        assertTrue(PngText.read(Files.readAllBytes(a)).get("parameters").contains("Mask blur: 2"), log.toString());
        assertEquals(0, GenerateCommand.run(new String[] {"--model", model.toString(), "--prompt", "a fox",
                "--steps", "2", "--width", "64", "--height", "64", "--seed", "4", "--hires-scale", "1.5",
                "--hires-steps", "1", "--hires-strength", "0.4", "--output", b.toString()}, err), log.toString());
        assertEquals(96, ImageIO.read(b.toFile()).getWidth());
        assertTrue(PngText.read(Files.readAllBytes(b)).get("parameters").contains("Hires upscale: 1.5, Hires steps: 1"),
                log.toString());
        assertEquals(2, GenerateCommand.run(new String[] {"--model", model.toString(), "--prompt", "a fox",
                "--mask", c.resolve("mask.png").toString()}, err), "a mask without an init image");
        assertTrue(log.toString().contains("(mask)"), log.toString());
    }

    @Test
    void usageErrorsExitWithTwo() throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(log, true, StandardCharsets.UTF_8);
        assertEquals(2, GenerateCommand.run(new String[] {"--prompt", "x"}, err));
        assertEquals(2, GenerateCommand.run(new String[] {"--model", "m", "--prompt", "x", "--bogus", "1"}, err));
        assertTrue(log.toString().contains("--bogus"), log.toString());
        assertEquals(2, GenerateCommand.run(new String[] {"--model", "m", "--prompt", "x", "--width", "64.5"}, err),
                "a fractional width is refused, not truncated");
    }
}
