//! `stored_tokens` is written by other programs (huggingface_hub, editors, anything): the parser
//! must never panic on any bytes, and what it accepts must survive our own writer unchanged —
//! `render` then `parse` gives back the same sections, keys and values (in the writer's sorted
//! section order, which is huggingface_hub's).
#![no_main]

use hf_authd::store::ini;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = ini::parse(data) else { return };
    let rendered = ini::render(&file);
    let again = ini::parse(rendered.as_bytes())
        .unwrap_or_else(|e| panic!("our own rendering does not parse: {e}\n{rendered:?}"));
    file.sections.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(again, file, "render → parse changed the file\n{rendered:?}");
    assert_eq!(ini::render(&again), rendered, "rendering is not stable");
});
