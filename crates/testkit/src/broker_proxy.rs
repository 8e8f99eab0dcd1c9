//! A TCP proxy in front of RabbitMQ that can hang: in [`Mode::Hang`] it accepts connections and
//! never answers (a broker out of file descriptors, a half-open partition); in
//! [`Mode::Forward`] it passes them through. It counts the connections made to it and the most
//! open at once, so a test can tell how many attempts a process makes while the broker hangs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// What new connections get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accepted, read, never answered.
    Hang,
    /// Passed through to the broker.
    Forward,
}

#[derive(Default)]
struct Counts {
    forward: AtomicBool,
    accepted: AtomicU64,
    open: AtomicU64,
    max_open: AtomicU64,
}

/// A running proxy.
pub struct BrokerProxy {
    /// `host:port` to put in an `amqp://` URL.
    pub addr: String,
    counts: Arc<Counts>,
    task: tokio::task::JoinHandle<()>,
}

impl BrokerProxy {
    /// Starts a proxy to `upstream` (`host:port`) in `mode`.
    pub async fn start(upstream: &str, mode: Mode) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap().to_string();
        let counts = Arc::new(Counts::default());
        counts
            .forward
            .store(mode == Mode::Forward, Ordering::SeqCst);
        let (c, upstream) = (counts.clone(), upstream.to_string());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                c.accepted.fetch_add(1, Ordering::SeqCst);
                let open = c.open.fetch_add(1, Ordering::SeqCst) + 1;
                c.max_open.fetch_max(open, Ordering::SeqCst);
                let (c, upstream) = (c.clone(), upstream.clone());
                tokio::spawn(async move {
                    if c.forward.load(Ordering::SeqCst) {
                        forward(client, &upstream).await;
                    } else {
                        hang(client).await;
                    }
                    c.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { addr, counts, task }
    }

    /// What new connections get from now on (open ones keep theirs).
    pub fn set(&self, mode: Mode) {
        self.counts
            .forward
            .store(mode == Mode::Forward, Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// The most connections open at once so far.
    pub fn max_open(&self) -> u64 {
        self.counts.max_open.load(Ordering::SeqCst)
    }

    /// Stops accepting.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Reads whatever comes until the client gives up; answers nothing.
async fn hang(mut client: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn forward(mut client: TcpStream, upstream: &str) {
    if let Ok(mut broker) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
    }
}
