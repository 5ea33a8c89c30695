package stashboard.searchnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.ClasspathNode;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.transport.netty4.Netty4Plugin;

/** bin/search-node elasticsearch-8: an Elasticsearch 8.x node with the Netty transport and a root endpoint only. */
public final class Main implements Launcher.Engine {

    private Node node;

    public static void main(String[] args) {
        Launcher.run("elasticsearch-8", args, new Main());
    }

    @Override
    public int start(Path home, Path data, Path repo, int httpPort, Map<String, String> extra) throws Exception {
        // Binds Elasticsearch's logging facade to Log4j, which reads log4j2.properties
        // from the classpath (the server's launcher would do both).
        LogConfigurator.configureESLogging();
        Settings settings = Settings.builder()
                .put("path.home", home.toString())
                .put("path.data", data.toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("path.repo", repo.toString())
                .put("cluster.name", "search-node")
                .put("node.name", "search-node")
                .putList("node.roles", "master", "data", "ingest")
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", httpPort)
                // A test machine's disk may be fuller than the watermarks; shards must still allocate.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .put(Settings.builder().loadFromMap(extra).build())
                .build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null,
                () -> "search-node");
        Files.createDirectories(environment.modulesDir());
        Files.createDirectories(environment.pluginsDir());
        node = new ClasspathNode(environment, List.of(Netty4Plugin.class, RootPlugin.class));
        node.start();
        return node.injector().getInstance(HttpServerTransport.class).boundAddress().publishAddress().getPort();
    }

    @Override
    public void stop() throws Exception {
        if (node != null) {
            node.close();
            node.awaitClose(30, TimeUnit.SECONDS);
        }
    }
}
