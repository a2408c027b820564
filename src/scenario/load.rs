//! Turning files and text into validated scenarios, and picking them by name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::lines::{name_lines, yaml_lines};
use super::schema::{with_known, RawFile, RawScenario};
use super::{Known, ObjectSpec, Origin, Scenario, ScenarioError};

/// Parses one file's text; `file_label` is used in errors and [`Origin::file`].
///
/// Syntax is checked first on its own so that YAML mistakes are reported as
/// [`ScenarioError::Syntax`] and schema mistakes as [`ScenarioError::Invalid`].
pub fn parse_str(file_label: &str, text: &str, known: &Known) -> Result<Vec<Scenario>, ScenarioError> {
    serde_norway::from_str::<IgnoredAny>(text).map_err(|e| syntax_error(file_label, text, e))?;
    let raw: RawFile = with_known(known, || serde_norway::from_str(text)).map_err(|e| invalid_error(file_label, e))?;
    if raw.scenarios.is_empty() {
        return Err(ScenarioError::NoScenarios {
            path: file_label.to_string(),
            reason: "expected a list of scenarios, or a mapping with a non-empty 'scenarios' list".to_string(),
        });
    }
    let names: Vec<&str> = raw.scenarios.iter().map(|s| s.name.0.as_str()).collect();
    let lines = name_lines(text, &names);
    let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
    let scenarios: Vec<Scenario> = raw
        .scenarios
        .into_iter()
        .zip(lines)
        .map(|(raw, line)| {
            let origin = Origin { file: file_label.to_string(), line, source_digest: digest.clone() };
            build(raw, origin)
        })
        .collect();
    check_unique(&scenarios)?;
    Ok(scenarios)
}

/// Converts an already-validated raw scenario into the public form.
fn build(raw: RawScenario, origin: Origin) -> Scenario {
    let buckets = raw.required.and_then(|r| r.buckets).map(|b| b.0).unwrap_or_else(|| vec![Default::default()]);
    let defaults = ObjectSpec::default();
    let objects = match raw.objects {
        Some(o) => {
            ObjectSpec { count: o.count.map_or(defaults.count, |c| c.0), size: o.size.map_or(defaults.size, |s| s.0) }
        }
        None => defaults,
    };
    Scenario {
        name: raw.name.0,
        buckets,
        objects,
        tests: raw.tests.0,
        checks: raw.checks.map(|c| c.0).unwrap_or_default(),
        random_ops: raw.random_ops.map(Into::into).unwrap_or_default(),
        origin,
    }
}

/// Loads a scenario file, or every `*.yaml`/`*.yml` file of a directory.
///
/// Directory entries are read in file-name order so the resulting scenario
/// order (and thus a run) never depends on the file system's listing order.
/// Names must be unique across all files loaded together.
pub fn load_path(path: &Path, known: &Known) -> Result<Vec<Scenario>, ScenarioError> {
    let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    let files = if meta.is_dir() { yaml_files(path)? } else { vec![path.to_path_buf()] };
    if files.is_empty() {
        return Err(ScenarioError::NoScenarios {
            path: path.display().to_string(),
            reason: "the directory has no *.yaml or *.yml files".to_string(),
        });
    }
    let mut all = Vec::new();
    for file in &files {
        let text = read_text(file)?;
        all.extend(parse_str(&file.display().to_string(), &text, known)?);
    }
    check_unique(&all)?;
    Ok(all)
}

/// The `*.yaml`/`*.yml` files directly inside `dir`, sorted by file name.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io_error(dir, e))?.path();
        let is_yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if is_yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// Reads a file as UTF-8, reporting where invalid bytes start.
fn read_text(path: &Path) -> Result<String, ScenarioError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let col = String::from_utf8_lossy(&valid[line_start..]).chars().count() + 1;
        ScenarioError::Syntax {
            path: path.display().to_string(),
            line,
            col,
            message: "file is not valid UTF-8".to_string(),
        }
    })
}

/// Rejects two scenarios with the same name, naming both places.
fn check_unique(scenarios: &[Scenario]) -> Result<(), ScenarioError> {
    let mut seen: HashMap<&str, &Origin> = HashMap::new();
    for s in scenarios {
        if let Some(first) = seen.insert(&s.name, &s.origin) {
            return Err(ScenarioError::Duplicate {
                name: s.name.clone(),
                path: s.origin.file.clone(),
                line: s.origin.line,
                first_path: first.file.clone(),
                first_line: first.line,
            });
        }
    }
    Ok(())
}

