package dev.jdiffuse.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.Keys;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.interactions.Actions;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.function.BooleanSupplier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The browser's image-to-image / inpainting workflow against a real pipeline (the tiny SD1.5 fixture, an ordinary
 * 4-channel model): headless Chromium picks an init image, paints a mask on the overlay canvas with pointer events
 * (Selenium's Actions), tries invert and clear, runs an inpaint with paste-back and checks that the mask the page
 * uploaded is a black/white PNG of the init image's size, that the result keeps the init image outside the mask
 * and changes it inside, that "Use as init image" and "Reuse parameters" work, and that outpainting pads and the
 * hires fix reach the server.
 * With {@code -Dui.screenshot.docs=true} it also writes {@code docs/ui-screenshot.png} from a server serving the
 * default model ({@code models-default/emoji-sd}). Skips when Chromium, chromedriver or the fixtures are missing.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class InpaintBrowserTest {

    private static final Path CHROMIUM = Path.of(env("CHROMIUM_BIN", "/usr/bin/chromium"));
    private static final Path CHROMEDRIVER = Path.of(env("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"));
    private static final String INIT = "inpaint/sd15_4ch/init.png";

    private static ChromeDriver driver;
    private static Path profile;

    @BeforeAll
    static void startBrowser() throws IOException {
        if (!Files.isExecutable(CHROMIUM) || !Files.isExecutable(CHROMEDRIVER)) {
            return;
        }
        profile = Files.createTempDirectory("jdiffuse-chromium-");
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + profile, "--window-size=1366,900", "--force-device-scale-factor=1",
                "--hide-scrollbars");
        driver = new ChromeDriver(new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build(), options);
    }

    @AfterAll
    static void stopBrowser() throws IOException {
        if (driver != null) {
            driver.quit();
        }
        if (profile != null) {
            try (var paths = Files.walk(profile)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    @Order(1)
    void paintedMaskInpaintsAndKeepsTheRest() throws Exception {
        Assumptions.assumeTrue(driver != null, "chromium/chromedriver missing");
        Assumptions.assumeTrue(Fixtures.present("layouts/sd15/model") && Fixtures.present("inpaint/sd15_4ch"),
                "fixtures missing");
        Path models = Files.createTempDirectory("jdiffuse-models");
        TestServer.linkFixture(models, "tiny-sd15", "layouts/sd15/model");
        try (TestServer ts = TestServer.overModels(models)) {
            open(ts);
            js("window.__uploads = []; window.__bodies = []; const f = window.fetch;"
                    + "window.fetch = async (u, init) => { if (u === '/v1/generations' && init && init.method === 'POST')"
                    + " window.__bodies.push(init.body); if (u === '/v1/uploads' && init && init.body instanceof Blob)"
                    + " { const r = new FileReader(); r.readAsDataURL(init.body);"
                    + " await new Promise((ok) => { r.onload = ok; }); window.__uploads.push(r.result); }"
                    + " return f(u, init); };");
            byId("img2img-section").findElement(By.tagName("summary")).click();
            Path init = Fixtures.root().resolve(INIT).toAbsolutePath();
            BufferedImage initImage = ImageIO.read(init.toFile());
            byId("init-file").sendKeys(init.toString());
            waitFor("the init image upload", Duration.ofSeconds(20),
                    () -> byId("init-status").getText().contains("uploaded"));
            assertEquals(String.valueOf(initImage.getWidth()), byId("width").getDomProperty("value"),
                    "the generation size follows the init image");

            WebElement canvas = byId("mask-canvas");
            stroke(canvas);
            long painted = painted();
            long total = (long) initImage.getWidth() * initImage.getHeight();
            assertTrue(painted > 0 && painted < total / 4, "a brush stroke, not the whole image: " + painted);
            byId("mask-invert").click();
            assertEquals(total - painted, painted(), "invert swaps painted and unpainted pixels");
            byId("mask-clear").click();
            assertEquals(0, painted(), "clear empties the mask");
            byId("mask-invert").click();
            byId("mask-invert").click();
            assertEquals(0, painted(), "inverting twice restores the (empty) mask");
            stroke(canvas);
            byId("mask-eraser").click();
            stroke(canvas);
            assertEquals(0, painted(), "the eraser removes the same stroke");
            byId("mask-eraser").click();
            byId("mask-clear").click(); // the eraser leaves faint (< 0.5 alpha) edges that a new stroke would add to
            stroke(canvas);
            assertEquals(painted, painted(), "the same stroke again");
            Files.createDirectories(Path.of("target"));
            Files.write(Path.of("target", "ui-inpaint-mask.png"), driver.getScreenshotAs(OutputType.BYTES));

            type("prompt", "a bowl of ramen");
            type("steps", "4");
            type("seed", "7");
            type("mask_blur", "0");
            assertTrue(byId("paste_back").isSelected(), "paste back is on by default");
            byId("generate").click();
            waitFor("the inpainted result", Duration.ofSeconds(90), () -> galleryImages() == 1);

            List<?> uploads = (List<?>) js("return window.__uploads");
            assertEquals(2, uploads.size(), "the init image and the mask were uploaded");
            BufferedImage mask = decode((String) uploads.get(1));
            assertEquals(initImage.getWidth(), mask.getWidth(), "the mask has the init image's width");
            assertEquals(initImage.getHeight(), mask.getHeight(), "the mask has the init image's height");

            String job = driver.findElement(By.cssSelector("#gallery .card")).getDomAttribute("data-job");
            JsonNode record = ts.get("/v1/generations/" + job).json();
            JsonNode p = record.get("parameters");
            assertTrue(p.hasNonNull("mask") && p.hasNonNull("init_image"), p.toString());
            assertTrue(p.get("paste_back").asBoolean(), p.toString());
            BufferedImage got = ImageIO.read(new ByteArrayInputStream(
                    ts.get("/v1/generations/" + job + "/images/0").raw().body()));
            assertEquals(initImage.getWidth(), got.getWidth());

            double[] outside = new double[2];
            double[] inside = new double[2];
            for (int y = 0; y < mask.getHeight(); y++) {
                for (int x = 0; x < mask.getWidth(); x++) {
                    int m = mask.getRGB(x, y) & 0xffffff;
                    assertTrue(m == 0 || m == 0xffffff, "the mask is black and white: " + Integer.toHexString(m));
                    double[] acc = m == 0 ? outside : inside;
                    acc[0] += meanAbsDiff(initImage.getRGB(x, y), got.getRGB(x, y));
                    acc[1]++;
                }
            }
            assertEquals((double) painted, inside[1], "the uploaded mask is the painted one");
            double keptDiff = outside[0] / outside[1];
            double paintedDiff = inside[0] / inside[1];
            System.err.printf("[InpaintBrowserTest] mean |diff| outside the mask %.3f, inside %.3f levels%n",
                    keptDiff, paintedDiff);
            assertTrue(keptDiff < 1.0, "unmasked pixels keep the init image (mean |diff| " + keptDiff + " levels)");
            assertTrue(paintedDiff > 5 * Math.max(keptDiff, 1.0),
                    "the masked region was repainted (mean |diff| " + paintedDiff + " vs " + keptDiff + ")");

            // the result goes back as the next init image, with an empty mask
            driver.findElement(By.cssSelector("#gallery .card .card-init")).click();
            waitFor("the result as init image", Duration.ofSeconds(20),
                    () -> ((List<?>) js("return window.__uploads")).size() == 3
                            && byId("init-status").getText().contains("uploaded"));
            assertEquals(0, painted(), "a new init image starts with an empty mask");

            // "Reuse parameters" restores the inpainting switches
            byId("paste_back").click();
            type("mask_blur", "9");
            driver.findElement(By.cssSelector("#gallery .card .card-reuse")).click();
            assertTrue(byId("paste_back").isSelected());
            assertEquals("0", byId("mask_blur").getDomProperty("value"));

            // outpainting the result: pads on two sides, no mask; the canvas size follows from the pads
            type("outpaint_left", "16");
            type("outpaint_bottom", "8");
            byId("generate").click();
            waitFor("the outpainted result", Duration.ofSeconds(90), () -> galleryImages() == 2);
            JsonNode sent = lastBody();
            assertEquals(16, sent.at("/outpaint/left").asInt(), sent.toString());
            assertTrue(!sent.has("mask") && !sent.has("width") && sent.has("init_image"), sent.toString());
            BufferedImage wide = resultImage(ts);
            assertEquals(initImage.getWidth() + 16, wide.getWidth());
            assertEquals(initImage.getHeight() + 8, wide.getHeight());

            // the hires fix on a text-to-image job: 64x64 upscaled twice
            byId("init-remove").click();
            type("outpaint_left", "0");
            type("outpaint_bottom", "0");
            byId("hires-section").findElement(By.tagName("summary")).click();
            byId("hires_enabled").click();
            type("hires_steps", "2");
            type("steps", "2");
            type("width", "64");
            type("height", "64");
            byId("generate").click();
            waitFor("the hires result", Duration.ofSeconds(90), () -> galleryImages() == 3);
            sent = lastBody();
            assertTrue(!sent.has("init_image") && sent.at("/hires/scale").asDouble() == 2, sent.toString());
            assertEquals(128, resultImage(ts).getWidth(), "the hires fix doubles the size");
            assertTrue(driver.findElement(By.cssSelector("#gallery .card .card-meta")).getText().contains("hires"));
        }
    }

    /** Writes docs/ui-screenshot.png: the UI after a real 128x128 picture by the default model (opt-in). */
    @Test
    @Order(2)
    void docsScreenshotWithTheDefaultModel() throws Exception {
        Assumptions.assumeTrue(Boolean.getBoolean("ui.screenshot.docs"), "-Dui.screenshot.docs=true writes it");
        Assumptions.assumeTrue(driver != null, "chromium/chromedriver missing");
        Path models = Path.of("..", "models-default");
        Assumptions.assumeTrue(Files.isDirectory(models.resolve("emoji-sd")), "models-default/emoji-sd missing");
        try (TestServer ts = TestServer.overModels(models)) {
            open(ts);
            type("prompt", "red apple, food fruit, 3d render");
            type("width", "128");
            type("height", "128");
            type("steps", "20");
            type("guidance_scale", "5");
            driver.findElement(By.cssSelector("#sampler option[value='euler']")).click();
            type("seed", "42");
            byId("generate").click();
            waitFor("the picture", Duration.ofSeconds(180), () -> galleryImages() == 1);
            waitFor("the progress line to report the end", Duration.ofSeconds(10),
                    () -> byId("progress-text").getText().startsWith("Done"));
            js("window.scrollTo(0, 0); document.activeElement.blur()");
            byte[] png = driver.getScreenshotAs(OutputType.BYTES);
            Path docs = Path.of("..", "docs", "ui-screenshot.png");
            Files.write(docs, png);
            System.err.println("[InpaintBrowserTest] wrote " + docs.toAbsolutePath());
        }
    }

    /**
     * The SDXL refiner (its parity fixture in the models module, served by the production loaders): the aesthetic
     * scores appear for it alone, are sent with the request, and the job records them; the result shows up.
     */
    @Test
    @Order(3)
    void refinerAestheticScoresAreShownSentAndRecorded() throws Exception {
        Assumptions.assumeTrue(driver != null, "chromium/chromedriver missing");
        Path refiner = Path.of("..", "models", "src", "test", "resources", "fixtures", "sdxl_refiner", "model")
                .toAbsolutePath().normalize();
        Assumptions.assumeTrue(Files.isDirectory(refiner) && Fixtures.present("layouts/sd15/model"),
                "refiner or sd15 fixture missing");
        Path models = Files.createTempDirectory("jdiffuse-models");
        Files.createSymbolicLink(models.resolve("refiner"), refiner);
        TestServer.linkFixture(models, "tiny-sd15", "layouts/sd15/model");
        try (TestServer ts = TestServer.overModels(models)) {
            open(ts);
            js("window.__bodies = []; const f = window.fetch; window.fetch = async (u, init) => {"
                    + " if (u === '/v1/generations' && init && init.method === 'POST') window.__bodies.push(init.body);"
                    + " return f(u, init); };");
            byId("advanced-section").findElement(By.tagName("summary")).click();
            driver.findElement(By.cssSelector("#model option[value='tiny-sd15']")).click();
            assertTrue(!byId("refiner-scores").isDisplayed(), "no aesthetic scores for an SD 1.5 model");
            driver.findElement(By.cssSelector("#model option[value='refiner']")).click();
            assertTrue(byId("refiner-scores").isDisplayed(), "the refiner's aesthetic scores are offered");
            type("prompt", "a lighthouse at dusk");
            type("steps", "2");
            type("aesthetic_score", "7.5");
            type("negative_aesthetic_score", "1.5");
            byId("generate").click();
            waitFor("the refiner's result", Duration.ofSeconds(90), () -> galleryImages() == 1);
            JsonNode body = lastBody();
            assertEquals(7.5, body.path("aesthetic_score").asDouble(), body.toString());
            assertEquals(1.5, body.path("negative_aesthetic_score").asDouble(), body.toString());
            JsonNode params = ts.get("/v1/generations").json().path("generations").path(0).path("parameters");
            assertEquals(7.5, params.path("aesthetic_score").asDouble(), params.toString());
            assertEquals(1.5, params.path("negative_aesthetic_score").asDouble(), params.toString());
        }
    }

    /**
     * A FLUX.1 model (the dev layout fixture): the page hides the negative prompt (FLUX runs without classifier-free
     * guidance and the server refuses one), offers only flow samplers, steps sizes by 16 (2x2 packing), applies dev's
     * defaults, and a generation
     * sent from the page succeeds; switching back to an SD model offers the negative prompt again.
     */
    @Test
    @Order(4)
    void fluxHidesTheNegativePromptAndStepsSizesBySixteen() throws Exception {
        Assumptions.assumeTrue(driver != null, "chromium/chromedriver missing");
        Assumptions.assumeTrue(Fixtures.present("layouts/flux_dev/model") && Fixtures.present("layouts/sd15/model"),
                "flux_dev or sd15 fixture missing");
        Path models = Files.createTempDirectory("jdiffuse-models");
        TestServer.linkFixture(models, "flux-dev", "layouts/flux_dev/model");
        TestServer.linkFixture(models, "tiny-sd15", "layouts/sd15/model");
        try (TestServer ts = TestServer.overModels(models)) {
            waitFor("both models loaded", Duration.ofSeconds(60), () -> {
                try {
                    JsonNode list = ts.get("/v1/models").json().get("models");
                    return list.get(0).path("loaded").asBoolean() && list.get(1).path("loaded").asBoolean();
                } catch (Exception e) {
                    return false;
                }
            });
            open(ts);
            js("window.__bodies = []; const f = window.fetch; window.fetch = async (u, init) => {"
                    + " if (u === '/v1/generations' && init && init.method === 'POST') window.__bodies.push(init.body);"
                    + " return f(u, init); };");
            driver.findElement(By.cssSelector("#model option[value='tiny-sd15']")).click();
            assertTrue(byId("negative_prompt").isDisplayed(), "SD 1.5 takes a negative prompt");
            assertEquals("8", byId("width").getDomProperty("step"));
            assertTrue(samplerOffered("ddim") && !samplerOffered("flow_euler"), "SD 1.5: diffusion samplers only");
            pick("sampler", "euler");
            assertTrue(offered("schedule", "karras"), "Euler walks sigmas a schedule may respace");
            pick("schedule", "karras");
            pick("sampler", "ddim");
            assertTrue(!offered("schedule", "karras") && offered("schedule", "default"), "DDIM takes no respacing");
            assertEquals("default", byId("schedule").getDomProperty("value"), "a refused schedule falls back");
            driver.findElement(By.cssSelector("#model option[value='flux-dev']")).click();
            assertTrue(!byId("negative_prompt").isDisplayed(), "FLUX takes no negative prompt");
            assertEquals("16", byId("width").getDomProperty("step"), "FLUX sides are multiples of 16");
            assertEquals("3.5", byId("guidance_scale").getDomProperty("value"), "FLUX.1-dev's default guidance");
            assertTrue(samplerOffered("flow_euler") && !samplerOffered("ddim"), "FLUX: flow samplers only");
            assertEquals("flow_euler", byId("sampler").getDomProperty("value"), "the model's default sampler");
            type("prompt", "a red fox in fresh snow");
            type("steps", "2");
            type("width", "128");
            type("height", "128");
            byId("generate").click();
            waitFor("the FLUX result", Duration.ofSeconds(90), () -> galleryImages() == 1);
            JsonNode body = lastBody();
            assertEquals("flux-dev", body.path("model").asText(), body.toString());
            assertTrue(body.path("negative_prompt").asText("").isEmpty(), body.toString());
            JsonNode job = ts.get("/v1/generations").json().path("generations").path(0);
            assertEquals("succeeded", job.path("status").asText(), job.toString());
            assertTrue(body.path("guidance_rescale").isMissingNode(), "CFG rescale is not offered for FLUX: " + body);
            // true CFG above 1 brings the negative prompt back, and both are sent
            if (!"true".equals(byId("advanced-section").getDomProperty("open"))) {
                byId("advanced-section").findElement(By.tagName("summary")).click();
            }
            assertTrue(byId("true_cfg_scale").isDisplayed(), "FLUX offers its true CFG scale");
            type("true_cfg_scale", "3");
            assertTrue(byId("negative_prompt").isDisplayed(), "true CFG takes a negative prompt");
            type("negative_prompt", "blurry");
            byId("generate").click();
            waitFor("the true-CFG result", Duration.ofSeconds(90), () -> galleryImages() == 2);
            body = lastBody();
            assertEquals(3.0, body.path("true_cfg_scale").asDouble(), body.toString());
            assertEquals("blurry", body.path("negative_prompt").asText(), body.toString());
            job = ts.get("/v1/generations").json().path("generations").path(0);
            assertEquals("succeeded", job.path("status").asText(), job.toString());
            driver.findElement(By.cssSelector("#model option[value='tiny-sd15']")).click();
            assertTrue(!byId("true_cfg_scale").isDisplayed(), "only FLUX takes a true CFG scale");
            assertTrue(byId("negative_prompt").isDisplayed(), "the negative prompt comes back for SD 1.5");
        }
    }

    /** Whether the sampler choice offers {@code name} (present, neither hidden nor disabled). */
    private static boolean samplerOffered(String name) {
        return offered("sampler", name);
    }

    /** Whether the select {@code id} offers {@code value} (present, neither hidden nor disabled). */
    private static boolean offered(String id, String value) {
        return (Boolean) js("const o = [...document.getElementById('" + id + "').options].find(x => x.value === '"
                + value + "'); return !!o && !o.hidden && !o.disabled;");
    }

    /** Chooses {@code value} in the select {@code id} as a user would (firing its change event). */
    private static void pick(String id, String value) {
        js("const s = document.getElementById('" + id + "'); s.value = '" + value + "';"
                + " s.dispatchEvent(new Event('change', {bubbles: true}));");
    }

    private static void open(TestServer ts) {
        driver.get(ts.base + "/");
        js("localStorage.clear()");
        driver.navigate().refresh();
        waitFor("the model list", Duration.ofSeconds(20), () -> !((List<?>) js(
                "return [...document.getElementById('model').options].map(o => o.value)")).isEmpty());
    }

    private static JsonNode lastBody() throws IOException {
        return TestServer.JSON.readTree((String) js("return window.__bodies.at(-1)"));
    }

    /** Image 0 of the newest gallery card's job, as the server made it. */
    private static BufferedImage resultImage(TestServer ts) throws Exception {
        String job = driver.findElement(By.cssSelector("#gallery .card")).getDomAttribute("data-job");
        return ImageIO.read(new ByteArrayInputStream(ts.get("/v1/generations/" + job + "/images/0").raw().body()));
    }

    /** A horizontal stroke through the middle, from a quarter of the width left of the centre to the centre. */
    private static void stroke(WebElement canvas) {
        int w = canvas.getRect().getWidth();
        new Actions(driver).moveToElement(canvas, -w / 4, 0).clickAndHold()
                .moveByOffset(w / 8, 0).moveByOffset(w / 8, 0).release().perform();
    }

    /** Mask pixels painted at least half opaque (what the page uploads as white). */
    private static long painted() {
        return ((Number) js("const c = document.getElementById('mask-canvas');"
                + "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
                + "for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) n++; return n;")).longValue();
    }

    private static double meanAbsDiff(int a, int b) {
        double s = 0;
        for (int shift = 0; shift <= 16; shift += 8) {
            s += Math.abs(((a >> shift) & 0xff) - ((b >> shift) & 0xff));
        }
        return s / 3;
    }

    private static BufferedImage decode(String dataUrl) throws IOException {
        assertTrue(dataUrl.startsWith("data:image/png;base64,"), dataUrl.substring(0, 40));
        byte[] bytes = Base64.getDecoder().decode(dataUrl.substring(dataUrl.indexOf(',') + 1));
        return ImageIO.read(new ByteArrayInputStream(bytes));
    }

    private static int galleryImages() {
        return ((Number) js("return [...document.querySelectorAll('#gallery .card-img')]"
                + ".filter(i => i.naturalWidth > 0).length")).intValue();
    }

    private static Object js(String script) {
        return ((JavascriptExecutor) driver).executeScript(script);
    }

    private static WebElement byId(String id) {
        return driver.findElement(By.id(id));
    }

    private static void type(String id, String text) {
        PageActions.type(driver, id, text);
    }

    private static void waitFor(String what, Duration timeout, BooleanSupplier condition) {
        PageActions.waitFor(driver, what, timeout, condition);
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}
