//! The journal: one run, recorded so that it can be replayed from the file alone.
//!
//! Layout: the 8-byte [`MAGIC`], then frames, each a little-endian `u32` length and the bincode (2.0.1, standard
//! config) encoding of a [`Frame`]. The first frame is the [`Header`], the second the [`Plan`], then op records and
//! expectations as they complete, and last a [`Trailer`] holding a blake3 over every byte before it, so a torn or edited
//! file is detected. A file without a trailer is a run that was cut short (crash, kill): everything before the cut is
//! still readable and reported as truncated.

mod judge;
mod reader;
mod record;
mod writer;

pub use reader::{file_digest, JournalError, JournalReader, ReadSummary};
pub use record::*;
pub use writer::{encode_frame, partial_path, Finished, JournalSink, JournalWriter};

/// First bytes of every journal.
pub const MAGIC: [u8; 8] = *b"SFKOJNL\x01";

/// Bump on any change to the frame types or their encoding; readers refuse other versions with a clear message.
pub const FORMAT_VERSION: u32 = 13;

/// Upper bound for one frame (the plan of a ten-million-object scenario fits), so a corrupt length cannot make the
/// reader allocate without bound. The writer refuses to write a bigger frame.
pub const MAX_FRAME_BYTES: u32 = 1024 * 1024 * 1024;

pub(crate) fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

/// The same encoding with a decode limit: bincode only checks the lengths claimed *inside* a frame (strings,
/// vectors) against a limit, and without one a flipped byte can claim 2^64 bytes and abort the process.
pub(crate) fn bincode_decode_config() -> bincode::config::Configuration<
    bincode::config::LittleEndian,
    bincode::config::Varint,
    bincode::config::Limit<{ MAX_FRAME_BYTES as usize }>,
> {
    bincode::config::standard().with_limit::<{ MAX_FRAME_BYTES as usize }>()
}

/// What the trailer's digest covers besides every byte before it: the trailer's own fields, so an edited verdict or
/// count is detected too.
pub(crate) fn trailer_digest(before: &blake3::Hasher, trailer: &Trailer) -> crate::content::Digest {
    let mut hasher = before.clone();
    let fields = (trailer.ops, trailer.expectations, trailer.failed, trailer.verdict, &trailer.reason);
    if let Ok(bytes) = bincode::serde::encode_to_vec(fields, bincode_config()) {
        hasher.update(&bytes);
    }
    hasher.finalize().into()
}

/// Where a run's journal goes by default: `<dir>/<seed>-<scenario slug>-<plan digest prefix>.bin`.
pub fn run_path(dir: &std::path::Path, plan: &crate::plan::Plan) -> std::path::PathBuf {
    let slug: String =
        plan.scenario.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    let digest = plan.digest();
    dir.join(format!("{}-{}-{}.bin", plan.seed, slug.trim_matches('-'), digest.get(..8).unwrap_or(&digest)))
}