/// Picks scenarios by exact (case-sensitive) name, in the order asked for.
///
/// An empty `names` selects everything, in load order. Repeated names are
/// selected once. A miss lists what exists, and suggests a case-insensitive
/// match, because "write 0b" vs "Write 0B" is the usual mistake.
pub fn select<'a>(all: &'a [Scenario], names: &[String]) -> Result<Vec<&'a Scenario>, ScenarioError> {
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    let mut picked: Vec<&Scenario> = Vec::new();
    for name in names {
        let found = all.iter().find(|s| &s.name == name).ok_or_else(|| not_found(all, name))?;
        if !picked.iter().any(|p| std::ptr::eq(*p, found)) {
            picked.push(found);
        }
    }
    Ok(picked)
}

fn not_found(all: &[Scenario], name: &str) -> ScenarioError {
    ScenarioError::NotFound {
        name: name.to_string(),
        suggestion: all.iter().find(|s| s.name.to_lowercase() == name.to_lowercase()).map(|s| s.name.clone()),
        available: all.iter().map(|s| s.name.clone()).collect(),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> ScenarioError {
    ScenarioError::Io { path: path.display().to_string(), source }
}

/// Splits a serde_norway error into line, column and a message without the
/// trailing "at line L column C" (the location goes in front instead).
fn locate(err: &serde_norway::Error) -> (usize, usize, String) {
    let mut text = err.to_string();
    if text.starts_with(".[") {
        // serde_norway renders the root of a top-level list as ".[0]".
        text.remove(0);
    }
    let Some(loc) = err.location() else {
        return (0, 0, text);
    };
    let suffixes =
        [format!(" at line {} column {}", loc.line(), loc.column()), format!(" at position {}", loc.index())];
    for suffix in &suffixes {
        if let Some(stripped) = text.strip_suffix(suffix.as_str()) {
            return (loc.line(), loc.column(), stripped.to_string());
        }
    }
    let message = text.replacen(suffixes[0].as_str(), "", 1);
    (loc.line(), loc.column(), message)
}

fn syntax_error(path: &str, text: &str, err: serde_norway::Error) -> ScenarioError {
    let (mut line, mut col, mut message) = locate(&err);
    if line == 0 && message.contains("more than one document") {
        (line, col, message) = second_document(text);
    }
    ScenarioError::Syntax { path: path.to_string(), line, col, message }
}

/// Explains serde_norway's location-less "more than one document" error:
/// either the text after the first document does not parse (report that
/// error, located), or it is a real second document (point at its `---`).
fn second_document(text: &str) -> (usize, usize, String) {
    let mut docs = serde_norway::Deserializer::from_str(text);
    let second = docs.nth(1).and_then(|doc| IgnoredAny::deserialize(doc).err());
    if let Some(err) = second {
        let (line, col, message) = locate(&err);
        if line > 0 {
            return (line, col, format!("unexpected text after the end of the YAML document: {message}"));
        }
    }
    let line = second_document_line(text);
    let message = if line > 0 {
        "a file must hold a single YAML document; remove this '---' and put all scenarios in one list"
    } else {
        "a file must hold a single YAML document ('---' and '...' separators are not supported)"
    };
    (line, usize::from(line > 0), message.to_string())
}

fn invalid_error(path: &str, err: serde_norway::Error) -> ScenarioError {
    let (line, col, message) = locate(&err);
    ScenarioError::Invalid { path: path.to_string(), line, col, message }
}

/// The line of the `---` that starts a second document, or 0 if not found.
fn second_document_line(text: &str) -> usize {
    let mut seen_content = false;
    for (i, line) in yaml_lines(text).enumerate() {
        let after_marker = match line.strip_prefix("---") {
            Some(rest) if rest.is_empty() || rest.starts_with([' ', '\t']) => Some(rest),
            _ => None,
        };
        if after_marker.is_some() && seen_content {
            return i + 1;
        }
        let t = after_marker.unwrap_or(line).trim();
        if !t.is_empty() && !t.starts_with('#') && !t.starts_with('%') {
            seen_content = true;
        }
    }
    0
}
