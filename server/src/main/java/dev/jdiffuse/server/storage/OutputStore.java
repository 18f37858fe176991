package dev.jdiffuse.server.storage;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.jdiffuse.server.jobs.GenerationParameters;
import dev.jdiffuse.server.jobs.Job;
import dev.jdiffuse.server.jobs.JobStatus;
import dev.jdiffuse.server.jobs.JobStore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The output folder: every finished image as {@code DIR/yyyy-MM-dd/<job id>-<n>.png} (the PNG carries the
 * parameters as text chunks), and the job history (records, not pixels) in an embedded H2 database at
 * {@code DIR/.jdiffuse/history}, so ids, records and images answer after a restart. Files are written to a temporary
 * name and moved into place, so a crash never leaves half an image under a real name. Thread-safe (one connection,
 * used under this object's lock).
 */
public final class OutputStore implements JobStore {

    private static final Logger LOG = LoggerFactory.getLogger(OutputStore.class);
    private static final DateTimeFormatter DAY = DateTimeFormatter.ofPattern("yyyy-MM-dd", Locale.ROOT)
            .withZone(ZoneOffset.UTC);
    private static final String COLUMNS = "id, owner, status, created_at, started_at, finished_at, run_ms, step, "
            + "total, parameters, error_code, error_message, error_field, encode_ms, denoise_ms, decode_ms, "
            + "image_count, files, model, seed";

    private final Path root;
    private final Connection db;
    private final ObjectMapper json = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

    private OutputStore(Path root, Connection db) {
        this.root = root;
        this.db = db;
    }

    /** Opens (creating if needed) the folder and its history. */
    public static OutputStore open(Path dir) throws IOException {
        Path root = dir.toAbsolutePath().normalize();
        Files.createDirectories(root.resolve(".jdiffuse"));
        try {
            Connection c = DriverManager.getConnection("jdbc:h2:file:" + root.resolve(".jdiffuse").resolve("history")
                    + ";DB_CLOSE_ON_EXIT=FALSE", "jdiffuse", "");
            try (var st = c.createStatement()) {
                st.execute("CREATE TABLE IF NOT EXISTS jobs (id VARCHAR(64) PRIMARY KEY, owner VARCHAR(64) NOT NULL, "
                        + "status VARCHAR(16) NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, "
                        + "started_at TIMESTAMP WITH TIME ZONE, finished_at TIMESTAMP WITH TIME ZONE, run_ms BIGINT, "
                        + "step INT, total INT, parameters CLOB, error_code VARCHAR(64), error_message VARCHAR(1000), "
                        + "error_field VARCHAR(200), encode_ms BIGINT, denoise_ms BIGINT, decode_ms BIGINT, "
                        + "image_count INT, files CLOB)");
                // the model and seed a job was accepted with: its parameters are null while it waits for its model,
                // and stay null when it ends before the model loaded (columns added to histories older than them)
                st.execute("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS model VARCHAR(200)");
                st.execute("ALTER TABLE jobs ADD COLUMN IF NOT EXISTS seed BIGINT");
                st.execute("CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at)");
                st.execute("CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, created_at)");
            }
            return new OutputStore(root, c);
        } catch (SQLException e) {
            throw new IOException("the job history in " + root.resolve(".jdiffuse") + " cannot be opened: "
                    + e.getMessage(), e);
        }
    }

    public Path root() {
        return root;
    }

    @Override
    public List<Path> writeImages(Job job, List<byte[]> pngs) throws IOException {
        Path day = root.resolve(DAY.format(job.createdAt()));
        Files.createDirectories(day);
        List<Path> out = new ArrayList<>();
        for (int i = 0; i < pngs.size(); i++) {
            Path file = day.resolve(job.id() + "-" + i + ".png");
            Path tmp = day.resolve("." + job.id() + "-" + i + ".png.tmp");
            Files.write(tmp, pngs.get(i));
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            out.add(file);
        }
        return out;
    }

    @Override
    public synchronized void save(Job job) {
        try (PreparedStatement st = db.prepareStatement("MERGE INTO jobs (" + COLUMNS + ") KEY (id) VALUES "
                + "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
            Job.Outcome o = job.outcome().orElse(null);
            long now = System.nanoTime();
            st.setString(1, job.id());
            st.setString(2, job.owner());
            st.setString(3, job.status().name());
            st.setTimestamp(4, Timestamp.from(job.createdAt()));
            st.setTimestamp(5, job.startedAt() == null ? null : Timestamp.from(job.startedAt()));
            st.setTimestamp(6, o == null ? null : Timestamp.from(o.at()));
            st.setLong(7, job.runMillis(now));
            st.setInt(8, job.progress().step() + 1);
            st.setInt(9, job.totalSteps());
            st.setString(10, json.writeValueAsString(job.parameters()));
            Job.Error e = o == null ? null : o.error();
            st.setString(11, e == null ? null : e.code());
            st.setString(12, e == null ? null : e.message());
            st.setString(13, e == null ? null : e.field());
            Job.Timings t = o == null ? null : o.timings();
            setLong(st, 14, t == null ? null : t.encodeMillis());
            setLong(st, 15, t == null ? null : t.denoiseMillis());
            setLong(st, 16, t == null ? null : t.decodeMillis());
            st.setInt(17, job.imageCount());
            st.setString(18, json.writeValueAsString(job.files().stream().map(f -> root.relativize(f).toString())
                    .toList()));
            st.setString(19, job.modelName());
            st.setLong(20, job.seed());
            st.executeUpdate();
        } catch (SQLException | IOException e) {
            throw new IllegalStateException("job " + job.id() + " could not be recorded: " + e.getMessage(), e);
        }
    }

    private static void setLong(PreparedStatement st, int i, Long v) throws SQLException {
        if (v == null) {
            st.setNull(i, Types.BIGINT);
        } else {
            st.setLong(i, v);
        }
    }

    @Override
    public synchronized Optional<Job> find(String id) {
        try (PreparedStatement st = db.prepareStatement("SELECT " + COLUMNS + " FROM jobs WHERE id = ?")) {
            st.setString(1, id);
            try (ResultSet rs = st.executeQuery()) {
                return rs.next() ? Optional.of(job(rs)) : Optional.empty();
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public synchronized List<Job> list(String owner, Instant before, int limit) {
        try (PreparedStatement st = db.prepareStatement("SELECT " + COLUMNS + " FROM jobs WHERE (? IS NULL OR "
                + "owner = ?) AND (CAST(? AS TIMESTAMP WITH TIME ZONE) IS NULL OR created_at < ?) "
                + "ORDER BY created_at DESC, id LIMIT ?")) {
            st.setString(1, owner);
            st.setString(2, owner);
            Timestamp b = before == null ? null : Timestamp.from(before);
            st.setTimestamp(3, b);
            st.setTimestamp(4, b);
            st.setInt(5, limit);
            List<Job> out = new ArrayList<>();
            try (ResultSet rs = st.executeQuery()) {
                while (rs.next()) {
                    out.add(job(rs));
                }
            }
            return out;
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public synchronized List<Job> unfinished() {
        List<Job> out = new ArrayList<>();
        try (PreparedStatement st = db.prepareStatement("SELECT " + COLUMNS + " FROM jobs WHERE status IN "
                + "('QUEUED', 'LOADING', 'RUNNING')"); ResultSet rs = st.executeQuery()) {
            while (rs.next()) {
                out.add(job(rs));
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
        return out;
    }

    /**
     * Records the jobs a stopped process left queued or running (it was killed before it could record their end)
     * as cancelled with reason {@code shutdown}; returns how many.
     */
    public synchronized int cancelUnfinished(Instant now) {
        try (PreparedStatement st = db.prepareStatement("UPDATE jobs SET status = 'CANCELLED', finished_at = ?, "
                + "error_code = 'shutdown', error_message = 'the server stopped before this job ended' "
                + "WHERE status IN ('QUEUED', 'LOADING', 'RUNNING')")) {
            st.setTimestamp(1, Timestamp.from(now));
            return st.executeUpdate();
        } catch (SQLException e) {
            throw new IllegalStateException(e);
        }
    }

    private Job job(ResultSet rs) throws SQLException {
        try {
            String params = rs.getString("parameters");
            GenerationParameters p = params == null ? null : json.readValue(params, GenerationParameters.class);
            List<String> rel = json.readValue(rs.getString("files"), new TypeReference<List<String>>() { });
            List<Path> files = rel.stream().map(root::resolve).filter(f -> f.normalize().startsWith(root)).toList();
            JobStatus status = JobStatus.valueOf(rs.getString("status"));
            String code = rs.getString("error_code");
            Job.Error error = code == null ? null : new Job.Error(code, rs.getString("error_message"),
                    rs.getString("error_field"));
            Long enc = (Long) rs.getObject("encode_ms");
            Job.Timings t = enc == null ? null : new Job.Timings(enc, rs.getLong("denoise_ms"),
                    rs.getLong("decode_ms"));
            Timestamp fin = rs.getTimestamp("finished_at");
            Timestamp started = rs.getTimestamp("started_at");
            Instant created = rs.getTimestamp("created_at").toInstant();
            Job.Outcome o = new Job.Outcome(status.terminal() ? status : JobStatus.CANCELLED, t,
                    rs.getInt("image_count"), error, fin == null ? created : fin.toInstant(), System.nanoTime());
            // rows written before the model and seed columns existed always have parameters
            String model = rs.getString("model");
            Long seed = (Long) rs.getObject("seed");
            return Job.restored(rs.getString("id"), rs.getString("owner"), model != null ? model
                    : p == null ? null : p.model(), seed != null ? seed : p == null ? 0 : p.seed(), p,
                    rs.getInt("total"), rs.getInt("step"), created, started == null ? null : started.toInstant(),
                    rs.getLong("run_ms"), o, files);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public byte[] read(Path file) throws IOException {
        Path f = file.toAbsolutePath().normalize();
        if (!f.startsWith(root)) {
            throw new IOException("outside the output folder");
        }
        return Files.readAllBytes(f);
    }

    @Override
    public synchronized void close() {
        try {
            db.close();
        } catch (SQLException e) {
            LOG.warn("closing the job history: {}", e.toString());
        }
    }
}
