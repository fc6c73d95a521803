//! What maintainer scripts would do: two kit packages register the same
//! alternatives with slaves at different priorities (one package in a
//! loop over its tools, with a computed priority), and the build makes
//! the links dpkg's auto mode would; `alternatives` pins another choice;
//! what no one applies is named by `distill scripts` and in one note per
//! image until packages.toml acknowledges it.

use distill_tests::{Deb, Run, Setup};

use crate::build::common::*;

/// tool-a: `run` and `lint` in a loop, priority computed (40 + 10), a
/// man-page slave for each tool that has one; and an account it would
/// create.
fn tool_a() -> Deb {
    Deb::new("tool-a", "1.0", "amd64")
        .dir("./usr/")
        .dir("./usr/lib/")
        .dir("./usr/lib/tool-a/")
        .dir("./usr/lib/tool-a/bin/")
        .file("./usr/lib/tool-a/bin/run", b"#!/bin/sh\necho a\n")
        .dir("./usr/bin/")
        .file("./usr/lib/tool-a/bin/lint", b"#!/bin/sh\necho lint\n")
        .dir("./usr/lib/tool-a/man/")
        .file("./usr/lib/tool-a/man/run.1.gz", b"a's page")
        .dir("./usr/share/")
        .dir("./usr/share/man/")
        .dir("./usr/share/man/man1/")
        .script(
            "postinst",
            r#"#!/bin/sh
set -e
base=40
priority=$((base + 10))
dir=/usr/lib/tool-a
case "$1" in
configure)
    for t in run lint; do
        slave=
        if [ -e $dir/man/$t.1.gz ]; then
            slave="--slave /usr/share/man/man1/$t.1.gz $t.1.gz $dir/man/$t.1.gz"
        fi
        update-alternatives --install /usr/bin/$t $t $dir/bin/$t $priority $slave
    done
    if ! getent passwd tool >/dev/null; then
        adduser --system --no-create-home tool
    fi
    ;;
esac
exit 0
"#,
        )
}

/// tool-b: `run` at a higher priority, as debhelper writes it, with its
/// own man page and a second slave.
fn tool_b() -> Deb {
    Deb::new("tool-b", "2.0", "amd64")
        .dir("./usr/")
        .dir("./usr/lib/")
        .dir("./usr/lib/tool-b/")
        .file("./usr/lib/tool-b/run", b"#!/bin/sh\necho b\n")
        .file("./usr/lib/tool-b/run.1.gz", b"b's page")
        .file("./usr/lib/tool-b/r", b"#!/bin/sh\necho r\n")
        .script(
            "postinst",
            "#!/bin/sh\nset -e\n\
if [ \"$1\" = \"configure\" ] || [ \"$1\" = \"abort-upgrade\" ]; then\n\
    update-alternatives --install /usr/bin/run run /usr/lib/tool-b/run 100 \\\n\
        --slave /usr/share/man/man1/run.1.gz run.1.gz /usr/lib/tool-b/run.1.gz \\\n\
        --slave /usr/bin/r r /usr/lib/tool-b/r\n\
fi\n",
        )
}

const TOOLS: &str = r#"
[images.tools]
extends = "static"
architectures = ["amd64"]
packages = ["tool-a", "tool-b"]
"#;

fn setup_tools(extra: &str) -> Setup {
    setup(&[tool_a(), tool_b()], &format!("{TOOLS}{extra}"))
}

/// The links of the built image: link path → target.
fn links(s: &Setup, tag: &str) -> std::collections::BTreeMap<String, String> {
    let layout = s.ws.path().join("out/tools-test");
    let tree = unpack(&layout, &manifest(&layout, tag, "amd64"));
    tree.into_iter()
        .filter(|(p, n)| n.kind == 'l' && (p.starts_with("usr/bin/") || p.contains("man1")))
        .map(|(p, n)| (p, String::from_utf8(n.data).unwrap()))
        .collect()
}

