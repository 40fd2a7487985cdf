//! Any bytes as the JSON document of `POST /org/import` (an inline org
//! template): parsing and planning never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use molecule_tenant::domain::org_plan;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = org_plan::plan(doc, None);
    }
});
