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
    let up = pump(client_read, server_write, Direction::Requests, exchange.clone(), shared.clone(), kill.clone());
    let down = pump(server_read, client_write, Direction::Answers, exchange, shared, kill);
    let mut killed = killed;
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        _ = killed.wait_for(|k| *k) => {}
    }
}

/// Which way a pump moves bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Client → target.
    Requests,
    /// Target → client.
    Answers,
}

/// What a pump does with one chunk.
#[derive(Debug, PartialEq, Eq)]
enum Act {
    Forward,
    /// Waits this long, then forwards.
    DelayThenForward(Duration),
    /// Forwards nothing and resets the client's connection.
    Reset,
    /// Forwards half the chunk, then resets the client's connection.
    HalfThenReset,
    /// Forwards half the chunk, then closes the connection cleanly.
    HalfThenClose,
}

/// The one place that says what each fault does, given the chunk's direction, whether it is the first of its
/// half of the exchange, and its size.
fn act(fault: Option<NetFault>, direction: Direction, first: bool, n: usize) -> Act {
    use Direction::*;
    match (fault, direction, first) {
        (Some(NetFault::Latency), Requests, true) => {
            Act::DelayThenForward(Duration::from_millis(50 + (n as u64 * 7919) % 200))
        }
        (Some(NetFault::ResetBefore | NetFault::Refuse), Requests, true) => Act::Reset,
        (Some(NetFault::ResetDuring), Requests, _) => Act::HalfThenReset,
        (Some(NetFault::ResetAfter), Answers, true) => Act::Reset,
        (Some(NetFault::Truncate), Answers, true) => Act::HalfThenClose,
        (Some(NetFault::Stall), Answers, true) => Act::DelayThenForward(STALL),
        (Some(NetFault::Bandwidth), _, _) => {
            Act::DelayThenForward(Duration::from_micros(n as u64 * 1_000_000 / BANDWIDTH))
        }
        _ => Act::Forward,
    }
}

/// Moves bytes one way until either side closes or a fault ends the connection.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
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
        let (fault, first) = {
            let Ok(mut x) = exchange.lock() else { break };
            match direction {
                Direction::Requests => {
                    let new = x.answered;
                    if new {
                        (x.answered, x.answer_bytes, x.fault) = (false, 0, decide(&shared));
                    }
                    (x.fault, new)
                }
                Direction::Answers => {
                    x.answered = true;
                    let first = x.answer_bytes == 0;
                    x.answer_bytes += n as u64;
                    (x.fault, first)
                }
            }
        };
        // A reset goes to the client's socket, which is this pump's source or its sink depending on the direction.
        let reset_client = |from: &OwnedReadHalf, to: &OwnedWriteHalf| {
            reset(match direction {
                Direction::Requests => from.as_ref(),
                Direction::Answers => to.as_ref(),
            })
        };
        match act(fault, direction, first, n) {
            Act::Forward => {}
            Act::DelayThenForward(delay) => tokio::time::sleep(delay).await,
            Act::Reset => {
                reset_client(&from, &to);
                let _ = kill.send(true);
                return;
            }
            Act::HalfThenReset => {
                let _ = to.write_all(&buf[..n / 2]).await;
                reset_client(&from, &to);
                let _ = kill.send(true);
                return;
            }
            Act::HalfThenClose => {
                let _ = to.write_all(&buf[..n / 2]).await;
                let _ = to.shutdown().await;
                let _ = kill.send(true);
                return;
            }
        }
        if to.write_all(&buf[..n]).await.is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_acts_on_its_own_side_of_the_exchange() {
        use Direction::*;
        assert_eq!(act(Some(NetFault::ResetAfter), Requests, true, 10), Act::Forward, "the request goes through");
        assert_eq!(act(Some(NetFault::ResetAfter), Answers, true, 10), Act::Reset);
        assert_eq!(act(Some(NetFault::ResetBefore), Requests, true, 10), Act::Reset);
        assert_eq!(act(Some(NetFault::ResetBefore), Requests, false, 10), Act::Forward, "only a new request");
        assert_eq!(act(Some(NetFault::ResetDuring), Requests, false, 10), Act::HalfThenReset);
        assert_eq!(act(Some(NetFault::Truncate), Answers, true, 10), Act::HalfThenClose);
        assert_eq!(act(Some(NetFault::Stall), Answers, true, 10), Act::DelayThenForward(STALL));
        assert_eq!(act(None, Answers, true, 10), Act::Forward);
    }
}
