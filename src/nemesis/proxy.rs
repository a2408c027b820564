//! sfko's own TCP proxy between its S3 client and the target: it forwards bytes both ways and injects the network
//! faults of the run's nemesis schedule into the requests that schedule names. It needs no privileges and works in
//! front of any plain-HTTP target.
//!
//! Which requests are hit is decided by the op, never by the clock: every workload request carries
//! `x-sfko-op: <op> <attempt>` (added by the driver's [`OpTag`](crate::driver::OpTag) after signing, taken out here
//! before the target sees it), and a request is hit when its op lies in a network fault's window and its attempt
//! is among the first few the schedule draws for that op. A replay re-issues the same ops and attempts, so it
//! meets the same faults, whatever the timing — an op that straddles a window's edge included.
//!
//! The proxy sees bytes, not requests. It tells exchanges apart the way HTTP/1.1 without pipelining allows: client
//! bytes that start with a method, after the target has answered (or first on a connection), start a new exchange,
//! whose head it reads whole before forwarding.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

use crate::driver::OP_TAG;
use crate::plan::nemesis::{Injection, NemesisPlan, NetFault};

/// How long `stall` holds an answer back: well below the default 60 s stall timeout, long enough to hurt.
const STALL: Duration = Duration::from_secs(3);
/// `bandwidth`'s cap, in bytes per second.
const BANDWIDTH: u64 = 1024 * 1024;
const CHUNK: usize = 64 * 1024;
/// The most of a request's head read before deciding (S3 request heads are a few KiB).
const MAX_HEAD: usize = 64 * 1024;

#[derive(Default)]
struct Shared {
    /// The schedule of the run under way (`None` between runs: nothing is hit).
    plan: Mutex<Option<Arc<NemesisPlan>>>,
    /// Requests hit, by window number (taken when the window closes).
    hits: Mutex<BTreeMap<u64, u64>>,
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

    /// Follows `plan` from now on (`None`: hits nothing).
    pub fn follow(&self, plan: Option<NemesisPlan>) {
        if let Ok(mut current) = self.shared.plan.lock() {
            *current = plan.map(Arc::new);
        }
    }

    /// Requests hit in `window` so far (and forgets them).
    pub fn take_hits(&self, window: u64) -> u64 {
        self.shared.hits.lock().ok().and_then(|mut h| h.remove(&window)).unwrap_or(0)
    }

