package dev.circuitatlas.neo4j;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.BoltConnectorInternalSettings;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.io.ByteUnit;

/**
 * Runs a real Neo4j with Bolt on 127.0.0.1:PORT, auth off, its whole home (databases, transaction
 * logs, server logs) in DATA_DIR, kept across restarts.
 *
 * <p>Usage: {@code java -cp ... dev.circuitatlas.neo4j.LocalNeo4j --port 7687 --data ./data/neo4j}.
 * Prints one line {@code NEO4J_READY bolt://127.0.0.1:PORT} once the default database is available,
 * and shuts the database down cleanly when standard input closes (so a parent process that exits,
 * or a test runner that closes the pipe, always stops it).
 *
 * <p>The embedded DBMS builder is used rather than neo4j-harness's builder: the harness makes a
 * random subfolder per start and deletes it on close, which loses the data.
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
    Path home = dataDir.toAbsolutePath();
    Files.createDirectories(home);
    if (storeLockHeld(home)) {
      refuse(home, "its store lock is held");
      return;
    }

    DatabaseManagementService dbms;
    try {
      dbms =
          new DatabaseManagementServiceBuilder(home)
              .setConfig(BoltConnector.enabled, true)
              .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
              .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
              .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
              .setConfig(HttpConnector.enabled, false)
              .setConfig(HttpsConnector.enabled, false)
              .setConfig(GraphDatabaseSettings.auth_enabled, false)
              // A development instance on a shared machine: a modest page cache, not half the RAM.
              .setConfig(GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(256))
              .setConfig(GraphDatabaseSettings.transaction_timeout, Duration.ofMinutes(10))
              // Bolt stops last, after the databases are flushed and closed: its two 5 s grace waits
              // (thread pool, connections) only delayed every stop by 10 s.
              .setConfig(BoltConnectorInternalSettings.thread_pool_shutdown_wait_time, Duration.ofMillis(200))
              .setConfig(BoltConnectorInternalSettings.connection_shutdown_wait_time, Duration.ofMillis(200))
              .build();
    } catch (RuntimeException error) {
      // The usual cause: another Neo4j holds this folder's store lock.
      refuse(home, rootMessage(error));
      return;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(dbms::shutdown));

    GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
    if (!db.isAvailable(TimeUnit.MINUTES.toMillis(5))) {
      System.err.println("NEO4J_FAILED the default database did not become available in 5 minutes");
      System.exit(1);
    }
    System.out.println("NEO4J_READY bolt://127.0.0.1:" + port);
    System.out.flush();

    // Block until the parent closes our stdin, then stop cleanly (this flushes the store to disk).
    InputStream in = System.in;
    byte[] buffer = new byte[256];
    while (in.read(buffer) >= 0) {
      // Input is ignored; only end-of-stream matters.
    }
    dbms.shutdown();
    System.out.println("NEO4J_STOPPED");
    System.exit(0);
  }

  /**
   * Whether another process holds the store lock of this home. Checked before the DBMS is built: a
   * build on a locked folder fails only after ~15 s of starting up.
   */
  private static boolean storeLockHeld(Path home) throws IOException {
    Path storeLock = home.resolve("data").resolve("databases").resolve("store_lock");
    if (!Files.exists(storeLock)) return false;
    try (FileChannel channel = FileChannel.open(storeLock, StandardOpenOption.WRITE);
        FileLock lock = channel.tryLock()) {
      return lock == null;
    }
  }

  private static void refuse(Path home, String reason) {
    System.err.println(
        "NEO4J_FAILED cannot open the Neo4j data directory "
            + home
            + " ("
            + reason
            + "); is another Neo4j using it? Stop it or pass another --data folder");
    System.exit(1);
  }

  private static String rootMessage(Throwable error) {
    Throwable root = error;
    while (root.getCause() != null && root.getCause() != root) root = root.getCause();
    return root.getClass().getSimpleName() + ": " + root.getMessage();
  }

  private static String requireValue(String[] args, int index, String flag) {
    if (index >= args.length) {
      System.err.println(flag + " needs a value");
      System.exit(2);
    }
    return args[index];
  }
}
