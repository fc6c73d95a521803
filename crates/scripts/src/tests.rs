use std::collections::BTreeMap;

use super::*;

fn files(path: &str) -> Option<FileKind> {
    match path {
        "/usr/lib/tool/bin/run" | "/usr/lib/tool/bin/lint" | "/usr/share/man/man1/run.1.gz" => {
            Some(FileKind::File)
        }
        "/usr/lib/tool" => Some(FileKind::Dir),
        _ => None,
    }
}

fn act(postinst: &str) -> Vec<Action> {
    let scripts = BTreeMap::from([("postinst".to_owned(), postinst.to_owned())]);
    actions(&scripts, "tool", "amd64", Some("x86_64-linux-gnu"), &files)
}

fn alternatives(postinst: &str) -> Vec<Alternative> {
    act(postinst)
        .into_iter()
        .filter_map(|a| a.alternative)
        .collect()
}

/// A computed registration, as a JDK's postinst makes it: a priority in
/// a variable, one call per tool in a loop, slaves only where the file
/// exists, the multiarch priority adjustment skipped on the native arch.
#[test]
fn a_loop_with_computed_priorities_and_conditional_slaves() {
    let script = r#"#!/bin/sh
set -e
priority=1500
basedir=/usr/lib/tool
tools='run lint'
case "$1" in
configure)
    if [ "$DPKG_MAINTSCRIPT_ARCH" != $(dpkg --print-architecture) ]; then
        priority=$(expr $priority - 1)
    fi
    for t in $tools; do
        unset slave || true
        if [ -e /usr/share/man/man1/$t.1.gz ]; then
            slave="--slave \
                /usr/share/man/man1/$t.1.gz \
                $t.1.gz \
                /usr/share/man/man1/$t.1.gz"
        fi
        update-alternatives --install /usr/bin/$t $t $basedir/bin/$t $priority $slave
    done
    ;;
abort-upgrade) update-alternatives --install /usr/bin/never never /x 1 ;;
esac
exit 0
"#;
    let alts = alternatives(script);
    assert_eq!(alts.len(), 2, "{alts:?}");
    assert_eq!(alts[0].name, "run");
    assert_eq!(alts[0].link, "/usr/bin/run");
    assert_eq!(alts[0].path, "/usr/lib/tool/bin/run");
    assert_eq!(alts[0].priority, 1500);
    assert_eq!(alts[0].slaves.len(), 1);
    assert_eq!(alts[0].slaves[0].link, "/usr/share/man/man1/run.1.gz");
    assert_eq!(alts[1].name, "lint");
    assert!(alts[1].slaves.is_empty(), "no man page, no slave");
}

/// The debhelper form: a guarded block, continuation lines, a slave.
#[test]
fn the_debhelper_snippet() {
    let script = "#!/bin/sh\nset -e\n# Automatically added by dh_installalternatives/13\n\
if [ \"$1\" = \"configure\" ] || [ \"$1\" = \"abort-upgrade\" ] || [ \"$1\" = \"abort-deconfigure\" ] || [ \"$1\" = \"abort-remove\" ]; then\n\
        update-alternatives --install /usr/bin/awk awk /usr/bin/mawk 5 \\\n\
            --slave /usr/share/man/man1/awk.1.gz awk.1.gz /usr/share/man/man1/mawk.1.gz \\\n\
            --slave /usr/bin/nawk nawk /usr/bin/mawk\n\
fi\n# End automatically added section\n";
    let alts = alternatives(script);
    assert_eq!(alts.len(), 1);
    assert_eq!(alts[0].priority, 5);
    let slaves: Vec<&str> = alts[0].slaves.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(slaves, ["awk.1.gz", "nawk"]);
}

/// An upgrade-only branch is not taken on a fresh install; `lt-nl`
/// with no old version is false, `lt` true.
#[test]
fn upgrade_branches_are_not_taken() {
    let script = r#"
if [ "$1" = configure ] && dpkg --compare-versions "$2" lt-nl 2.0; then
    update-alternatives --install /usr/bin/old old /old 1
fi
if dpkg --compare-versions "$2" lt 2.0; then
    mkdir -p /var/lib/tool
fi
if [ -n "$2" ]; then adduser --system upgrade; fi
"#;
    let a = act(script);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].kind, Kind::Files);
    assert_eq!(a[0].command, "mkdir -p /var/lib/tool");
}

