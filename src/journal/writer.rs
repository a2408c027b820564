//! Writing a journal while the run goes: bounded memory, crash-readable, finished atomically.
//!
//! Frames go through a bounded channel to one writer thread, which appends them to `<path>.partial` and flushes
//! whenever the channel runs dry (looking again every [`CATCH_UP_PAUSE`]), so a crash loses at most what was still in
//! flight and the last few milliseconds. [`JournalWriter::finish`] appends
//! the trailer, fsyncs and renames the file into place: a journal at its final path is always complete.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use super::{bincode_config, Expectation, Frame, Header, OpRecord, Trailer, Verdict, MAGIC};
use crate::plan::Plan;

/// The frames written before the run starts, borrowed, so that a plan of a million objects is neither cloned nor
/// encoded into one buffer to be written. Encoded exactly as [`Frame::Header`] and [`Frame::Plan`]: the same
/// variants in the same order (bincode writes the variant's index), which the journal's golden bytes test pins.
#[derive(serde::Serialize)]
enum Leading<'a> {
    Header(&'a Header),
    Plan(&'a Plan),
}

/// How long the writer waits, having written all it was sent, before it looks for more frames.
/// The environment variable that turns journaling of frames off, for measuring its cost (see `discard_frames`).
const BENCH_SWITCH: &str = "SFKO_BENCH_JOURNAL";

const CATCH_UP_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

#[allow(clippy::large_enum_variant)]
enum Message {
    Frame(Frame),
    Finish { verdict: Verdict, reason: Option<String>, done: oneshot::Sender<std::io::Result<Finished>> },
}

/// The finished journal.
#[derive(Debug, Clone)]
pub struct Finished {
    pub path: PathBuf,
    /// blake3 (hex) of the whole file; names the corpus copy.
    pub file_digest: String,
    pub ops: u64,
    pub failed: u64,
}

/// Owner of a journal being written.
pub struct JournalWriter {
    sink: JournalSink,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Cheap handle the driver and checks use to append frames.
#[derive(Clone)]
pub struct JournalSink {
    tx: mpsc::Sender<Message>,
}

impl JournalSink {
    /// Appends an op record (waits when the writer is behind: backpressure instead of unbounded memory).
    pub async fn op(&self, record: OpRecord) {
        let _ = self.tx.send(Message::Frame(Frame::Op(record))).await;
    }

    /// Appends the nemesis schedule or one of its windows.
    pub async fn nemesis(&self, record: super::NemesisRecord) {
        let _ = self.tx.send(Message::Frame(Frame::Nemesis(record))).await;
    }

    /// Appends a check verdict.
    pub async fn expectation(&self, expectation: Expectation) {
        let _ = self.tx.send(Message::Frame(Frame::Expect(expectation))).await;
    }
}

impl JournalWriter {
    /// Creates `<path>.partial` and writes the magic, header and plan.
    pub fn create(path: &Path, header: &Header, plan: &Plan) -> std::io::Result<JournalWriter> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let partial = partial_path(path);
        let discard_frames = std::env::var_os(BENCH_SWITCH).is_some_and(|v| v == "off");
        if discard_frames {
            tracing::warn!("{BENCH_SWITCH}=off: this journal records no ops (a benchmark of sfko's own cost only)");
        }
        let mut state = WriterState {
            discard_frames,
            out: BufWriter::with_capacity(256 * 1024, File::create(&partial)?),
            hasher: blake3::Hasher::new(),
            ops: 0,
            expectations: 0,
            failed: 0,
        };
        state.write_raw(&MAGIC)?;
        state.write_streamed(&Leading::Header(header))?;
        state.write_streamed(&Leading::Plan(plan))?;
        state.out.flush()?;
        let (tx, rx) = mpsc::channel(4096);
        let final_path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("sfko-journal".into())
            .spawn(move || state.run(rx, partial, final_path))?;
        Ok(JournalWriter { sink: JournalSink { tx }, thread: Some(thread) })
    }

    pub fn sink(&self) -> JournalSink {
        self.sink.clone()
    }

    /// Writes the trailer and moves the file into place.
    pub async fn finish(mut self, verdict: Verdict, reason: Option<String>) -> std::io::Result<Finished> {
        let (done, wait) = oneshot::channel();
        let sent = self.sink.tx.send(Message::Finish { verdict, reason, done }).await;
        if sent.is_err() {
            return Err(std::io::Error::other("journal writer stopped early"));
        }
        let result = wait.await.unwrap_or_else(|_| Err(std::io::Error::other("journal writer stopped early")));
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
        result
    }
}

/// Where a journal lives until it is finished.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

struct WriterState {
    /// `SFKO_BENCH_JOURNAL=off`: frames are received and dropped, neither encoded, hashed nor written (the journal
    /// holds the plan and the verdict only, and nothing replays from it). For measuring what journaling costs
    /// (`bench/peers.sh` with `JOURNAL=off`), never for a run anyone needs to reproduce.
    discard_frames: bool,
    out: BufWriter<File>,
    hasher: blake3::Hasher,
    ops: u64,
    expectations: u64,
    failed: u64,
}

impl WriterState {
    fn run(mut self, mut rx: mpsc::Receiver<Message>, partial: PathBuf, final_path: PathBuf) {
        let mut error: Option<std::io::Error> = None;
        loop {
            let message = match rx.try_recv() {
                Ok(message) => message,
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Caught up: make what we have readable after a crash, then look again after a pause. Not a
                    // blocking receive: that would have every frame's sender wake this thread (a futex wake and a
                    // write per frame, about a tenth of sfko's CPU on small objects); this way frames come in batches.
                    if let Err(e) = self.out.flush() {
                        error.get_or_insert(e);
                    }
                    std::thread::sleep(CATCH_UP_PAUSE);
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            };
            match message {
                Message::Frame(_) if self.discard_frames => {}
                Message::Frame(frame) => {
                    self.count(&frame);
                    if let Err(e) = self.write_frame(&frame) {
                        error.get_or_insert(e);
                    }
                }
                Message::Finish { verdict, reason, done } => {
                    let result = match error.take() {
                        Some(e) => Err(e),
                        None => self.finish(verdict, reason, &partial, &final_path),
                    };
                    let _ = done.send(result);
                    return;
                }
            }
        }
        let _ = self.out.flush();
    }

    fn count(&mut self, frame: &Frame) {
        match frame {
            Frame::Op(_) => self.ops += 1,
            Frame::Expect(e) => {
                self.expectations += 1;
                self.failed += u64::from(e.violation.is_some());
            }
            _ => {}
        }
    }

    fn finish(
        mut self,
        verdict: Verdict,
        reason: Option<String>,
        partial: &Path,
        final_path: &Path,
    ) -> std::io::Result<Finished> {
        let mut trailer = Trailer {
            ops: self.ops,
            expectations: self.expectations,
            failed: self.failed,
            verdict,
            reason,
            digest: crate::content::Digest([0; 32]),
        };
        trailer.digest = super::trailer_digest(&self.hasher, &trailer);
        self.write_frame(&Frame::Trailer(trailer))?;
        self.out.flush()?;
        let file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(partial, final_path)?;
        if let Some(dir) = final_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Persist the rename itself; best effort on platforms where directories cannot be opened.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(Finished {
            path: final_path.to_path_buf(),
            file_digest: super::reader::file_digest(final_path)?,
            ops: self.ops,
            failed: self.failed,
        })
    }

    fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.out.write_all(bytes)
    }

    /// Appends one frame (an op or an expectation: small) as its length and bincode bytes.
    fn write_frame(&mut self, frame: &Frame) -> std::io::Result<()> {
        let payload = bincode::serde::encode_to_vec(frame, bincode_config()).map_err(std::io::Error::other)?;
        self.write_len(payload.len())?;
        self.write_raw(&payload)
    }

    /// Appends a frame that may be large (the plan) the same way, but encoded straight into the file and the hash
    /// (after a pass that only counts its bytes), never held whole in memory.
    fn write_streamed(&mut self, frame: &Leading) -> std::io::Result<()> {
        let mut size = bincode::enc::write::SizeWriter::default();
        bincode::serde::encode_into_writer(frame, &mut size, bincode_config()).map_err(std::io::Error::other)?;
        self.write_len(size.bytes_written)?;
        // bincode writes field by field; the buffer hands the hash and the file 64 KiB at a time.
        let mut tee = BufWriter::with_capacity(1 << 16, Tee { out: &mut self.out, hasher: &mut self.hasher });
        bincode::serde::encode_into_std_write(frame, &mut tee, bincode_config()).map_err(std::io::Error::other)?;
        tee.flush()
    }

    fn write_len(&mut self, bytes: usize) -> std::io::Result<()> {
        let len = u32::try_from(bytes).ok().filter(|len| *len <= super::MAX_FRAME_BYTES).ok_or_else(|| {
            std::io::Error::other(format!(
                "a journal frame of {bytes} bytes exceeds the {}-byte limit (is the scenario's object count too large for one plan?)",
                super::MAX_FRAME_BYTES
            ))
        })?;
        self.write_raw(&len.to_le_bytes())
    }
}

/// What a frame's bytes go through: the file and the journal's running hash.
struct Tee<'a> {
    out: &'a mut BufWriter<File>,
    hasher: &'a mut blake3::Hasher,
}

impl Write for Tee<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.out.write(bytes)?;
        self.hasher.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Encodes one frame exactly as the writer does (for tests that pin the byte format).
pub fn encode_frame(frame: &Frame) -> Result<Vec<u8>, bincode::error::EncodeError> {
    let payload = bincode::serde::encode_to_vec(frame, bincode_config())?;
    let mut out = (payload.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&payload);
    Ok(out)
}
