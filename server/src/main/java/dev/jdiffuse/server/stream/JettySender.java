package dev.jdiffuse.server.stream;

import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.WriteCallback;

import java.nio.ByteBuffer;
import java.util.function.Consumer;

/** {@link FrameSender} over a Jetty WebSocket session's asynchronous send. */
public final class JettySender implements FrameSender {

    private final Session session;

    public JettySender(Session session) {
        this.session = session;
    }

    @Override
    public void send(Frame frame, Runnable done, Consumer<Throwable> failed) {
        WriteCallback cb = new WriteCallback() {
            @Override
            public void writeSuccess() {
                done.run();
            }

            @Override
            public void writeFailed(Throwable x) {
                failed.accept(x);
            }
        };
        try {
            if (frame.isText()) {
                session.getRemote().sendString(frame.text(), cb);
            } else {
                session.getRemote().sendBytes(ByteBuffer.wrap(frame.binary()), cb);
            }
        } catch (RuntimeException e) {
            failed.accept(e);
        }
    }

    @Override
    public void close(int code, String reason) {
        try {
            session.close(code, reason);
        } catch (RuntimeException e) {
            // already closed
        }
    }
}
