//! Argument handling of the binary itself. (The end-to-end suite lives in
//! the workspace's `tests/` crate; having a test here also makes cargo
//! build the `distill` binary that suite runs.)

use std::process::Command;

fn distill(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_distill"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_succeeds_and_names_commands() {
    let (code, out, _) = distill(&["--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("show"), "{out}");
}

#[test]
fn unknown_flag_is_exit_1() {
    let (code, _, err) = distill(&["show", "--bogus"]);
    assert_eq!(code, 1);
    assert!(err.contains("--bogus"), "{err}");
}

#[test]
fn missing_config_is_one_clean_line() {
    let dir = std::env::temp_dir().join(format!("distill-cli-test-{}", std::process::id()));
    let (code, out, err) = distill(&[
        "--config",
        dir.join("nope.toml").to_str().unwrap(),
        "show",
        "x",
        "--distro",
        "d",
    ]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot read "), "{err}");
}

#[test]
fn verbose_errors_give_each_cause_a_line() {
    let dir = std::env::temp_dir().join(format!("distill-cli-test-v-{}", std::process::id()));
    let config = dir.join("nope.toml");
    let (code, _, err) = distill(&["-v", "--config", config.to_str().unwrap(), "lock"]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert_eq!(lines[0], format!("error: cannot read {}", config.display()));
    assert!(lines[1].starts_with("  caused by: No such file"), "{err}");
    // Without -v: the same causes on one line.
    let (_, _, err) = distill(&["--config", config.to_str().unwrap(), "lock"]);
    assert_eq!(
        err.trim_end(),
        format!(
            "error: cannot read {}: {}",
            config.display(),
            &lines[1][13..]
        )
    );
}
