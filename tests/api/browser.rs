//! The browser tests (e2e/ui.test.mjs): headless Chromium against the real
//! binary. They need Node.js, Debian's chromium and `npm ci` in e2e/;
//! without those they are skipped, unless MOLECULE_REQUIRE_BROWSER is set
//! (as `.ci/run` sets it), when their absence is a failure.

use std::path::Path;
use std::process::Command;

#[test]
fn the_pages_work_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let e2e = root.join("e2e");
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let missing: Vec<&str> = [
        (!e2e.join("node_modules/playwright-core").is_dir()).then_some("e2e/node_modules (run `npm ci` in e2e/)"),
        (!Path::new(&chromium).exists()).then_some("chromium (apt-get install chromium)"),
        Command::new("node")
            .arg("--version")
            .output()
            .is_err()
            .then_some("node"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("MOLECULE_REQUIRE_BROWSER").is_none(),
            "the browser tests need: {missing:?}"
        );
        eprintln!("skipping the browser tests; missing: {missing:?}");
        return;
    }
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "ui.test.mjs"])
        .current_dir(&e2e)
        .env("MOLECULE_BIN", env!("CARGO_BIN_EXE_molecule-tenant"))
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .expect("run node");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // node exits 0 when no test ran at all, too.
    assert!(
        report.contains("ℹ fail 0") && !report.contains("ℹ pass 0\n"),
        "{report}"
    );
}
