package dev.jdiffuse.server.api;

import dev.jdiffuse.server.web.ApiException;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The query's {@code wait} is checked; RFC 7240's {@code Prefer: wait} is a hint read where well formed. */
class WaitPreferenceTest {

    private static Duration hold(String query, String... prefer) {
        WaitPreference w = WaitPreference.of(query, List.of(prefer));
        return w == null ? null : w.hold();
    }

    @Test
    void theQueryTakesSecondsWithMillisecondsAndCapsTheHold() {
        assertEquals(Duration.ofSeconds(10), hold("10"));
        assertEquals(Duration.ofMillis(250), hold("0.25"));
        assertEquals(Duration.ofSeconds(WaitPreference.MAX_SECONDS), hold("3600"));
        assertEquals(Duration.ofSeconds(WaitPreference.MAX_SECONDS), hold("123456789012345678901234567890"));
        assertNull(hold("0"), "wait=0 answers at once");
        assertEquals(Duration.ofSeconds(2), hold("2", "wait=30"), "the query wins over the header");
    }

    @Test
    void aMalformedQueryIsA400NamingWait() {
        for (String bad : new String[] {"", "abc", "-1", "1e3", "2s", "0.0001"}) {
            ApiException e = assertThrows(ApiException.class, () -> hold(bad), bad);
            assertEquals("wait", e.body().error().field(), bad);
            assertEquals(400, e.status(), bad);
        }
    }

    @Test
    void preferIsReadAmongOtherPreferencesAndIgnoredWhenMalformed() {
        assertEquals(Duration.ofSeconds(5), hold(null, "wait=5"));
        assertEquals(Duration.ofSeconds(5), hold(null, "respond-async, wait=5"));
        assertEquals(Duration.ofSeconds(5), hold(null, "Wait = \"5\"; x=y, handling=lenient"));
        assertEquals(Duration.ofSeconds(7), hold(null, "handling=strict", "wait=7"), "a second Prefer header");
        assertEquals(Duration.ofSeconds(WaitPreference.MAX_SECONDS), hold(null, "wait=600"));
        assertNull(hold(null));
        assertNull(hold(null, "wait=soon"));
        assertNull(hold(null, "nowait=5"));
        assertNull(hold(null, "wait=0"));
        assertNull(hold(null, "wait=\"5"), "an unbalanced quote");
        assertEquals(Duration.ofSeconds(WaitPreference.MAX_SECONDS), hold(null, "wait=12345678901"));
        assertNull(hold(null, "foo=\"a, wait=5, b\""), "a wait inside another preference's quoted value");
        assertNull(hold(null, "foo=\"a\\\", wait=5\""), "... behind an escaped quote");
        assertNull(hold(null, "handling=lenient; wait=5"), "a parameter of another preference");
        assertEquals(Duration.ofSeconds(3), hold(null, "foo=\"x;y,z\", wait=3"));
        assertNull(hold(null, "wait=soon, wait=5"), "only a preference's first instance counts");
        assertEquals(Duration.ofSeconds(4), hold(null, "wait=4, wait=9"));
        assertNull(hold(null, "wait"), "a wait without seconds");
    }

    @Test
    void preferenceAppliedSaysTheHoldInWholeSeconds() {
        assertEquals("wait=1", WaitPreference.of("0.2", List.of()).applied());
        assertEquals("wait=" + WaitPreference.MAX_SECONDS, WaitPreference.of(null, List.of("wait=99")).applied());
    }
}
