//! Feeds arbitrary bytes to the journal reader: a damaged, truncated or hostile journal must come back as an error
//! (not an sfko journal, truncated, corrupt, digest mismatch) — never a panic, an abort or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sfko::journal::JournalReader;

fuzz_target!(|data: &[u8]| {
    let input = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut reader) = JournalReader::from_reader(std::path::Path::new("fuzz.bin"), input) else { return };
    let _ = reader.plan.digest();
    // A journal cannot hold more frames than bytes.
    for _ in 0..data.len() {
        match reader.next_frame() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
});
