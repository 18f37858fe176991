package dev.jdiffuse.server.jobs;

import java.util.Locale;

/** A key's scheduling class: a waiting job starts before every waiting job of a lower class (FIFO within a class). */
public enum Priority {
    HIGH, NORMAL, LOW;

    public static Priority parse(String s) {
        return valueOf(s.trim().toUpperCase(Locale.ROOT));
    }
}
