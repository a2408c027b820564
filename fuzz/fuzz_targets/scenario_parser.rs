//! Feeds arbitrary text to the scenario parser: it must return `Ok` or `Err`,
//! never panic, overflow the stack or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfko::scenario::{parse_str, select};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let known = sfko::catalogue::known();
    match parse_str("fuzz.yaml", &text, &known) {
        Ok(scenarios) => {
            // Exercise the rest of the public surface on whatever parsed.
            let names: Vec<String> = scenarios.iter().map(|s| s.name.to_lowercase()).collect();
            let _ = select(&scenarios, &names);
            for s in &scenarios {
                let _ = s.objects.size.to_string();
                assert!(s.objects.size.min() <= s.objects.size.max());
                assert!(!s.tests.is_empty() && !s.buckets.is_empty());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    let _ = sfko::scenario::parse_size(&text);
    let _ = sfko::scenario::parse_duration_secs(&text);
});
