//! `sfko compare OLD.json NEW.json`: a new result against a baseline (exit 1 when it is worse, 2 when a file is not
//! an sfko result).

use crate::cli::{CompareArgs, Format};
use crate::exit::{Exit, Fatal};

pub fn compare(args: &CompareArgs, format: Format) -> Result<Exit, Fatal> {
    if !args.threshold.is_finite() || args.threshold < 0.0 {
        return Err(Fatal::bad_input(format!("--threshold: a percentage ≥ 0, not {}", args.threshold)));
    }
    let read = |path: &std::path::Path| -> Result<serde_json::Value, Fatal> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Fatal::bad_input(format!("cannot read {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            Fatal::bad_input(format!(
                "{}:{}:{}: not JSON ({e}); expected the output of sfko --format json",
                path.display(),
                e.line(),
                e.column()
            ))
        })
    };
    let (old, new) = (read(&args.old)?, read(&args.new)?);
    let comparison = crate::compare::compare(&old, &new, args.threshold).map_err(Fatal::bad_input)?;
    match format {
        Format::Human => crate::outln!("{}", crate::compare::human(&comparison, args.threshold)),
        Format::Json => crate::outln!("{}", serde_json::to_value(&comparison).unwrap_or_default()),
    }
    Ok(if comparison.regressed() { Exit::BugsFound } else { Exit::Pass })
}
