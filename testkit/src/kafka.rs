//! A tansu broker on a free loopback port, with SQLite storage in a
//! temporary directory (or in memory, for tests that want a restart to lose
//! everything), optionally advertising another address than its own, such
//! as a TLS proxy's, so that every client connection goes through it.

use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use tokio::process::{Child, Command};

use super::process::{free_port, spawn_server, tool_path};
use super::temp_dir::TempDir;

/// A running tansu broker; killed on drop.
pub struct Tansu {
    child: Option<Child>,
    port: u16,
    storage: String,
    /// `--advertised-listener-url`; none: its own listener.
    advertised: Option<String>,
    /// `--authentication`: clients must log in with SASL (SCRAM).
    authentication: bool,
    /// Working directory of the broker, holding its SQLite file if any.
    dir: TempDir,
}

impl Tansu {
    /// Starts a broker with SQLite storage in a fresh directory and waits
    /// until it answers Kafka requests.
    ///
    /// Not the memory engine: tansu 0.6.0's memory storage answers a fetch
    /// that starts inside a record batch with the later batches only, so a
    /// consumer resuming mid-batch (after a pause, a restart or a rebalance)
    /// never receives the rest of that batch. Its SQL storage keeps records
    /// one by one and answers from any offset, as Apache Kafka does.
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with("sqlite://tansu.db").await
    }

    /// Starts a broker whose storage lives in memory: a restart brings back
    /// an empty cluster.
    pub async fn start_in_memory() -> anyhow::Result<Self> {
        Self::start_with("memory://tansu/").await
    }

    /// Starts a broker (SQLite storage) that tells clients, in its metadata,
    /// to reach it at `advertised_url` (`tcp://host:port`): with a proxy
    /// there, every connection after the bootstrap one goes through the
    /// proxy. Only readiness is checked directly on [`Tansu::brokers`].
    pub async fn start_advertising(advertised_url: &str) -> anyhow::Result<Self> {
        Self::start_with_advertised("sqlite://tansu.db", Some(advertised_url.to_owned())).await
    }

    async fn start_with(storage: &str) -> anyhow::Result<Self> {
        Self::start_with_advertised(storage, None).await
    }

    async fn start_with_advertised(
        storage: &str,
        advertised: Option<String>,
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let dir = TempDir::new("ferrotrace-tansu").context("creating tansu's directory")?;
        let mut broker = Self {
            child: None,
            port,
            storage: storage.to_owned(),
            advertised,
            authentication: false,
            dir,
        };
        broker.spawn().await?;
        Ok(broker)
    }

    /// `host:port` of the broker's own listener, for `bootstrap.servers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker process (like a crash); `restart` brings it back on the same port.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the broker again on the same port, with the same storage
    /// (which a memory-storage broker has lost).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        self.spawn().await
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let bin = tool_path("tansu", "FERROTRACE_TANSU_BIN")?;
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let advertised = self.advertised.as_deref().unwrap_or(&url);
        let mut cmd = Command::new(&bin);
        cmd.args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            advertised,
        ])
        .args(["--storage-engine", &self.storage])
        .args(self.authentication.then_some("--authentication"))
        .env(
            "RUST_LOG",
            std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .current_dir(self.dir.path())
        .stdin(Stdio::null());
        let child = spawn_server(&mut cmd, &bin)?;
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        let up = super::wait_until(Duration::from_secs(30), || {
            let addr = addr.clone();
            async move { tokio::net::TcpStream::connect(addr).await.is_ok() }
        })
        .await;
        anyhow::ensure!(up, "tansu did not listen on {addr} within 30 s");
        Ok(())
    }

    /// Creates a SCRAM user with `tansu user create`; `mechanism` is
    /// `scram256` or `scram512`. Do it before [`Tansu::require_authentication`]:
    /// tansu 0.6 refuses the unauthenticated request once it authenticates.
    pub async fn create_scram_user(
        &self,
        name: &str,
        password: &str,
        mechanism: &str,
    ) -> anyhow::Result<()> {
        let bin = tool_path("tansu", "FERROTRACE_TANSU_BIN")?;
        let output = Command::new(&bin)
            .args(["user", "create", "--broker"])
            .arg(format!("tcp://{}", self.brokers()))
            .args(["--mechanism", mechanism, name, password])
            .stdin(Stdio::null())
            .output()
            .await
            .with_context(|| format!("running {} user create", bin.display()))?;
        anyhow::ensure!(
            output.status.success(),
            "tansu user create {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(())
    }

    /// Restarts the broker (same port and storage) with `--authentication`:
    /// from then on every client must log in with SASL SCRAM.
    pub async fn require_authentication(&mut self) -> anyhow::Result<()> {
        self.authentication = true;
        self.restart().await
    }

    /// Creates a topic through the Kafka admin API and waits until it is usable.
    pub async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let mut client = ClientConfig::new();
        client.set("bootstrap.servers", self.brokers());
        create_topic(&client, name, partitions).await
    }
}

/// Creates a topic with the admin API of a client configured as given
/// (`bootstrap.servers`, and TLS properties for a broker behind a proxy).
pub async fn create_topic(
    client: &ClientConfig,
    name: &str,
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        client.create().context("creating Kafka admin client")?;
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics([&topic], &opts)
        .await
        .context("create_topics")?;
    for result in results {
        if let Err((topic, code)) = result {
            anyhow::bail!("creating topic {topic}: {code}");
        }
    }
    Ok(())
}

impl Drop for Tansu {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        // `dir` is removed when it drops, after this.
    }
}
