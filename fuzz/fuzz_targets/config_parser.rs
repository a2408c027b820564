//! Feeds arbitrary text to the config parser: it must answer Ok or a located error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfko::config::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::parse("fuzz.yaml", &text) {
        Ok(config) => {
            let _ = config.plan_backends();
            let _ = config.target_setup();
            let _ = config.digest();
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
