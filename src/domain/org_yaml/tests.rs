use super::*;
use serde_json::json;

fn files(pairs: &[(&str, &str)]) -> Files {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn includes_resolve_relative_to_the_including_file() {
    let f = files(&[
        ("org.yaml", "name: acme\nworkspaces:\n  - !include teams/dev.yaml\n"),
        (
            "teams/dev.yaml",
            "name: dev\nchildren:\n  - !include members/ann.yaml\nplugins: [a, !b, -c]\n",
        ),
        ("teams/members/ann.yaml", "name: ann\ntier: 3\n"),
    ]);
    let v = expand(&f, ENTRY).unwrap();
    assert_eq!(v["workspaces"][0]["children"][0], json!({"name": "ann", "tier": 3}));
    assert_eq!(v["workspaces"][0]["plugins"], json!(["a", "!b", "-c"]));
}

#[test]
fn escapes_cycles_depth_and_missing_files_are_refused() {
    let esc = files(&[("org.yaml", "a: !include ../secret.yaml\n")]);
    assert!(expand(&esc, ENTRY).unwrap_err().contains("escapes the template"));
    let abs = files(&[("org.yaml", "a: !include /etc/passwd\n")]);
    assert!(expand(&abs, ENTRY).unwrap_err().contains("relative"));
    let cyc = files(&[
        ("org.yaml", "a: !include b.yaml\n"),
        ("b.yaml", "b: !include org.yaml\n"),
    ]);
    assert!(expand(&cyc, ENTRY)
        .unwrap_err()
        .contains("include cycle: org.yaml -> b.yaml -> org.yaml"));
    let missing = files(&[("org.yaml", "a: !include nope.yaml\n")]);
    assert!(expand(&missing, ENTRY).unwrap_err().contains("not in the template"));
    let mut deep = Files::new();
    for i in 0..20 {
        deep.insert(
            if i == 0 {
                "org.yaml".into()
            } else {
                format!("f{i}.yaml")
            },
            format!("x: !include f{}.yaml\n", i + 1),
        );
    }
    deep.insert("f20.yaml".into(), "end: true\n".into());
    assert!(expand(&deep, ENTRY).unwrap_err().contains("deeper than 16"));
}

#[test]
fn bombs_are_refused_quickly() {
    let started = std::time::Instant::now();
    let laughs = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n\
                  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n\
                  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n";
    assert!(expand(&files(&[("org.yaml", laughs)]), ENTRY).is_err());
    let nested = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(expand(&files(&[("org.yaml", &nested)]), ENTRY).is_err());
    let mut twice = Files::new();
    for i in 0..16 {
        twice.insert(
            if i == 0 {
                "org.yaml".into()
            } else {
                format!("l{i}.yaml")
            },
            format!("a: !include l{n}.yaml\nb: !include l{n}.yaml\n", n = i + 1),
        );
    }
    twice.insert("l16.yaml".into(), "leaf: [1, 2, 3, 4, 5, 6, 7, 8]\n".into());
    assert!(expand(&twice, ENTRY).unwrap_err().contains("exceeds"));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn an_alias_replaying_a_large_value_is_stopped_as_it_replays() {
    let started = std::time::Instant::now();
    let big = "x".repeat(500_000);
    let refs = vec!["*a"; 14_000].join(",");
    let doc = format!("name: o\nworkspaces: [{{name: a}}]\na: &a {big}\nb: [{refs}]\n");
    let err = expand(&files(&[("org.yaml", &doc)]), ENTRY).unwrap_err();
    assert!(err.contains("bytes of text"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn nesting_is_bounded_across_includes() {
    let mut f = Files::new();
    let level = |next: &str| format!("x: {}!include {next}{}\n", "[".repeat(30), "]".repeat(30));
    f.insert("org.yaml".into(), level("f1.yaml"));
    for i in 1..12 {
        f.insert(
            format!("f{i}.yaml"),
            level(&format!("f{}.yaml", i + 1)).replacen("x: ", "", 1),
        );
    }
    f.insert("f12.yaml".into(), "end\n".into());
    let err = expand(&f, ENTRY).unwrap_err();
    assert!(err.contains("across includes"), "{err}");
}

#[test]
fn paths_are_checked_and_normalised() {
    assert_eq!(check_relpath("./a//b.md").unwrap(), "a/b.md");
    for bad in ["", "/abs", "../x", "a/../../x", "a\\b", "a\0b", ".", "./"] {
        assert!(check_relpath(bad).is_err(), "{bad:?}");
    }
    assert!(check_files(&files(&[("a", "1"), ("./a", "2")]))
        .unwrap_err()
        .contains("twice"));
}
