package stashboard.searchnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.cluster.service.ClusterService;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.geo.GeoModulePlugin;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasPlugin;
import org.opensearch.index.rankeval.RankEvalPlugin;
import org.opensearch.index.reindex.ReindexPlugin;
import org.opensearch.ingest.common.IngestCommonPlugin;
import org.opensearch.join.ParentJoinPlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.percolator.PercolatorPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.script.mustache.MustachePlugin;
import org.opensearch.search.aggregations.matrix.MatrixAggregationPlugin;
import org.opensearch.transport.Netty4Plugin;

/** bin/search-node opensearch-2: an OpenSearch 2.x node with its modules on the classpath. */
public final class Main implements Launcher.Engine {

    private static final List<Class<? extends Plugin>> MODULES = List.of(
            Netty4Plugin.class, CommonAnalysisPlugin.class, PainlessPlugin.class, MustachePlugin.class,
            MapperExtrasPlugin.class, ParentJoinPlugin.class, PercolatorPlugin.class, ReindexPlugin.class,
            RankEvalPlugin.class, MatrixAggregationPlugin.class, IngestCommonPlugin.class, GeoModulePlugin.class);

    /** Node's constructor that takes classpath plugins is protected, as for OpenSearch's MockNode. */
    private static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment) {
            super(environment, MODULES, true);
        }

        @Override
        protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {
            // Only sets the node and cluster ids for Log4j's pattern converters, which the
            // launcher's log layout does not use; and they may be set once per JVM.
        }
    }

    private Node node;

    public static void main(String[] args) {
        Launcher.run("opensearch-2", args, new Main());
    }

    @Override
    public int start(Path home, Path data, Path repo, int httpPort, Map<String, String> extra) throws Exception {
        Settings settings = Settings.builder()
                .put("path.home", home.toString())
                .put("path.data", data.toString())
                .put("path.logs", home.resolve("logs").toString())
                .put("path.repo", repo.toString())
                .put("cluster.name", "search-node")
                .put("node.name", "search-node")
                .putList("node.roles", "cluster_manager", "data", "ingest")
                .put("discovery.type", "single-node")
                .put("network.host", "127.0.0.1")
                .put("http.port", httpPort)
                // A test machine's disk may be fuller than the watermarks; shards must still allocate.
                .put("cluster.routing.allocation.disk.threshold_enabled", false)
                .put(Settings.builder().loadFromMap(extra).build())
                .build();
        Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null,
                () -> "search-node");
        Files.createDirectories(environment.modulesFile());
        Files.createDirectories(environment.pluginsFile());
        node = new ClasspathNode(environment);
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
