package dev.circuitatlas.neo4j;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/**
 * Runs a real Neo4j with Bolt on 127.0.0.1:PORT, auth off, data under DATA_DIR.
 *
 * <p>Usage: {@code java -cp ... dev.circuitatlas.neo4j.LocalNeo4j --port 7687 --data ./data/neo4j}.
 * Prints one line {@code NEO4J_READY bolt://127.0.0.1:PORT} once Bolt accepts connections, and
 * shuts the database down cleanly when standard input closes (so a parent process that exits, or
 * a test runner that closes the pipe, always stops it).
 */
public final class LocalNeo4j {
  private LocalNeo4j() {}

  public static void main(String[] args) throws IOException {
    int port = 7687;
    Path dataDir = Path.of("data", "neo4j");
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--port" -> port = Integer.parseInt(requireValue(args, ++i, "--port"));
        case "--data" -> dataDir = Path.of(requireValue(args, ++i, "--data"));
        default -> {
          System.err.println("Unknown argument " + args[i] + "; expected --port N --data DIR");
          System.exit(2);
        }
      }
    }
    Files.createDirectories(dataDir);

    Neo4j neo4j =
        Neo4jBuilders.newInProcessBuilder(dataDir)
            .withDisabledServer()
            .withConfig(BoltConnector.enabled, true)
            .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
            .withConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
            .withConfig(HttpConnector.enabled, false)
            .withConfig(GraphDatabaseSettings.auth_enabled, false)
            .withConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(10))
            .build();

    Runtime.getRuntime().addShutdownHook(new Thread(neo4j::close));
    System.out.println("NEO4J_READY " + neo4j.boltURI());
    System.out.flush();

    // Block until the parent closes our stdin, then stop cleanly.
    InputStream in = System.in;
    byte[] buffer = new byte[256];
    while (in.read(buffer) >= 0) {
      // Input is ignored; only end-of-stream matters.
    }
    neo4j.close();
    System.out.println("NEO4J_STOPPED");
    System.exit(0);
  }

  private static String requireValue(String[] args, int index, String flag) {
    if (index >= args.length) {
      System.err.println(flag + " needs a value");
      System.exit(2);
    }
    return args[index];
  }
}
