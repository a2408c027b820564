//! Finds the line each scenario starts on.
//!
//! serde_norway keeps no source positions on successfully parsed values, so
//! the loader scans the text for `name:` keys instead. To stay correct rather
//! than merely plausible, a line is only attributed to a scenario when the
//! name written on it equals the parsed name; anything it cannot read
//! unambiguously (escapes, anchors, tags, block scalars) yields 0 ("unknown").

/// Returns, for each name in order, the 1-based line of its `name:` key, or 0.
pub(crate) fn name_lines(text: &str, names: &[&str]) -> Vec<usize> {
    let candidates: Vec<(usize, Option<String>)> =
        yaml_lines(text).enumerate().filter_map(|(i, line)| name_value(line).map(|v| (i + 1, v))).collect();
    let mut next = 0;
    names
        .iter()
        .map(|name| {
            let hit = candidates[next..].iter().position(|(_, v)| v.as_deref() == Some(*name));
            match hit {
                Some(offset) => {
                    let (line, _) = candidates[next + offset];
                    next += offset + 1;
                    line
                }
                None => 0,
            }
        })
        .collect()
}

/// Splits text into lines the way libyaml counts them (so line numbers agree
/// with its error locations): `\r\n`, `\r`, `\n`, NEL, LS and PS all end a line.
pub(crate) fn yaml_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.find(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
            Some(i) => {
                let brk = if t[i..].starts_with("\r\n") { 2 } else { t[i..].chars().next().map_or(1, char::len_utf8) };
                rest = Some(&t[i + brk..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                (!t.is_empty()).then_some(t)
            }
        }
    })
}

/// If `line` holds a `name:` key, returns `Some(value)` where value is the
/// plain-text name when it can be read unambiguously.
fn name_value(line: &str) -> Option<Option<String>> {
    let mut t = line.trim_start();
    let mut flow = false;
    loop {
        if let Some(rest) = t.strip_prefix('-').filter(|r| r.starts_with([' ', '\t'])) {
            t = rest.trim_start();
        } else if let Some(rest) = t.strip_prefix('{') {
            flow = true;
            t = rest.trim_start();
        } else {
            break;
        }
    }
    let rest = ["name", "\"name\"", "'name'"].iter().find_map(|key| t.strip_prefix(key))?.trim_start();
    let value = rest.strip_prefix(':')?;
    if !(value.is_empty() || value.starts_with([' ', '\t'])) {
        return None;
    }
    Some(scalar_text(value.trim(), flow))
}

/// Reads a one-line scalar the simple way; `None` for anything unusual.
fn scalar_text(v: &str, flow: bool) -> Option<String> {
    if let Some(body) = v.strip_prefix('"') {
        let end = body.find('"')?;
        let inner = &body[..end];
        return (!inner.contains('\\')).then(|| inner.to_string());
    }
    if let Some(body) = v.strip_prefix('\'') {
        let end = body.find('\'')?;
        let inner = &body[..end];
        return (!body[end + 1..].starts_with('\'')).then(|| inner.to_string());
    }
    if v.starts_with(['&', '*', '!', '|', '>', '[', '{']) {
        return None;
    }
    let mut plain = match v.find(" #") {
        Some(i) => &v[..i],
        None => v,
    };
    if flow {
        plain = plain.split([',', '}']).next().unwrap_or("");
    }
    Some(plain.trim_end().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_like_libyaml() {
        let v: Vec<&str> = yaml_lines("a\r\nb\rc\nd\u{2028}e\n").collect();
        assert_eq!(v, vec!["a", "b", "c", "d", "e"]);
        assert_eq!(yaml_lines("").count(), 0);
        assert_eq!(yaml_lines("\n\nx").collect::<Vec<_>>(), vec!["", "", "x"]);
    }

    #[test]
    fn finds_block_and_flow_names() {
        let text = "scenarios:\n  - name: A\n    tests: [put]\n  -   name: \"B\" # c\n  - {name: C, tests: [put]}\n";
        assert_eq!(name_lines(text, &["A", "B", "C"]), vec![2, 4, 5]);
    }

    #[test]
    fn unreadable_names_are_unknown_not_wrong() {
        let text = "- name: \"a\\tb\"\n  tests: [put]\n- name: B\n";
        assert_eq!(name_lines(text, &["a\tb", "B"]), vec![0, 3]);
    }

    #[test]
    fn decoys_in_block_scalars_are_skipped_by_value() {
        let text = "clouds:\n  x: |\n    name: B\n- name: A\n- name: B\n";
        assert_eq!(name_lines(text, &["A", "B"]), vec![4, 5]);
    }
}
