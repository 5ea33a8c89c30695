package stashboard.searchnode;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.opensearch.Version;
import org.opensearch.analysis.common.CommonAnalysisModulePlugin;
import org.opensearch.cluster.service.ClusterService;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.geo.GeoModulePlugin;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.index.mapper.MapperExtrasModulePlugin;
import org.opensearch.index.rankeval.RankEvalModulePlugin;
import org.opensearch.index.reindex.ReindexModulePlugin;
import org.opensearch.ingest.common.IngestCommonModulePlugin;
import org.opensearch.join.ParentJoinModulePlugin;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessModulePlugin;
import org.opensearch.percolator.PercolatorModulePlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.plugins.PluginInfo;
import org.opensearch.script.mustache.MustacheModulePlugin;
import org.opensearch.search.aggregations.matrix.MatrixAggregationModulePlugin;
import org.opensearch.transport.Netty4ModulePlugin;

/** bin/search-node opensearch-3: an OpenSearch 3.x node with its modules on the classpath. */
public final class Main implements Launcher.Engine {

    private static final List<Class<? extends Plugin>> MODULES = List.of(
            Netty4ModulePlugin.class, CommonAnalysisModulePlugin.class, PainlessModulePlugin.class,
            MustacheModulePlugin.class, MapperExtrasModulePlugin.class, ParentJoinModulePlugin.class,
            PercolatorModulePlugin.class, ReindexModulePlugin.class, RankEvalModulePlugin.class,
            MatrixAggregationModulePlugin.class, IngestCommonModulePlugin.class, GeoModulePlugin.class);

    /**
     * Node's constructor that takes classpath plugins is protected, as for OpenSearch's MockNode;
     * since 3.1 it wants a descriptor per plugin class rather than the class.
     */
    private static final class ClasspathNode extends Node {
        ClasspathNode(Environment environment) {
            super(environment, MODULES.stream().map(ClasspathNode::describe).toList(), true);
        }

        private static PluginInfo describe(Class<? extends Plugin> plugin) {
            return new PluginInfo(plugin.getName(), "classpath plugin", "NA", Version.CURRENT,
                    Integer.toString(Runtime.version().feature()), plugin.getName(), List.of(), false);
        }

        @Override
        protected void configureNodeAndClusterIdStateListener(ClusterService clusterService) {
            // Only sets the node and cluster ids for Log4j's pattern converters, which the
            // launcher's log layout does not use; and they may be set once per JVM.
        }
    }

    private Node node;

    public static void main(String[] args) {
        Launcher.run("opensearch-3", args, new Main());
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
        Files.createDirectories(environment.modulesDir());
        Files.createDirectories(environment.pluginsDir());
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
