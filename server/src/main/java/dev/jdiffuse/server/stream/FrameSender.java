package dev.jdiffuse.server.stream;

/** Writes one frame asynchronously; exactly one of the callbacks runs when the write ends. */
public interface FrameSender {

    void send(Frame frame, Runnable done, java.util.function.Consumer<Throwable> failed);

    /** Closes the connection with a WebSocket close code. */
    void close(int code, String reason);
}
