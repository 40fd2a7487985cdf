//! The Node end-to-end suites in e2e/, against the real binary: the pages
//! in headless Chromium (ui.test.mjs), and MCP driven by the official MCP
//! Inspector CLI over both transports (mcp.test.mjs). They need Node.js,
//! `npm ci` in e2e/ and, for the pages, Debian's chromium; without those
//! they are skipped, unless MOLECULE_REQUIRE_BROWSER is set (as `.ci/run`
//! sets it), when their absence is a failure.

use std::path::Path;
use std::process::Command;

fn run_node_suite(file: &str, needs: &[(&Path, &str)]) {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e");
    let node = Command::new("node").arg("--version").output().is_ok();
    let missing: Vec<&str> = needs
        .iter()
        // (joining an absolute path gives that path)
        .filter(|(p, _)| !e2e.join(p).exists())
        .map(|(_, what)| *what)
        .chain((!node).then_some("node"))
        .collect();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("MOLECULE_REQUIRE_BROWSER").is_none(),
            "{file} needs: {missing:?}"
        );
        eprintln!("skipping {file}; missing: {missing:?}");
        return;
    }
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", file])
        .current_dir(&e2e)
        .env("MOLECULE_BIN", env!("CARGO_BIN_EXE_molecule-tenant"))
        .env("CHROMIUM_PATH", &chromium)
        .output()
        .expect("run node");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{file} failed:\n{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // node exits 0 when no test ran at all, too.
    assert!(
        report.contains("ℹ fail 0") && !report.contains("ℹ pass 0\n"),
        "{report}"
    );
}

#[test]
fn the_pages_work_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM_PATH").unwrap_or_else(|_| "/usr/bin/chromium".into());
    run_node_suite(
        "ui.test.mjs",
        &[
            (
                Path::new("node_modules/playwright-core"),
                "e2e/node_modules (run `npm ci` in e2e/)",
            ),
            (Path::new(&chromium), "chromium (apt-get install chromium)"),
        ],
    );
}

#[test]
fn the_official_mcp_inspector_drives_both_transports() {
    run_node_suite(
        "mcp.test.mjs",
        &[(
            Path::new("node_modules/.bin/mcp-inspector"),
            "e2e/node_modules (run `npm ci` in e2e/)",
        )],
    );
}