    /// Requests hit in every window not yet taken (and forgets them): retries that came after their window closed.
    pub fn take_all_hits(&self) -> BTreeMap<u64, u64> {
        self.shared.hits.lock().map(|mut h| std::mem::take(&mut *h)).unwrap_or_default()
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
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
    /// Forwards nothing and closes the client's connection cleanly (FIN).
    Close,
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
        (Some(NetFault::ResetBefore), Requests, true) => Act::Reset,
        (Some(NetFault::Refuse), Requests, true) => Act::Close,
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
        let mut head = None;
        let (fault, first) = {
            let Ok(mut x) = exchange.lock() else { break };
            match direction {
                Direction::Requests => {
                    // After an answer, whatever the client sends next belongs to a new exchange: nothing of the
                    // last one's fault carries over, even when these bytes turn out not to start a request.
                    let new = x.answered;
                    if new {
                        (x.answered, x.answer_bytes, x.fault) = (false, 0, None);
                    }
                    (x.fault, new)
                }
                Direction::Answers => {
                    // An interim `100 Continue` is not the answer (the request's body still follows it); what
                    // comes after its head in the same chunk is.
                    let answer = n - interim_head_len(&buf[..n]);
                    if answer > 0 {
                        x.answered = true;
                        x.answer_bytes += answer as u64;
                    }
                    (x.fault, answer > 0 && x.answer_bytes == answer as u64)
                }
            }
        };
        let fault = match (direction, first) {
            (Direction::Requests, true) => {
                // A new request: its whole head, without the op tag, decides what hits it.
                let mut bytes = buf[..n].to_vec();
                read_head(&mut from, &mut bytes).await;
                let tag = if starts_with_method(&bytes) { take_tag(&mut bytes) } else { None };
                let fault = decide(&shared, tag);
                if let Ok(mut x) = exchange.lock() {
                    x.fault = fault;
                }
                head = Some(bytes);
                fault
            }
            _ => fault,
        };
        let data: &[u8] = head.as_deref().unwrap_or(&buf[..n]);
        // A reset goes to the client's socket, which is this pump's source or its sink depending on the direction.
        let reset_client = |from: &OwnedReadHalf, to: &OwnedWriteHalf| {
            reset(match direction {
                Direction::Requests => from.as_ref(),
                Direction::Answers => to.as_ref(),
            })
        };
        match act(fault, direction, first, data.len()) {
            Act::Forward => {}
            Act::DelayThenForward(delay) => tokio::time::sleep(delay).await,
            Act::Reset => {
                reset_client(&from, &to);
                let _ = kill.send(true);
                return;
            }
            Act::HalfThenReset => {
                let _ = to.write_all(&data[..data.len() / 2]).await;
                reset_client(&from, &to);
                let _ = kill.send(true);
                return;
            }
            Act::Close => {
                // Dropping both halves closes the client's connection with a FIN.
                let _ = kill.send(true);
                return;
            }
            Act::HalfThenClose => {
                let _ = to.write_all(&data[..data.len() / 2]).await;
                let _ = to.shutdown().await;
                let _ = kill.send(true);
                return;
            }
        }
        if to.write_all(data).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Whether client bytes begin a request (`PUT /b/k HTTP/1.1`) rather than continue one's body.
fn starts_with_method(bytes: &[u8]) -> bool {
    let method = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    method > 0 && bytes.get(method) == Some(&b' ')
}

/// The length of the interim (1xx) answer heads at the start of `bytes` (0 when it starts with none).
fn interim_head_len(bytes: &[u8]) -> usize {
    let mut at = 0;
    while bytes[at..].starts_with(b"HTTP/1.1 1") {
        match bytes[at..].windows(4).position(|w| w == b"\r\n\r\n") {
            Some(end) => at += end + 4,
            None => return bytes.len(),
        }
    }
    at
}

/// Reads on until `bytes` hold a whole request head (or [`MAX_HEAD`] bytes, or the client stops sending).
async fn read_head(from: &mut OwnedReadHalf, bytes: &mut Vec<u8>) {
    let mut more = [0u8; 4096];
    while !bytes.windows(4).any(|w| w == b"\r\n\r\n") && bytes.len() < MAX_HEAD {
        match from.read(&mut more).await {
            Ok(0) | Err(_) => return,
            Ok(n) => bytes.extend_from_slice(&more[..n]),
        }
    }
}

/// Takes the [`OP_TAG`] header out of a request head: the op and attempt it names, if it has one.
fn take_tag(bytes: &mut Vec<u8>) -> Option<(u64, u64)> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        tracing::debug!("nemesis proxy: a request head of over {MAX_HEAD} bytes or cut short; not hit");
        return None;
    };
    let mut at = bytes.windows(2).position(|w| w == b"\r\n")? + 2;
    while at < end + 2 {
        let line_end = at + bytes[at..].windows(2).position(|w| w == b"\r\n")?;
        let line = &bytes[at..line_end];
        let name_end = line.iter().position(|&b| b == b':').unwrap_or(line.len());
        if line[..name_end].eq_ignore_ascii_case(OP_TAG.as_bytes()) {
            let value = String::from_utf8_lossy(line.get(name_end + 1..).unwrap_or_default()).to_string();
            bytes.drain(at..line_end + 2);
            let mut words = value.split_whitespace().map(str::parse::<u64>);
            return match (words.next(), words.next()) {
                (Some(Ok(op)), Some(Ok(attempt))) => Some((op, attempt)),
                _ => None,
            };
        }
        at = line_end + 2;
    }
    None
}

/// What hits the request of op `tag.0`, attempt `tag.1`: the network fault of the window the op lies in, for the
/// first attempts the schedule draws for it (so some ops recover on a retry and some never get an answer).
fn decide(shared: &Shared, tag: Option<(u64, u64)>) -> Option<NetFault> {
    let (op, attempt) = tag?;
    let plan = shared.plan.lock().ok()?.clone()?;
    let window = plan.at(op)?;
    let Some(Injection::Net(fault)) = plan.injection(&window) else { return None };
    if attempt > plan.attempts_hit(op) {
        return None;
    }
    count_hit(shared, window.number);
    Some(*fault)
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

    #[test]
    fn the_op_tag_is_read_and_taken_out_of_the_head() {
        let mut head = b"PUT /b/k HTTP/1.1\r\nhost: x\r\nX-Sfko-Op: 17 2\r\ncontent-length: 3\r\n\r\nabc".to_vec();
        assert_eq!(take_tag(&mut head), Some((17, 2)));
        assert_eq!(head, b"PUT /b/k HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc".to_vec());
        let mut untagged = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec();
        assert_eq!(take_tag(&mut untagged), None);
        assert_eq!(untagged, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec());
        assert!(starts_with_method(b"DELETE /b?x HTTP/1.1"));
        assert!(!starts_with_method(b"\x00\x01body"));
        assert!(!starts_with_method(b"abc def"));
        let mut no_colon = b"GET / HTTP/1.1\r\nx-sfko-op\r\n\r\n".to_vec();
        assert_eq!(take_tag(&mut no_colon), None, "a malformed tag is dropped, never a panic");
    }

    #[test]
    fn an_interim_answer_is_not_the_answer() {
        assert_eq!(interim_head_len(b"HTTP/1.1 200 OK\r\n\r\n"), 0);
        assert_eq!(interim_head_len(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"), 25);
        assert_eq!(interim_head_len(b"HTTP/1.1 100 Continue\r\n"), 23, "a partial interim head is all interim");
        assert_eq!(act(Some(NetFault::Refuse), Direction::Requests, true, 10), Act::Close);
    }
}
