package stashboard.searchnode;

import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import sun.misc.Signal;

/**
 * The part of bin/search-node shared by every kind: arguments, folders, waiting for
 * {@code GET /}, printing the URL, and a quiet exit 0 on SIGINT/SIGTERM.
 */
public final class Launcher {

    /** One kind of node. Implementations live in each kind's own Maven project. */
    public interface Engine {
        /**
         * Starts the node and returns the HTTP port it bound; {@code extra} are the node
         * settings given with {@code --setting KEY=VALUE}, put after the launcher's own.
         */
        int start(Path home, Path data, Path repo, int httpPort, Map<String, String> extra) throws Exception;

        /** Stops the node and waits (bounded) for it to release its files. */
        void stop() throws Exception;
    }

    private Launcher() {
    }

    public static void run(String kind, String[] args, Engine engine) {
        int port = 9200;
        Path dir = null;
        Map<String, String> extra = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--port" -> port = portNumber(value(args, ++i, "--port"));
                case "--data" -> dir = Path.of(value(args, ++i, "--data")).toAbsolutePath();
                case "--setting" -> setting(value(args, ++i, "--setting"), extra);
                default -> fail("unknown argument " + args[i]);
            }
        }
        // Registered before the node starts, so a signal during start-up also ends cleanly.
        CountDownLatch stopRequested = new CountDownLatch(1);
        Signal.handle(new Signal("TERM"), s -> stopRequested.countDown());
        Signal.handle(new Signal("INT"), s -> stopRequested.countDown());

        boolean temporary = dir == null;
        int status = 0;
        try {
            if (temporary) {
                dir = Files.createTempDirectory("search-node-" + kind + "-");
            }
            Path home = Files.createDirectories(dir.resolve("home"));
            Path data = Files.createDirectories(dir.resolve("data"));
            Path repo = Files.createDirectories(dir.resolve("repo"));
            int bound = engine.start(home, data, repo, port, extra);
            String url = "http://127.0.0.1:" + bound;
            waitUntilAnswering(url, stopRequested);
            // GET / answers before a restarted node (--data kept) has recovered its shards;
            // yellow is immediate on a new node and as far as a single node goes.
            get(url + "/_cluster/health?wait_for_status=yellow&timeout=30s", 35_000);
            if (stopRequested.getCount() > 0) {
                System.out.println(url);
                System.out.flush();
                stopRequested.await();
            }
        } catch (Exception e) {
            System.err.println("search-node " + kind + ": " + e);
            e.printStackTrace();
            status = 1;
        } finally {
            try {
                engine.stop();
            } catch (Exception e) {
                System.err.println("search-node " + kind + ": stopping failed: " + e);
                status = 1;
            }
            if (temporary && dir != null) {
                deleteTree(dir);
            }
        }
        // The node leaves non-daemon threads behind (schedulers, Netty), so end the JVM here.
        System.exit(status);
    }

    private static String value(String[] args, int i, String flag) {
        if (i >= args.length) {
            fail(flag + " needs a value");
        }
        return args[i];
    }

    private static void setting(String value, Map<String, String> extra) {
        int eq = value.indexOf('=');
        if (eq <= 0) {
            fail("--setting needs KEY=VALUE (a node setting, e.g. thread_pool.write.queue_size=2), not '"
                    + value + "'");
        }
        extra.put(value.substring(0, eq), value.substring(eq + 1));
    }

    private static int portNumber(String value) {
        try {
            return Integer.parseInt(value);
        } catch (NumberFormatException e) {
            fail("--port needs a number, not '" + value + "'");
            return -1;
        }
    }

    private static void fail(String message) {
        System.err.println("search-node: " + message);
        System.exit(2);
    }

    private static void waitUntilAnswering(String url, CountDownLatch stopRequested) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (stopRequested.getCount() > 0) {
            try {
                if (get(url + "/", 5000) == 200) {
                    return;
                }
            } catch (IOException notYet) {
                // the HTTP layer is bound before the node has a cluster state: retry
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(url + "/ did not answer 200 within 120 s");
            }
            stopRequested.await(100, TimeUnit.MILLISECONDS);
        }
    }

    private static int get(String url, int readTimeoutMillis) throws IOException {
        HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
        c.setConnectTimeout(1000);
        c.setReadTimeout(readTimeoutMillis);
        int code = c.getResponseCode();
        try (InputStream body = code < 400 ? c.getInputStream() : c.getErrorStream()) {
            if (body != null) {
                body.readAllBytes();
            }
        }
        return code;
    }

    private static void deleteTree(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.delete(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.delete(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            System.err.println("search-node: could not remove " + root + ": " + e);
        }
    }
}
