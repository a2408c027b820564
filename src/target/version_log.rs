//! The versioning layer's state on disk, so `sfko serve --root DIR` killed with SIGKILL and started again on the
//! same DIR still knows every version and delete marker it acknowledged.
//!
//! An append-only file of JSON lines, `DIR/.sfko-versions/state.log`: each line is a bucket's mode, a key's whole
//! version chain after a change (an empty chain: the key has none left), or a forgotten bucket; the last line for a
//! bucket or key wins. It is appended while the layer's state lock is held, so its order is the order of the
//! changes. On start it is read back, a torn last line (the kill came mid-write) is ignored, and the file is
//! rewritten compacted (temp file + rename) before anything new is appended.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::versioned::{Bucket, Mode, Version};

/// One change of the versioning state.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Entry {
    Mode {
        bucket: String,
        mode: Mode,
    },
    Chain {
        bucket: String,
        key: String,
        versions: Vec<Version>,
    },
    Forget {
        bucket: String,
    },
    /// Every id and archive number below `n` has been handed out (written by compaction, which drops the lines
    /// that named them).
    Next {
        n: u64,
    },
}

/// Appends after which the log is rewritten compacted, so it stays proportional to the state, not to the history.
const COMPACT_EVERY: u64 = 10_000;

/// The open log.
pub(super) struct VersionLog {
    path: PathBuf,
    file: Mutex<Option<std::fs::File>>,
    appended: std::sync::atomic::AtomicU64,
}

impl VersionLog {
    /// Reads the state left in `archive_dir` (empty if none) and opens the log for appending, compacted. Returns the
    /// first id and archive number never handed out. Buckets whose directory is gone (a crash between s3s-fs's
    /// DeleteBucket and the log's line for it) are dropped.
    pub fn open(archive_dir: &Path) -> (VersionLog, HashMap<String, Bucket>, u64) {
        let path = archive_dir.join("state.log");
        let (mut state, next) = restore(&path);
        if let Some(root) = archive_dir.parent() {
            state.retain(|bucket, _| root.join(bucket).is_dir());
        }
        let log = VersionLog { path, file: Mutex::new(None), appended: std::sync::atomic::AtomicU64::new(0) };
        if let Err(e) = log.compact(&state, next) {
            tracing::warn!("versioning state log {}: {e}; versions will not survive a restart", log.path.display());
        }
        (log, state, next)
    }

    /// Appends one change; true when the log is due for compaction. A log that cannot be written costs durability
    /// across restarts, never the answer.
    pub fn append(&self, entry: &Entry) -> bool {
        let Ok(mut file) = self.file.lock() else { return false };
        let Some(file) = file.as_mut() else { return false };
        let Ok(mut line) = serde_json::to_vec(entry) else { return false };
        line.push(b'\n');
        if let Err(e) = file.write_all(&line) {
            tracing::warn!("versioning state log {}: {e}", self.path.display());
        }
        let appended = self.appended.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        appended.is_multiple_of(COMPACT_EVERY)
    }

    /// Rewrites the log as the current state alone (and `next`), atomically, and reopens it for appending.
    pub fn compact(&self, state: &HashMap<String, Bucket>, next: u64) -> std::io::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let temp = self.path.with_extension("log.partial");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        writeln!(out, "{}", serde_json::to_string(&Entry::Next { n: next }).map_err(std::io::Error::other)?)?;
        let buckets: BTreeMap<&String, &Bucket> = state.iter().collect();
        for (bucket, model) in buckets {
            let mode = Entry::Mode { bucket: bucket.clone(), mode: model.mode };
            writeln!(out, "{}", serde_json::to_string(&mode).map_err(std::io::Error::other)?)?;
            for (key, versions) in &model.keys {
                let chain = Entry::Chain { bucket: bucket.clone(), key: key.clone(), versions: versions.clone() };
                writeln!(out, "{}", serde_json::to_string(&chain).map_err(std::io::Error::other)?)?;
            }
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&temp, &self.path)?;
        let file = std::fs::OpenOptions::new().append(true).open(&self.path)?;
        if let Ok(mut open) = self.file.lock() {
            *open = Some(file);
        }
        Ok(())
    }
}

/// The state a log describes, and the first number never handed out (over every line, so an id whose version was
/// deleted since is not handed out again); a missing log is an empty state, an unreadable line ends the reading (a
/// torn write).
fn restore(path: &Path) -> (HashMap<String, Bucket>, u64) {
    let mut state: HashMap<String, Bucket> = HashMap::new();
    let mut next = 1u64;
    let Ok(file) = std::fs::File::open(path) else { return (state, next) };
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let Ok(line) = line else { break };
        let entry = match serde_json::from_str::<Entry>(&line) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(
                    "{}:{}: {e}; the state after it is not restored (a torn write?)",
                    path.display(),
                    number + 1
                );
                break;
            }
        };
        match entry {
            Entry::Mode { bucket, mode } => {
                state.entry(bucket).or_insert_with(|| Bucket { mode, keys: BTreeMap::new() }).mode = mode;
            }
            Entry::Chain { bucket, key, versions } => {
                next = next.max(versions.iter().map(Version::number).max().unwrap_or(0).saturating_add(1));
                let Some(model) = state.get_mut(&bucket) else { continue };
                if versions.is_empty() {
                    model.keys.remove(&key);
                } else {
                    model.keys.insert(key, versions);
                }
            }
            Entry::Forget { bucket } => {
                state.remove(&bucket);
            }
            Entry::Next { n } => next = next.max(n),
        }
    }
    (state, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(n: u64) -> String {
        format!(
            r#"{{"id":"{n:020}","archive":"v{n:012}","size":1,"etag":"e","modified":{{"secs_since_epoch":0,"nanos_since_epoch":0}}}}"#
        )
    }

    #[test]
    fn a_restart_never_hands_out_an_id_again_and_a_torn_line_ends_the_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("b")).expect("bucket dir");
        let archive = dir.path().join(".sfko-versions");
        std::fs::create_dir_all(&archive).expect("archive dir");
        let lines = [
            r#"{"mode":{"bucket":"b","mode":"Enabled"}}"#.to_string(),
            format!(r#"{{"chain":{{"bucket":"b","key":"k","versions":[{}]}}}}"#, version(1)),
            format!(r#"{{"chain":{{"bucket":"b","key":"k","versions":[{},{}]}}}}"#, version(1), version(2)),
            // Version 2 deleted: its id must still never come back.
            format!(r#"{{"chain":{{"bucket":"b","key":"k","versions":[{}]}}}}"#, version(1)),
            r#"{"mode":{"bucket":"gone","mode":"Enabled"}}"#.to_string(),
            r#"{"chain":{"bucket":"b","key":"torn","vers"#.to_string(),
        ];
        std::fs::write(archive.join("state.log"), lines.join("\n")).expect("write log");
        let (_log, state, next) = VersionLog::open(&archive);
        assert_eq!(next, 3, "after the highest id ever handed out");
        assert_eq!(state.keys().collect::<Vec<_>>(), vec!["b"], "a bucket whose directory is gone is dropped");
        assert_eq!(state["b"].keys.len(), 1, "the torn line is not applied");
        // Compaction keeps the high-water mark.
        let (_log, again, next) = VersionLog::open(&archive);
        assert_eq!((next, again["b"].keys.len()), (3, 1));
    }
}