/// What is not an alternative is named, with its kind.
#[test]
fn everything_else_is_named() {
    let script = r#"
. /usr/share/debconf/confmodule
db_get tool/question || true
if ! getent passwd tool >/dev/null; then
    adduser --system --group --home /var/lib/tool tool
fi
chown tool:tool /var/lib/tool
dpkg-statoverride --list /usr/bin/run >/dev/null || dpkg-statoverride --update --add root tool 4750 /usr/bin/run
ldconfig
dpkg-trigger update-ca-certificates-java
cat > /etc/tool.conf <<EOF
setting = $HOME
EOF
if [ -x "$(command -v deb-systemd-helper)" ]; then deb-systemd-helper enable tool.service; fi
fc-cache -s
"#;
    let kinds: Vec<(Kind, String)> = act(script)
        .into_iter()
        .map(|a| (a.kind, a.command))
        .collect();
    assert_eq!(
        kinds,
        [
            (Kind::Debconf, ". /usr/share/debconf/confmodule".into()),
            (Kind::Debconf, "db_get tool/question".into()),
            (
                Kind::Accounts,
                "adduser --system --group --home /var/lib/tool tool".into()
            ),
            (Kind::Permissions, "chown tool:tool /var/lib/tool".into()),
            (
                Kind::Statoverride,
                "dpkg-statoverride --update --add root tool 4750 /usr/bin/run".into()
            ),
            (Kind::Ldconfig, "ldconfig".into()),
            (
                Kind::Trigger,
                "dpkg-trigger update-ca-certificates-java".into()
            ),
            (Kind::Files, "cat > /etc/tool.conf".into()),
            (Kind::Cache, "fc-cache -s".into()),
        ]
    );
}

#[test]
fn functions_parameters_and_arithmetic() {
    let script = r#"
register() {
    local name="$1"; shift
    update-alternatives --quiet --install "/usr/bin/$name" "$name" "${BASE:-/usr/lib/tool}/bin/$name" $((10 * $#)) "$@"
}
file=/usr/lib/tool/bin/run.sh
register run --slave /usr/bin/r r ${file%.sh}
register lint
"#;
    let alts = alternatives(script);
    assert_eq!(alts.len(), 2, "{alts:?}");
    assert_eq!(alts[0].priority, 40, "four arguments after the shift");
    assert_eq!(alts[0].slaves[0].path, "/usr/lib/tool/bin/run");
    assert_eq!(alts[1].priority, 0);
    assert_eq!(alts[1].path, "/usr/lib/tool/bin/lint");
}

#[test]
fn triggers_are_named() {
    let scripts = BTreeMap::from([(
        "triggers".to_owned(),
        "# comment\ninterest-noawait /usr/share/fonts\nactivate-noawait ldconfig\n".to_owned(),
    )]);
    let a = actions(&scripts, "p", "amd64", None, &files);
    let kinds: Vec<Kind> = a.iter().map(|a| a.kind).collect();
    assert_eq!(kinds, [Kind::Trigger, Kind::Ldconfig]);
}

/// A script the reader cannot follow to its end says so; an endless
/// loop is cut.
#[test]
fn what_cannot_be_followed_is_said() {
    let endless = "while true; do :; done\n";
    let a = act(endless);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].kind, Kind::Incomplete);
    assert!(a[0].command.contains("more than"), "{}", a[0].command);
    let broken = "if true; then\n  echo 'unterminated\nfi\n";
    let a = act(broken);
    assert_eq!(a[0].kind, Kind::Incomplete);
    assert!(a[0].command.starts_with("cannot parse"), "{}", a[0].command);
}

/// Hostile scripts cost bounded work and memory, and end in a named
/// stop, not a hang, a crash or an exhausted stack.
#[test]
fn hostile_scripts_are_bounded() {
    let doubling = "x=a\nwhile true; do x=$x$x; done\n";
    let a = act(doubling);
    assert_eq!(a[0].kind, Kind::Incomplete, "{a:?}");
    let chain = "true && ".repeat(5000) + "true\n";
    assert_eq!(act(&chain)[0].kind, Kind::Incomplete);
    let nested = "${x:-".repeat(5000) + &"}".repeat(5000) + "\n";
    assert_eq!(act(&format!("echo {nested}"))[0].kind, Kind::Incomplete);
    let parens = format!("echo $(({}1{}))\n", "(".repeat(5000), ")".repeat(5000));
    assert_eq!(act(&parens)[0].kind, Kind::Incomplete);
    let recursion = "f() { f; }\nf\n";
    assert_eq!(act(recursion)[0].kind, Kind::Incomplete);
    let start = std::time::Instant::now();
    let slow = format!(
        "case {} in {}b) ls ;; esac\n",
        "a".repeat(20_000),
        "*a".repeat(30)
    );
    assert!(act(&slow).is_empty());
    assert!(start.elapsed().as_secs() < 5, "glob is linear per star");
}

#[test]
fn glob_patterns() {
    use crate::eval::glob;
    assert!(glob("abort-*", "abort-upgrade"));
    assert!(glob("[a-c]x", "bx"));
    assert!(!glob("[!a-c]x", "bx"));
    assert!(glob("\\*", "*"));
    assert!(!glob("\\*", "a"));
    assert!(glob("*.so.*", "libc.so.6"));
    assert!(!glob("*.so.*", "libc.so"));
    assert!(glob("a*", "a"));
    assert!(glob("*", ""));
}
