package dev.jdiffuse.server;

import dev.jdiffuse.models.pipeline.VaeTiling;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
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

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The browser UI end to end: Debian's headless Chromium (through chromedriver) opens the UI served by a real server
 * on an ephemeral port around the {@link ScriptedPipeline}, submits prompts, sees API errors next to their field,
 * sees the live preview change while the job runs (JPEG previews, and raw latents rendered in the page), and the
 * final image land in the gallery. Saves a screenshot to {@code target/ui-screenshot.png} (the README's picture,
 * made with the real default model, comes from {@link InpaintBrowserTest} with {@code -Dui.screenshot.docs=true}).
 * Skips with a notice when Chromium or chromedriver is missing ({@code .ci/run} installs both).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class BrowserEndToEndTest {

    private static final Path CHROMIUM = Path.of(env("CHROMIUM_BIN", "/usr/bin/chromium"));
    private static final Path CHROMEDRIVER = Path.of(env("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"));
    private static final Duration WAIT = Duration.ofSeconds(20);
    /** Slow enough that a job spans several previews, fast enough that the class takes seconds. */
    private static final long STEP_MILLIS = 120;

    /** Selenium warns that it has no DevTools bindings for this Chromium; the test uses none. Kept referenced. */
    private static final Logger DEVTOOLS_LOG = quiet("org.openqa.selenium.devtools");

    private static TestServer ts;
    private static ChromeDriver driver;
    private static Path profile;

    @BeforeAll
    static void start() throws IOException {
        if (!browserPresent()) {
            System.err.println("[BrowserEndToEndTest] skipped: " + CHROMIUM + " or " + CHROMEDRIVER
                    + " is missing (apt-get install chromium chromium-driver)");
            return;
        }
        profile = Files.createTempDirectory("jdiffuse-chromium-");
        Path loras = Files.createDirectories(profile.resolve("loras"));
        SafetensorsWriter.write(loras.resolve("paper-cut.safetensors"), Map.of(
                "lora_unet_mid_block_attentions_0_proj_in.lora_down.weight", TensorData.ofFloats(new long[] {2, 4},
                        new float[8]),
                "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight", TensorData.ofFloats(new long[] {4, 2},
                        new float[8])));
        Path embeddings = Files.createDirectories(profile.resolve("embeddings"));
        SafetensorsWriter.write(embeddings.resolve("paper-bird.safetensors"), Map.of("emb_params",
                TensorData.ofFloats(new long[] {1, 8}, new float[8])));
        ts = new TestServer(ServerOptions.defaults().withLoras(loras).withEmbeddings(embeddings),
                new ScriptedPipeline(STEP_MILLIS));
        ChromeOptions options = new ChromeOptions();
        options.setBinary(CHROMIUM.toFile());
        options.addArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--user-data-dir=" + profile, "--window-size=1366,900",
                "--force-device-scale-factor=1", "--hide-scrollbars");
        ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                .usingAnyFreePort().build();
        driver = new ChromeDriver(service, options);
        driver.get(ts.base + "/");
        waitFor("the model list to load", () -> !optionValues("model").isEmpty());
    }

    /** Each test reports itself skipped (not silently absent) when the browser is missing. */
    @BeforeEach
    void requireBrowser() {
        Assumptions.assumeTrue(browserPresent(), "chromium/chromedriver missing: " + CHROMIUM + ", " + CHROMEDRIVER);
    }

    private static boolean browserPresent() {
        return Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER);
    }

    @AfterAll
    static void stop() throws IOException {
        if (driver != null) {
            driver.quit();
        }
        if (ts != null) {
            ts.close();
        }
        if (profile != null) {
            try (var paths = Files.walk(profile)) {
                paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    @Test
    @Order(1)
    void formIsFilledFromTheApi() {
        assertEquals("tiny", byId("model").getDomProperty("value"));
        List<String> samplers = optionValues("sampler");
        assertTrue(samplers.contains("euler") && samplers.size() > 1, "samplers from /v1/samplers: " + samplers);
        assertEquals("euler", byId("sampler").getDomProperty("value"), "the model's default sampler is selected");
        assertTrue(byId("controlnet-section").isDisplayed(), "the test model has a ControlNet, so its section shows");
    }

    /** A CFG++ sampler (cfg_pp in /v1/samplers) shows, next to the guidance field, that it runs at guidance about 1. */
    @Test
    @Order(2)
    void cfgPpSamplerShowsItsGuidanceHint() {
        assertFalse(byId("guidance-hint").isDisplayed(), "no hint for " + byId("sampler").getDomProperty("value"));
        // the samplers are listed under their group's heading; groups with no sampler for this model are hidden
        assertEquals(1, driver.findElements(By.cssSelector("#sampler optgroup[label='CFG++'] option[value='euler_cfg_pp']"))
                .size());
        assertEquals(1, driver.findElements(By.cssSelector("#sampler optgroup[label='diffusers'] option[value='ddim']"))
                .size());
        assertEquals(1, driver.findElements(By.cssSelector("#sampler optgroup[label='k-diffusion'] option[value='deis']"))
                .size());
        driver.findElement(By.cssSelector("#sampler option[value='euler_cfg_pp']")).click();
        assertTrue(byId("guidance-hint").isDisplayed(), "the CFG++ hint");
        assertTrue(byId("guidance-hint").getText().contains("around 1"), byId("guidance-hint").getText());
        driver.findElement(By.cssSelector("#sampler option[value='euler']")).click();
        assertFalse(byId("guidance-hint").isDisplayed(), "hidden again for Euler");
    }

    @Test
    @Order(2)
    void apiErrorIsShownNextToItsField() {
        type("prompt", "error check");
        type("width", "100");
        byId("prompt").sendKeys(Keys.chord(Keys.CONTROL, Keys.ENTER));
        waitFor("width to be marked invalid", () -> "true".equals(byId("width").getDomAttribute("aria-invalid")));
        String message = driver.findElement(By.cssSelector("[data-field=width] .field-error")).getText();
        assertTrue(message.contains("width"), "the server's message for width: " + message);
        assertEquals("width", driver.switchTo().activeElement().getDomAttribute("id"), "focus moves to the field");
        type("width", "256");
        assertNull(byId("width").getDomAttribute("aria-invalid"), "editing the field clears its error");
    }

    @Test
    @Order(3)
    void latentPreviewsAreRenderedInThePage() {
        setUp("a latent preview check", "latent");
        String before = previewSrc();
        byId("generate").click();
        waitFor("a latent preview", () -> !previewSrc().equals(before) && previewSrc().startsWith("blob:"));
        waitFor("the result in the gallery", () -> galleryImages() == 1);
    }

    @Test
    @Order(4)
    void submitPreviewResultScreenshot() throws IOException {
        setUp("a lighthouse on a cliff at dusk, volumetric light, oil painting", "rgb");
        type("negative_prompt", "blurry, low quality");
        int before = galleryImages();
        byId("prompt").sendKeys(Keys.chord(Keys.CONTROL, Keys.ENTER));

        waitFor("the job to start", () -> byId("progress-text").getText().startsWith("Step"));
        String first = waitForPreview("");
        String second = waitForPreview(first);
        assertTrue(second.startsWith("blob:"), "previews are shown as blob URLs: " + second);
        screenshot("ui-screenshot-running.png");

        waitFor("the final image in the gallery", () -> galleryImages() == before + 1);
        WebElement card = driver.findElement(By.cssSelector("#gallery .card"));
        assertTrue(card.findElement(By.className("card-prompt")).getText().startsWith("a lighthouse"));
        String meta = card.findElement(By.className("card-meta")).getText();
        assertTrue(meta.contains("256×256") && meta.contains("12 steps") && meta.contains("seed "), meta);
        String download = card.findElement(By.className("card-download")).getDomAttribute("download");
        assertTrue(download.endsWith(".png"), download);
        waitFor("the progress line to report the end", () -> byId("progress-text").getText().startsWith("Done"));
        assertFalse(byId("seed").getDomProperty("value").isEmpty(), "the seed the server chose is shown");

        card.findElement(By.className("card-reuse")).click();
        assertEquals("true", byId("seed-lock").getDomAttribute("aria-pressed"), "reuse keeps the result's seed");

        ((JavascriptExecutor) driver).executeScript("window.scrollTo(0, 0)");
        screenshot("ui-screenshot.png");
    }

    @Test
    @Order(5)
    void controlNetImageIsUploadedAndUsed() throws IOException {
        Path png = profile.resolve("control.png");
        BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        img.setRGB(10, 10, 0xffffff);
        ImageIO.write(img, "png", png.toFile());

        setUp("a controlled composition", "rgb");
        WebElement section = byId("controlnet-section");
        if (section.getDomAttribute("open") == null) {
            section.findElement(By.tagName("summary")).click();
        }
        byId("controlnet-add").click();
        WebElement file = driver.findElement(By.cssSelector("#controlnet-units .cn-file"));
        file.sendKeys(png.toAbsolutePath().toString());
        WebElement status = driver.findElement(By.cssSelector("#controlnet-units .cn-status"));
        waitFor("the control image upload", () -> status.getText().contains("uploaded"));
        assertTrue(status.getText().startsWith("64×64"), status.getText());

        int before = galleryImages();
        byId("generate").click();
        waitFor("the ControlNet result in the gallery", () -> galleryImages() == before + 1);
        WebElement card = driver.findElement(By.cssSelector("#gallery .card"));
        assertTrue(card.findElement(By.className("card-meta")).getText().contains("1 ControlNet"));

        driver.findElement(By.cssSelector("#controlnet-units .cn-remove")).click();
        card.findElement(By.className("card-reuse")).click();
        assertEquals(1, driver.findElements(By.cssSelector("#controlnet-units .cn-unit")).size(),
                "reuse restores the ControlNet unit");
        driver.findElement(By.cssSelector("#controlnet-units .cn-remove")).click();
    }

    @Test
    @Order(6)
    void runningJobCanBeCancelled() {
        startAndCancel("a long one to cancel");
    }

    /** Starts a 60-step job, cancels it once it runs, and checks the page's outcome. */
    private static void startAndCancel(String prompt) {
        setUp(prompt, "rgb");
        type("steps", "60");
        int before = galleryImages();
        byId("generate").click();
        waitFor("the job to start", () -> byId("progress-text").getText().startsWith("Step"));
        byId("cancel").click();
        waitFor("the cancellation", () -> byId("progress-text").getText().equals("Cancelled"));
        assertEquals(before, galleryImages(), "a cancelled job adds nothing to the gallery");
        assertFalse(byId("cancel").isEnabled(), "nothing left to cancel");
    }

    /**
     * The cancel request's answer (202, the job still running when it was written) may reach the page after the
     * stream's final event; the page keeps "Cancelled" instead of going back to cancelling a job that has ended. CI
     * once hit this by chance; here the page's DELETE answers are held back 1.5 s so the final event always wins.
     */
    @Test
    @Order(11)
    void lateCancelAnswerKeepsTheOutcome() {
        ((JavascriptExecutor) driver).executeScript("if (!window.__slowDelete) { window.__slowDelete = true;"
                + " const f = window.fetch; window.fetch = async (url, init) => { const r = await f(url, init);"
                + " if (init && init.method === 'DELETE') await new Promise(ok => setTimeout(ok, 1500));"
                + " return r; }; }");
        try {
            startAndCancel("a cancel answered late");
            sleep(2500); // past the held-back answer
            assertEquals("Cancelled", byId("progress-text").getText(), "the late answer does not undo the outcome");
            assertFalse(byId("cancel").isEnabled(), "nothing left to cancel");
        } finally {
            driver.navigate().refresh(); // drops the wrapped fetch
            waitFor("the model list to load", () -> !optionValues("model").isEmpty());
        }
    }

    @Test
    @Order(7)
    void followsTheDarkColourScheme() throws IOException {
        String light = background();
        driver.executeCdpCommand("Emulation.setEmulatedMedia", Map.of("features",
                List.of(Map.of("name", "prefers-color-scheme", "value", "dark"))));
        try {
            String dark = background();
            assertNotEquals(light, dark, "prefers-color-scheme: dark changes the page colours");
            screenshot("ui-screenshot-dark.png");
        } finally {
            driver.executeCdpCommand("Emulation.setEmulatedMedia", Map.of("features", List.of()));
        }
    }

    /**
     * On a server with API keys the page asks for one, keeps it, and then works as on loopback: REST calls carry it,
     * the stream's upgrade carries it as access_token, the result arrives in the gallery.
     */
    @Test
    @Order(9)
    void signsInOnAServerWithKeys() throws IOException {
        Path keys = Files.createTempFile(profile, "keys", ".txt");
        String key = dev.jdiffuse.server.auth.ApiKeys.newKey();
        Files.writeString(keys, "tester:" + dev.jdiffuse.server.auth.ApiKeys.sha256Hex(key) + "\n");
        try (TestServer keyed = new TestServer(ServerOptions.defaults().withSafety(Safety.DEFAULTS.withApiKeys(keys)),
                new ScriptedPipeline(STEP_MILLIS))) {
            driver.get(keyed.base + "/");
            waitFor("the sign-in form", () -> "true".equals(String.valueOf(byId("login").getDomProperty("open"))));
            type("api-key", "not-the-key");
            byId("api-key").sendKeys(Keys.ENTER);
            waitFor("a wrong key to be refused", () -> !byId("login-error").getText().isBlank());
            type("api-key", key);
            byId("api-key").sendKeys(Keys.ENTER);
            waitFor("the model list to load after signing in", () -> !optionValues("model").isEmpty());
            assertFalse("true".equals(String.valueOf(byId("login").getDomProperty("open"))), "the form closed");
            int before = galleryImages();
            type("prompt", "signed in");
            byId("prompt").sendKeys(Keys.chord(Keys.CONTROL, Keys.ENTER));
            waitFor("the result in the gallery", () -> galleryImages() > before);
        }
    }

    @Test
    @Order(8)
    void loraIsPickedAsARemovableChipAndSent() {
        setUp("a paper-cut fox", "none");
        WebElement section = byId("lora-section");
        assertTrue(section.isDisplayed(), "the server has a LoRA, so the picker shows");
        if (section.getDomAttribute("open") == null) {
            section.findElement(By.tagName("summary")).click();
        }
        assertEquals(List.of("paper-cut"), optionValues("lora-name"));
        ((JavascriptExecutor) driver).executeScript("const s = document.getElementById('lora-scale');"
                + "s.value = '0.6'; s.dispatchEvent(new Event('input', {bubbles: true}))");
        byId("lora-add").click();
        List<WebElement> chips = driver.findElements(By.cssSelector("#lora-chips li"));
        assertEquals(1, chips.size());
        assertTrue(chips.get(0).getText().contains("paper-cut · 0.60"), chips.get(0).getText());

        int before = galleryImages();
        byId("generate").click();
        waitFor("the LoRA result in the gallery", () -> galleryImages() == before + 1);
        var sent = ts.pipeline.last.loras();
        assertEquals(1, sent.size());
        assertEquals("paper-cut", sent.get(0).name());
        assertEquals(0.6, sent.get(0).scale(), 1e-9);

        driver.findElement(By.cssSelector("#lora-chips li button")).click();
        assertTrue(driver.findElements(By.cssSelector("#lora-chips li")).isEmpty(), "the chip is removed");
    }

    /** An embedding of the server is written into the prompt or the negative prompt by name, once, and sent. */
    @Test
    @Order(10)
    void embeddingNamesAreWrittenIntoThePrompts() {
        driver.get(ts.base + "/"); // an earlier test may have left the page on another server
        waitFor("the model list to load", () -> !optionValues("model").isEmpty());
        setUp("a fox", "none");
        WebElement section = byId("embedding-section");
        assertTrue(section.isDisplayed(), "the server has an embedding, so the picker shows");
        if (section.getDomAttribute("open") == null) {
            section.findElement(By.tagName("summary")).click();
        }
        assertEquals(List.of("paper-bird"), optionValues("embedding-name"));
        byId("embedding-to-prompt").click();
        assertEquals("a fox, paper-bird", byId("prompt").getDomProperty("value"));
        byId("embedding-to-prompt").click();
        assertEquals("a fox, paper-bird", byId("prompt").getDomProperty("value"), "a name already there is kept once");
        type("negative_prompt", "");
        byId("embedding-to-negative").click();
        assertEquals("paper-bird", byId("negative_prompt").getDomProperty("value"));
        int before = galleryImages();
        byId("generate").click();
        waitFor("the result in the gallery", () -> galleryImages() == before + 1);
        assertEquals("a fox, paper-bird", ts.pipeline.last.prompt());
        assertEquals("paper-bird", ts.pipeline.last.negativePrompt());
    }

    /** The next-to-last level drop is a checkbox under Advanced: sent when ticked, and put back by "reuse". */
    @Test
    @Order(11)
    void nextToLastLevelDropIsSentAndReused() {
        driver.get(ts.base + "/");
        waitFor("the model list to load", () -> !optionValues("model").isEmpty());
        setUp("a harbour at night", "none");
        driver.findElement(By.cssSelector("#advanced-section > summary")).click();
        WebElement drop = byId("discard_penultimate_sigma");
        assertFalse(drop.isSelected(), "off by default");
        drop.click();
        int before = galleryImages();
        byId("generate").click();
        waitFor("the result in the gallery", () -> galleryImages() == before + 1);
        assertTrue(ts.pipeline.last.discardPenultimateSigma(), "the ticked box is sent");

        drop.click();
        assertFalse(drop.isSelected());
        driver.findElement(By.cssSelector("#gallery .card .card-reuse")).click();
        assertTrue(byId("discard_penultimate_sigma").isSelected(), "reuse puts the result's setting back");
        byId("discard_penultimate_sigma").click();
        int next = galleryImages();
        byId("generate").click();
        waitFor("the second result in the gallery", () -> galleryImages() == next + 1);
        assertFalse(ts.pipeline.last.discardPenultimateSigma(), "an unticked box sends nothing");
        driver.findElement(By.cssSelector("#advanced-section > summary")).click();
    }

    /** VAE tiling is a choice under Advanced: auto by default (sends nothing), always sent, put back by "reuse". */
    @Test
    @Order(12)
    void vaeTilingIsSentAndReused() {
        driver.get(ts.base + "/");
        waitFor("the model list to load", () -> !optionValues("model").isEmpty());
        setUp("a lighthouse in fog", "none");
        driver.findElement(By.cssSelector("#advanced-section > summary")).click();
        assertEquals("auto", byId("vae_tiling").getDomProperty("value"), "auto by default");
        driver.findElement(By.cssSelector("#vae_tiling option[value='always']")).click();
        type("vae_tile_size", "256");
        int before = galleryImages();
        byId("generate").click();
        waitFor("the result in the gallery", () -> galleryImages() == before + 1);
        assertEquals(new VaeTiling(VaeTiling.Mode.ALWAYS, 256), ts.pipeline.last.vaeTiling(), "the choice is sent");

        driver.findElement(By.cssSelector("#vae_tiling option[value='auto']")).click();
        type("vae_tile_size", "");
        driver.findElement(By.cssSelector("#gallery .card .card-reuse")).click();
        assertEquals("always", byId("vae_tiling").getDomProperty("value"), "reuse puts the result's choice back");
        assertEquals("256", byId("vae_tile_size").getDomProperty("value"), "and its tile size");
        driver.findElement(By.cssSelector("#vae_tiling option[value='auto']")).click();
        type("vae_tile_size", "");
        int next = galleryImages();
        byId("generate").click();
        waitFor("the second result in the gallery", () -> galleryImages() == next + 1);
        assertEquals(VaeTiling.AUTO, ts.pipeline.last.vaeTiling(), "auto sends nothing");
        driver.findElement(By.cssSelector("#advanced-section > summary")).click();
    }

    private static String background() {
        return (String) ((JavascriptExecutor) driver).executeScript(
                "return getComputedStyle(document.body).backgroundColor");
    }

    /** Saves the viewport as {@code target/<name>}; returns the PNG. */
    private static byte[] screenshot(String name) throws IOException {
        byte[] png = driver.getScreenshotAs(OutputType.BYTES);
        Path target = Path.of("target", name);
        Files.createDirectories(target.getParent());
        Files.write(target, png);
        System.err.println("[BrowserEndToEndTest] screenshot: " + target.toAbsolutePath());
        return png;
    }

    /** Fills the form for a short job: 12 steps at 256x256 with previews of `method` every step. */
    private static void setUp(String prompt, String method) {
        type("prompt", prompt);
        type("steps", "12");
        type("width", "256");
        type("height", "256");
        driver.findElement(By.cssSelector("#advanced-section > summary")).click();
        driver.findElement(By.cssSelector("#preview_method option[value='" + method + "']")).click();
        type("preview_every", "1");
        driver.findElement(By.cssSelector("#advanced-section > summary")).click();
    }

    /** Waits until the stage shows a live preview (not a result) whose src differs from `previous`; returns it. */
    private static String waitForPreview(String previous) {
        String[] seen = {""};
        waitFor("the preview to change from '" + previous + "'", () -> {
            Object r = ((JavascriptExecutor) driver).executeScript(
                    "const i = document.getElementById('preview'); return i.dataset.kind === 'preview' ? i.src : ''");
            seen[0] = r == null ? "" : r.toString();
            return !seen[0].isEmpty() && !seen[0].equals(previous);
        });
        return seen[0];
    }

    private static String previewSrc() {
        String src = byId("preview").getDomProperty("src");
        return src == null ? "" : src;
    }

    /** Gallery images that have loaded (non-zero natural width). */
    private static int galleryImages() {
        Object n = ((JavascriptExecutor) driver).executeScript(
                "return [...document.querySelectorAll('#gallery .card-img')].filter(i => i.naturalWidth > 0).length");
        return ((Number) n).intValue();
    }

    @SuppressWarnings("unchecked")
    private static List<String> optionValues(String selectId) {
        return (List<String>) ((JavascriptExecutor) driver).executeScript(
                "return [...document.getElementById(arguments[0]).options].map(o => o.value)", selectId);
    }

    private static WebElement byId(String id) {
        return driver.findElement(By.id(id));
    }

    private static void type(String id, String text) {
        PageActions.type(driver, id, text);
    }

    private static void waitFor(String what, BooleanSupplier condition) {
        PageActions.waitFor(driver, what, WAIT, condition);
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static Logger quiet(String name) {
        Logger log = Logger.getLogger(name);
        log.setLevel(Level.SEVERE);
        return log;
    }

    private static String env(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v;
    }
}