#[test]
fn alternatives_are_linked_as_dpkg_would_choose_them() {
    let s = setup_tools("");
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let want = [
        // b's run wins (100 over a's computed 50), with both its slaves.
        ("usr/bin/run", "/usr/lib/tool-b/run"),
        ("usr/bin/r", "/usr/lib/tool-b/r"),
        ("usr/share/man/man1/run.1.gz", "/usr/lib/tool-b/run.1.gz"),
        // lint is a's alone; it has no man page, so no slave.
        ("usr/bin/lint", "/usr/lib/tool-a/bin/lint"),
    ];
    let want: std::collections::BTreeMap<String, String> = want
        .iter()
        .map(|(l, t)| (l.to_string(), t.to_string()))
        .collect();
    for tag in ["latest", "debug"] {
        assert_eq!(links(&s, tag), want, "{tag}");
    }
    // What no one applies is one note for the image.
    let note = run
        .stderr
        .lines()
        .find(|l| l.contains("maintainer scripts"))
        .unwrap_or_else(|| panic!("no note: {}", run.stderr));
    assert!(
        note.contains("tools-test") && note.contains("tool-a (accounts)"),
        "{note}"
    );
    assert!(!note.contains("tool-b"), "{note}");
    assert_eq!(
        run.stderr.matches("maintainer scripts").count(),
        1,
        "{}",
        run.stderr
    );
}

#[test]
fn a_pinned_alternative_wins_and_an_unknown_pin_is_refused() {
    let s = setup_tools(
        "alternatives = { run = \"/usr/lib/tool-a/bin/run\" }\n\
         scripts_ignored = [{ package = \"tool-a\", reason = \"the service account is not needed\" }]\n",
    );
    let run = build(&s.ws, "out");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("maintainer scripts"),
        "acknowledged: {}",
        run.stderr
    );
    let l = links(&s, "latest");
    assert_eq!(l["usr/bin/run"], "/usr/lib/tool-a/bin/run");
    assert_eq!(
        l["usr/share/man/man1/run.1.gz"],
        "/usr/lib/tool-a/man/run.1.gz"
    );
    assert!(!l.contains_key("usr/bin/r"), "b's slave goes with b: {l:?}");

    let toml = std::fs::read_to_string(s.ws.path().join("packages.toml")).unwrap();
    std::fs::write(
        s.ws.path().join("packages.toml"),
        toml.replace("/usr/lib/tool-a/bin/run\"", "/usr/lib/tool-c/run\""),
    )
    .unwrap();
    let run = build(&s.ws, "out2");
    run.assert_error(
        "cannot build tools: alternatives pins run to /usr/lib/tool-c/run, which no package of the image provides (choices: /usr/lib/tool-a/bin/run, /usr/lib/tool-b/run)",
    );
    assert!(!s.ws.path().join("out2/tools-test").exists());
}

#[test]
fn distill_scripts_names_every_action_and_its_status() {
    let s = setup_tools("");
    let run: Run =
        s.ws.run(&["scripts", "--image", "tools", "--distro", "test", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["arch"], "amd64");
    let pkg = |name: &str| {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
            .clone()
    };
    let a = pkg("tool-a");
    let statuses: Vec<(String, String)> = a["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["kind"].as_str().unwrap().to_owned(),
                x["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("alternative".to_owned(), "not-chosen".to_owned()),
            ("alternative".to_owned(), "applied".to_owned()),
            ("accounts".to_owned(), "not-applied".to_owned()),
        ]
    );
    let actions = a["actions"].as_array().unwrap();
    assert_eq!(
        actions[0]["why"],
        "run is /usr/lib/tool-b/run (priority 100, from tool-b)"
    );
    assert_eq!(
        actions[0]["command"],
        "update-alternatives --install /usr/bin/run run /usr/lib/tool-a/bin/run 50 --slave /usr/share/man/man1/run.1.gz run.1.gz /usr/lib/tool-a/man/run.1.gz"
    );
    assert!(
        actions[2]["instead"]
            .as_str()
            .unwrap()
            .contains("/etc/passwd"),
        "{}",
        actions[2]
    );
    let b = pkg("tool-b");
    assert_eq!(b["actions"][0]["status"], "applied");
    assert_eq!(b["actions"][0]["links"].as_array().unwrap().len(), 3);

    // The text form says the same, one line an action.
    let text =
        s.ws.run(&["scripts", "--image", "tools", "--distro", "test"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(
        text.stdout
            .contains("  not applied  postinst accounts: adduser --system --no-create-home tool\n"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("/usr/bin/run -> /usr/lib/tool-b/run"),
        "{}",
        text.stdout
    );
    // An image the lock does not have is one line.
    let run =
        s.ws.run(&["scripts", "--image", "nope", "--distro", "test"]);
    run.assert_error("cannot list the scripts of nope: the test lock has no nope");
}
