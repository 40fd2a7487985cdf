//! An org template of two files, the entry including the other: the
//! budgeted YAML reader, the include resolver and the import planner never
//! panic, and finish within the reader's budgets (libFuzzer's -timeout
//! catches a hang).
#![no_main]

use libfuzzer_sys::fuzz_target;
use molecule_tenant::domain::org_plan;
use molecule_tenant::domain::org_yaml::{self, Files};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first NUL splits the input into the entry and the included file.
    let (main, part) = text.split_once('\0').unwrap_or((&text, "name: part\n"));
    let files = Files::from([
        (org_yaml::ENTRY.to_string(), main.to_string()),
        ("team/part.yaml".to_string(), part.to_string()),
    ]);
    if let Ok(files) = org_yaml::check_files(&files) {
        if let Ok(doc) = org_yaml::expand(&files, org_yaml::ENTRY) {
            let _ = org_plan::plan(doc, Some(&files));
        }
    }
});
