//! Reading journals back, frame by frame, with every way a file can be damaged named as such.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use super::{bincode_decode_config, Frame, Header, Trailer, FORMAT_VERSION, MAGIC, MAX_FRAME_BYTES};
use crate::plan::Plan;

/// Why a journal could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: cannot read journal: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not an sfko journal (bad magic bytes)")]
    NotAJournal { path: PathBuf },
    #[error("{path}: journal format version {found}, this sfko reads version {supported}; replay it with the sfko that wrote it ({writer})")]
    Version { path: PathBuf, found: u32, supported: u32, writer: String },
    #[error("{path}: truncated journal: it ends at byte {offset} without a trailer; {frame} frames ({ops} ops) before that are intact (the run was killed or the file cut short)")]
    Truncated { path: PathBuf, frame: u64, offset: u64, ops: u64 },
    #[error("{path}: corrupt journal: frame {frame} at byte {offset}: {detail}")]
    Corrupt { path: PathBuf, frame: u64, offset: u64, detail: String },
    #[error("{path}: journal was modified or damaged: the trailer's blake3 does not match the content")]
    DigestMismatch { path: PathBuf },
}

/// A journal sfko was asked to read is the user's input: one it cannot read is bad input (exit 2), located.
impl From<JournalError> for crate::exit::Fatal {
    fn from(e: JournalError) -> crate::exit::Fatal {
        crate::exit::Fatal::bad_input(e.to_string())
    }
}

/// Streams the frames of a journal after its header and plan.
pub struct JournalReader {
    source: FrameSource,
    pub header: Header,
    pub plan: Plan,
    trailer: Option<Trailer>,
}

/// The raw frame stream: position, running digest, counts for error messages.
struct FrameSource {
    path: PathBuf,
    input: Box<dyn Read + Send>,
    hasher: blake3::Hasher,
    offset: u64,
    frames: u64,
    ops: u64,
    expectations: u64,
    failed: u64,
}

/// What a whole-file read found.
#[derive(Debug, Clone)]
pub struct ReadSummary {
    pub header: Header,
    pub plan: Plan,
    pub ops: u64,
    pub expectations: u64,
    pub failed: u64,
    /// `None` when the run was cut short before its trailer.
    pub trailer: Option<Trailer>,
    /// The nemesis schedule the run carried out, if it had one.
    pub nemesis: Option<crate::plan::nemesis::NemesisPlan>,
}

