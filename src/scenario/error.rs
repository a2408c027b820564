//! Errors from loading scenario files.
//!
//! Every variant that concerns a file says which file, and where the parser
//! knows it, the line and column (`path:line:col: message`), so an editor or a
//! terminal can jump straight to the problem.

/// Why scenarios could not be loaded or selected.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file or directory could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The text is not well-formed YAML (or not UTF-8, or several documents).
    #[error("{}: {message}", at(.path, *.line, *.col))]
    Syntax { path: String, line: usize, col: usize, message: String },
    /// The YAML is well-formed but does not describe valid scenarios.
    #[error("{}: {message}", at(.path, *.line, *.col))]
    Invalid { path: String, line: usize, col: usize, message: String },
    /// Two scenarios share a name, so selecting by name would be ambiguous.
    #[error("{}: duplicate scenario name '{name}'; first defined at {}", at(.path, *.line, 0), at(.first_path, *.first_line, 0))]
    Duplicate { name: String, path: String, line: usize, first_path: String, first_line: usize },
    /// A scenario asked for by name does not exist.
    #[error("no scenario named '{name}'{}; available: {}", did_you_mean(.suggestion), .available.join(", "))]
    NotFound { name: String, suggestion: Option<String>, available: Vec<String> },
    /// A file or directory held no scenarios at all, which is always a mistake.
    #[error("{path}: no scenarios found; {reason}")]
    NoScenarios { path: String, reason: String },
}

/// Renders `path:line:col`, dropping the parts that are unknown (0).
fn at(path: &str, line: usize, col: usize) -> String {
    match (line, col) {
        (0, _) => path.to_string(),
        (l, 0) => format!("{path}:{l}"),
        (l, c) => format!("{path}:{l}:{c}"),
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean '{s}'?)"),
        None => String::new(),
    }
}
