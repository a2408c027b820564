//! The exit vocabulary, in one place: what every command ends with (0 pass, 1 bugs found, 2 bad input, 3 harness
//! failure) and the one error type that carries "bad input" or "harness failure" up to `main`.
//!
//! This module depends on nothing else in the crate, so every layer — target, exec, journal, replay, shrink,
//! distribute, app — can return a [`Fatal`] without importing anything above itself.

/// sfko's exit codes, the contract users' scripts depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    /// Every expectation held (skipped runs count as passing; their reason is printed).
    Pass = 0,
    /// A workload or check found something: the target deviated from S3.
    BugsFound = 1,
    /// Bad input: a scenario, config, journal or flag, with a located message.
    BadInput = 2,
    /// The harness could not do its job: target unreachable, NATS down past retries, a journal that cannot be written.
    Harness = 3,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error that ends the command: its message (printed as `sfko: error: …`) and its exit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Fatal {
    pub code: Exit,
    pub message: String,
}

impl Fatal {
    /// Exit 2: the user's input (flags, scenario, config, journal) is wrong; the message says where and what.
    pub fn bad_input(message: impl Into<String>) -> Fatal {
        Fatal { code: Exit::BadInput, message: message.into() }
    }

    /// Exit 3: sfko could not do its job (the target, NATS or the local disk failed it).
    pub fn harness(message: impl Into<String>) -> Fatal {
        Fatal { code: Exit::Harness, message: message.into() }
    }

    /// The same error with `context: ` in front of its message, keeping its code.
    pub fn context(self, context: impl std::fmt::Display) -> Fatal {
        Fatal { code: self.code, message: format!("{context}: {}", self.message) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        assert_eq!([Exit::Pass, Exit::BugsFound, Exit::BadInput, Exit::Harness].map(Exit::code), [0, 1, 2, 3]);
    }

    #[test]
    fn context_keeps_the_code() {
        let e = Fatal::bad_input("no such file").context("--config x.yaml");
        assert_eq!(e, Fatal { code: Exit::BadInput, message: "--config x.yaml: no such file".into() });
        assert_eq!(Fatal::harness("down").code, Exit::Harness);
    }
}