impl JournalReader {
    /// Opens a journal and reads its header and plan.
    pub fn open(path: &Path) -> Result<JournalReader, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        let file = File::open(path).map_err(io)?;
        Self::from_reader(path, Box::new(BufReader::with_capacity(256 * 1024, file)))
    }

    /// Reads a journal from any byte source (`label` names it in errors): for fuzzing and for journals that do not
    /// live in a file.
    pub fn from_reader(label: &Path, mut input: Box<dyn Read + Send>) -> Result<JournalReader, JournalError> {
        let path = label;
        let mut magic = [0u8; 8];
        if input.read_exact(&mut magic).is_err() || magic != MAGIC {
            return Err(JournalError::NotAJournal { path: path.to_path_buf() });
        }
        let mut hasher = blake3::Hasher::new();
        hasher.update(&magic);
        let mut source = FrameSource {
            path: path.to_path_buf(),
            input,
            hasher,
            offset: 8,
            frames: 0,
            ops: 0,
            expectations: 0,
            failed: 0,
        };
        let header = match source.raw_frame()? {
            Some(Frame::Header(header)) => header,
            _ => return Err(source.corrupt("expected the header frame first")),
        };
        if header.format_version != FORMAT_VERSION {
            return Err(JournalError::Version {
                path: path.to_path_buf(),
                found: header.format_version,
                supported: FORMAT_VERSION,
                writer: format!("sfko {}", header.sfko_version),
            });
        }
        let plan = match source.raw_frame()? {
            Some(Frame::Plan(plan)) => *plan,
            _ => return Err(source.corrupt("expected the plan frame second")),
        };
        Ok(JournalReader { source, header, plan, trailer: None })
    }

    /// The next op or expectation frame; `Ok(None)` after a verified trailer.
    /// A file that ends without a trailer is reported as [`JournalError::Truncated`].
    pub fn next_frame(&mut self) -> Result<Option<Frame>, JournalError> {
        if self.trailer.is_some() {
            return Ok(None);
        }
        let source = &mut self.source;
        let before_trailer = source.hasher.clone();
        match source.raw_frame()? {
            None => Err(source.truncated()),
            Some(Frame::Trailer(trailer)) => {
                let counted = (source.ops, source.expectations, source.failed);
                if super::trailer_digest(&before_trailer, &trailer) != trailer.digest
                    || (trailer.ops, trailer.expectations, trailer.failed) != counted
                {
                    return Err(JournalError::DigestMismatch { path: source.path.clone() });
                }
                let mut rest = [0u8; 1];
                if matches!(source.input.read(&mut rest), Ok(n) if n > 0) {
                    return Err(source.corrupt("bytes after the trailer"));
                }
                self.trailer = Some(trailer);
                Ok(None)
            }
            Some(Frame::Header(_) | Frame::Plan(_)) => Err(source.corrupt("a second header or plan frame")),
            Some(frame) => {
                match &frame {
                    Frame::Op(_) => source.ops += 1,
                    Frame::Expect(e) => {
                        source.expectations += 1;
                        source.failed += u64::from(e.violation.is_some());
                    }
                    _ => {}
                }
                Ok(Some(frame))
            }
        }
    }

    /// The trailer, once [`next_frame`](Self::next_frame) has returned `Ok(None)`.
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.source.path
    }

    /// Reads the whole file. A truncated file still yields a summary (without trailer) if `allow_truncated`.
    pub fn summarize(path: &Path, allow_truncated: bool) -> Result<ReadSummary, JournalError> {
        let mut reader = JournalReader::open(path)?;
        let (mut ops, mut expectations, mut failed) = (0, 0, 0);
        let mut nemesis = None;
        loop {
            match reader.next_frame() {
                Ok(Some(Frame::Nemesis(super::NemesisRecord::Schedule(plan)))) => nemesis = Some(plan),
                Ok(Some(Frame::Op(_))) => ops += 1,
                Ok(Some(Frame::Expect(e))) => {
                    expectations += 1;
                    failed += u64::from(e.violation.is_some());
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(JournalError::Truncated { .. }) if allow_truncated => break,
                Err(e) => return Err(e),
            }
        }
        Ok(ReadSummary {
            trailer: reader.trailer,
            header: reader.header,
            plan: reader.plan,
            ops,
            expectations,
            failed,
            nemesis,
        })
    }
}

impl FrameSource {
    fn corrupt(&self, detail: &str) -> JournalError {
        JournalError::Corrupt {
            path: self.path.clone(),
            frame: self.frames,
            offset: self.offset,
            detail: detail.into(),
        }
    }

    /// Reads one frame; `Ok(None)` at a clean end of file, `Truncated` inside a frame.
    fn raw_frame(&mut self) -> Result<Option<Frame>, JournalError> {
        let mut len_bytes = [0u8; 4];
        match read_full(&mut self.input, &mut len_bytes) {
            Ok(0) => return Ok(None),
            Ok(4) => {}
            Ok(_) => return Err(self.truncated()),
            Err(source) => return Err(JournalError::Io { path: self.path.clone(), source }),
        }
        let len = u32::from_le_bytes(len_bytes);
        if len > MAX_FRAME_BYTES {
            return Err(self.corrupt(&format!("frame length {len} exceeds the {MAX_FRAME_BYTES}-byte limit")));
        }
        let mut payload = vec![0u8; len as usize];
        match read_full(&mut self.input, &mut payload) {
            Ok(n) if n == payload.len() => {}
            Ok(_) => return Err(self.truncated()),
            Err(source) => return Err(JournalError::Io { path: self.path.clone(), source }),
        }
        let decoded = bincode::serde::decode_from_slice::<Frame, _>(&payload, bincode_decode_config());
        let frame = match decoded {
            Ok((frame, used)) if used == payload.len() => frame,
            Ok(_) => return Err(self.corrupt("frame has trailing bytes")),
            Err(e) => return Err(self.corrupt(&format!("undecodable frame: {e}"))),
        };
        if !matches!(frame, Frame::Trailer(_)) {
            self.hasher.update(&len_bytes);
            self.hasher.update(&payload);
        }
        self.offset += 4 + u64::from(len);
        self.frames += 1;
        Ok(Some(frame))
    }

    fn truncated(&self) -> JournalError {
        JournalError::Truncated { path: self.path.clone(), frame: self.frames, offset: self.offset, ops: self.ops }
    }
}

/// Like `read_exact`, but says how much it got instead of failing at end of file.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// blake3 (hex) of a whole file, streamed.
pub fn file_digest(path: &Path) -> std::io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    let mut file = File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hasher.finalize().to_hex().to_string())
}
