package dev.jdiffuse.server;

import org.openqa.selenium.By;
import org.openqa.selenium.Keys;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/** What the browser tests do to the page: type into a field, and wait for a condition, reporting the page's errors. */
final class PageActions {

    private PageActions() {
    }

    /** Replaces the text of the element with id {@code id}. */
    static void type(WebDriver driver, String id, String text) {
        WebElement e = driver.findElement(By.id(id));
        e.sendKeys(Keys.chord(Keys.CONTROL, "a"), Keys.DELETE);
        e.sendKeys(text);
    }

    /** Polls {@code condition} every 20 ms until it holds; on timeout fails with the page's error and progress lines. */
    static void waitFor(WebDriver driver, String what, Duration timeout, BooleanSupplier condition) {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            if (condition.getAsBoolean()) {
                return;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
        throw new AssertionError("timed out waiting for " + what + "; page says: form error '"
                + text(driver, "form-error") + "', job error '" + text(driver, "job-error") + "', progress '"
                + text(driver, "progress-text") + "'");
    }

    private static String text(WebDriver driver, String id) {
        return driver.findElement(By.id(id)).getText();
    }
}
