//! sfko's own TCP proxy between its S3 client and the target: it forwards bytes both ways and, while a network fault
//! is active, injects it into the request/answer exchanges that pass. It needs no privileges and works in front of
//! any plain-HTTP target.
//!
//! The proxy sees bytes, not requests. It tells exchanges apart the way HTTP/1.1 without pipelining allows: client
//! bytes that arrive after the target has answered (or first on a connection) start a new exchange. Every exchange
//! that starts while a window is active is hit.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::plan::nemesis::NetFault;
use crate::seed::Seed;

/// How long `stall` holds an answer back: well below the default 60 s stall timeout, long enough to hurt.
const STALL: Duration = Duration::from_secs(3);
/// `bandwidth`'s cap, in bytes per second.
const BANDWIDTH: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;

/// The fault the proxy injects now, and the window it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Active {
    pub fault: NetFault,
    pub window: u64,
    /// The run's nemesis seed (which exchanges of the window are hit).
    pub seed: Seed,
}

#[derive(Default)]
struct Shared {
    active: Mutex<Option<Active>>,
    /// Exchanges hit, by window number (taken when the window closes).
    hits: Mutex<BTreeMap<u64, u64>>,
    exchanges: AtomicU64,
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    _accept: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self._accept.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        Ok(Proxy { addr, shared, _accept: accept })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets (or clears) the fault injected from now on.
    pub fn set(&self, active: Option<Active>) {
        if let Ok(mut current) = self.shared.active.lock() {
            *current = active;
        }
    }

    /// Exchanges hit in `window` so far (and forgets them).
    pub fn take_hits(&self, window: u64) -> u64 {
        self.shared.hits.lock().ok().and_then(|mut h| h.remove(&window)).unwrap_or(0)
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let refused = shared.active.lock().ok().and_then(|a| *a).filter(|a| a.fault == NetFault::Refuse);
        if let Some(active) = refused {
            count_hit(&shared, active.window);
            reset(&client);
            continue;
        }
        tokio::spawn(connection(client, upstream.clone(), shared.clone()));
    }
}

fn count_hit(shared: &Shared, window: u64) {
    if let Ok(mut hits) = shared.hits.lock() {
        *hits.entry(window).or_default() += 1;
    }
}

/// Closes with RST instead of FIN: what a crashed node or a middlebox dropping the connection looks like.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}

/// Where a connection's current exchange stands, shared by its two directions.
#[derive(Default)]
struct Exchange {
    /// The target has sent bytes since the client last did: the next client bytes start a new exchange.
    answered: bool,
    fault: Option<NetFault>,
    /// The answer bytes forwarded in this exchange.
    answer_bytes: u64,
}

async fn connection(client: TcpStream, upstream: String, shared: Arc<Shared>) {
    let Ok(server) = TcpStream::connect(&upstream).await else {
        reset(&client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let exchange = Arc::new(Mutex::new(Exchange { answered: true, ..Exchange::default() }));
    let (kill, killed) = tokio::sync::watch::channel(false);
    let up = requests(client_read, server_write, exchange.clone(), shared, kill.clone());
    let down = answers(server_read, client_write, exchange, kill);
    let mut killed = killed;
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = killed.wait_for(|k| *k) => {}
    }
}

/// Client → target. Returns when either side closes or a fault ends the connection.
async fn requests(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    exchange: Arc<Mutex<Exchange>>,
    shared: Arc<Shared>,
    kill: tokio::sync::watch::Sender<bool>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (fault, new) = {
            let Ok(mut x) = exchange.lock() else { break };
            let new = x.answered;
            if new {
                x.answered = false;
                x.answer_bytes = 0;
                x.fault = decide(&shared);
            }
            (x.fault, new)
        };
        let mut forward = &buf[..n];
        match (fault, new) {
            (Some(NetFault::Latency), true) => {
                let extra = 50 + (n as u64 * 7919) % 200;
                tokio::time::sleep(Duration::from_millis(extra)).await;
            }
            (Some(NetFault::ResetBefore | NetFault::Refuse), true) => {
                reset(from.as_ref());
                let _ = kill.send(true);
                return;
            }
            (Some(NetFault::ResetDuring), _) => {
                forward = &buf[..n / 2];
                let _ = to.write_all(forward).await;
                reset(from.as_ref());
                let _ = kill.send(true);
                return;
            }
            (Some(NetFault::Bandwidth), _) => pace(n).await,
            _ => {}
        }
        if to.write_all(forward).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Target → client.
async fn answers(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    exchange: Arc<Mutex<Exchange>>,
    kill: tokio::sync::watch::Sender<bool>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let (fault, first) = {
            let Ok(mut x) = exchange.lock() else { break };
            x.answered = true;
            let first = x.answer_bytes == 0;
            x.answer_bytes += n as u64;
            (x.fault, first)
        };
        let mut forward = &buf[..n];
        match (fault, first) {
            (Some(NetFault::ResetAfter), true) => {
                reset(to.as_ref());
                let _ = kill.send(true);
                return;
            }
            (Some(NetFault::Truncate), true) => {
                forward = &buf[..n / 2];
                let _ = to.write_all(forward).await;
                let _ = to.shutdown().await;
                let _ = kill.send(true);
                return;
            }
            (Some(NetFault::Stall), true) => tokio::time::sleep(STALL).await,
            (Some(NetFault::Bandwidth), _) => pace(n).await,
            _ => {}
        }
        if to.write_all(forward).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Whether this new exchange is hit, and by what: every exchange while a window is active. (Hitting a seeded
/// share instead would make which op is hit depend on arrival order, which a replay cannot reproduce.)
fn decide(shared: &Shared) -> Option<NetFault> {
    let active = shared.active.lock().ok().and_then(|a| *a)?;
    shared.exchanges.fetch_add(1, Ordering::Relaxed);
    count_hit(shared, active.window);
    Some(active.fault)
}

async fn pace(bytes: usize) {
    tokio::time::sleep(Duration::from_micros(bytes as u64 * 1_000_000 / BANDWIDTH)).await;
}
