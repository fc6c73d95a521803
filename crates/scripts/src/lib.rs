//! What a package's maintainer scripts would do on a fresh install, found
//! without running them.
//!
//! distill never runs foreign code. A `preinst` (`install`) and `postinst`
//! (`configure` with no old version) are parsed as the POSIX sh they are
//! (`shell.rs`) and evaluated (`eval.rs`): variables, loops, `case`,
//! `if`, functions and `test` are followed as sh would; every other
//! command is recorded with its arguments as expanded, and taken to
//! succeed silently. The few answers that steer such scripts come from
//! what is known: the architecture, dpkg's version order, the package's
//! own files for file tests, and an empty alternatives database. The
//! result is a pure function of the script's bytes and those facts.
//!
//! The recorded calls are then sorted into [`Action`]s: alternatives
//! (`update-alternatives --install`, which the build applies), and the
//! rest, each of a [`Kind`] the build names but does not do.

mod eval;
mod shell;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a path in the package is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
}

/// What the reader knows while reading one script.
pub struct Facts<'a> {
    pub package: &'a str,
    /// `preinst` or `postinst`.
    pub script: &'a str,
    /// `dpkg --print-architecture`.
    pub arch: &'a str,
    /// The multiarch triplet (`x86_64-linux-gnu`).
    pub triplet: Option<&'a str>,
    /// The package's own files, by absolute path.
    pub file: &'a dyn Fn(&str) -> Option<FileKind>,
}

/// A command the script would run, its arguments expanded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Call {
    pub script: String,
    pub argv: Vec<String>,
    /// Files it writes through redirections.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writes: Vec<String>,
}

/// The commands `text` would run with `args` (`configure`, ``), and why
/// the reading stopped early, if it did.
pub fn read(text: &str, args: &[&str], facts: &Facts<'_>) -> (Vec<Call>, Option<String>) {
    let mut e = eval::Eval::new(facts, args);
    let why = e.run(text);
    (e.calls, why)
}

/// What an action is about: how the build treats it, and what the user
/// can declare instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// `update-alternatives --install`: applied.
    Alternative,
    /// `ldconfig`: the loader's cache, which the build writes where the
    /// image asks for it (`ld_so_cache`).
    Ldconfig,
    /// adduser, useradd, groupadd, …
    Accounts,
    /// dpkg-statoverride.
    Statoverride,
    /// chmod, chown, chgrp, setcap.
    Permissions,
    /// dpkg-trigger and the package's trigger interests.
    Trigger,
    /// debconf questions.
    Debconf,
    /// Caches and indexes regenerated (fc-cache, update-mime-database,
    /// update-ca-certificates, …).
    Cache,
    /// Services (systemd, init scripts).
    Service,
    /// Files and directories made, moved or removed.
    Files,
    /// Any other command.
    Command,
    /// The reading stopped before the script's end.
    Incomplete,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Alternative => "alternative",
            Kind::Ldconfig => "ldconfig",
            Kind::Accounts => "accounts",
            Kind::Statoverride => "statoverride",
            Kind::Permissions => "permissions",
            Kind::Trigger => "trigger",
            Kind::Debconf => "debconf",
            Kind::Cache => "cache",
            Kind::Service => "service",
            Kind::Files => "files",
            Kind::Command => "command",
            Kind::Incomplete => "incomplete",
        }
    }

    /// What the user can declare in packages.toml instead.
    pub fn instead(self) -> &'static str {
        match self {
            Kind::Alternative => "alternatives = { NAME = \"PATH\" } pins another choice",
            Kind::Ldconfig => "ld_so_cache = true writes /etc/ld.so.cache",
            Kind::Accounts => "[build.files.\"/etc/passwd\"] and \"/etc/group\"",
            Kind::Statoverride | Kind::Permissions => {
                "[build.files] and [build.dirs] with mode, uid, gid"
            }
            Kind::Files => "[build.files], [build.dirs] or symlinks",
            Kind::Cache => "the generated file as [build.files], if the image needs it",
            Kind::Trigger | Kind::Debconf | Kind::Service | Kind::Command | Kind::Incomplete => {
                "scripts_ignored = [{ package, reason }] once it is known not to matter"
            }
        }
    }
}

/// One alternative, as `update-alternatives --install` registers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alternative {
    pub name: String,
    pub link: String,
    pub path: String,
    pub priority: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slaves: Vec<Slave>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slave {
    pub name: String,
    pub link: String,
    pub path: String,
}

/// One thing a script would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// `preinst`, `postinst` or `triggers`.
    pub script: String,
    pub kind: Kind,
    /// The command line (or trigger directive), as read.
    pub command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<Alternative>,
}

/// The maintainer scripts of a package that matter to a fresh install,
/// as its control member holds them (name → text).
pub const SCRIPTS: &[&str] = &["preinst", "postinst", "triggers"];

/// Everything `scripts` (name → text) would do on a fresh install.
pub fn actions(
    scripts: &BTreeMap<String, String>,
    package: &str,
    arch: &str,
    triplet: Option<&str>,
    file: &dyn Fn(&str) -> Option<FileKind>,
) -> Vec<Action> {
    let mut out = Vec::new();
    for (script, args) in [
        ("preinst", &["install"][..]),
        ("postinst", &["configure", ""]),
    ] {
        let Some(text) = scripts.get(script) else {
            continue;
        };
        let facts = Facts {
            package,
            script,
            arch,
            triplet,
            file,
        };
        let (calls, why) = read(text, args, &facts);
        out.extend(calls.iter().filter_map(classify));
        if let Some(why) = why {
            out.push(Action {
                script: script.into(),
                kind: Kind::Incomplete,
                command: why,
                alternative: None,
            });
        }
    }
    if let Some(text) = scripts.get("triggers") {
        out.extend(triggers(text));
    }
    out
}

/// The directives of a `triggers` control file.
fn triggers(text: &str) -> Vec<Action> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| {
            let name = l.split_once(char::is_whitespace).map_or("", |(_, n)| n);
            let kind = if name.trim() == "ldconfig" {
                Kind::Ldconfig
            } else {
                Kind::Trigger
            };
            Action {
                script: "triggers".into(),
                kind,
                command: l.to_owned(),
                alternative: None,
            }
        })
        .collect()
}

/// Commands that only read: what they print steers the script, which the
/// reader answers or leaves empty; they change nothing.
const READ_ONLY: &[&str] = &[
    "grep",
    "egrep",
    "fgrep",
    "awk",
    "mawk",
    "gawk",
    "cut",
    "head",
    "tail",
    "tr",
    "cat",
    "ls",
    "readlink",
    "realpath",
    "uname",
    "sort",
    "uniq",
    "wc",
    "stat",
    "mountpoint",
    "pidof",
    "ps",
    "cmp",
    "diff",
    "md5sum",
    "sha256sum",
    "logger",
    "sleep",
    "sed",
    "find",
    "dpkg-query",
    "env",
    "seq",
    "date",
    "whoami",
    "hostname",
    "systemd-detect-virt",
    "ischroot",
    "tty",
];

/// What one call does; `None` for calls that change nothing on a fresh
/// install.
fn classify(call: &Call) -> Option<Action> {
    let base = call.argv[0].rsplit('/').next().unwrap_or("");
    let args = &call.argv[1..];
    let action = |kind| Action {
        script: call.script.clone(),
        kind,
        command: shell_words(&call.argv, &call.writes),
        alternative: None,
    };
    let kind = match base {
        "update-alternatives" => {
            return match install(args) {
                Some(alt) => Some(Action {
                    alternative: Some(alt),
                    ..action(Kind::Alternative)
                }),
                // `--remove` of what a fresh install never registered.
                None if args.iter().any(|a| a == "--remove" || a == "--remove-all") => None,
                None => Some(action(Kind::Command)),
            };
        }
        "ldconfig" => Kind::Ldconfig,
        "adduser" | "addgroup" | "useradd" | "groupadd" | "usermod" | "groupmod" | "deluser"
        | "delgroup" | "systemd-sysusers" | "chpasswd" | "chfn" | "chsh" => Kind::Accounts,
        "dpkg-statoverride" if args.iter().any(|a| a == "--add" || a == "--update") => {
            Kind::Statoverride
        }
        "dpkg-statoverride" => return None,
        // Queries of dpkg's database.
        "dpkg" | "dpkg-query" if call.writes.is_empty() => return None,
        "chmod" | "chown" | "chgrp" | "setcap" => Kind::Permissions,
        "dpkg-trigger" => Kind::Trigger,
        "." | "source" if args.iter().any(|a| a.contains("debconf")) => Kind::Debconf,
        b if b.starts_with("db_") => Kind::Debconf,
        "fc-cache"
        | "update-mime-database"
        | "update-desktop-database"
        | "glib-compile-schemas"
        | "gtk-update-icon-cache"
        | "update-icon-caches"
        | "update-ca-certificates"
        | "update-ca-certificates-java"
        | "mandb"
        | "install-info"
        | "update-info-dir"
        | "update-binfmts"
        | "py3compile"
        | "pycompile"
        | "gdk-pixbuf-query-loaders"
        | "update-gdk-pixbuf-loaders"
        | "locale-gen"
        | "update-locale"
        | "update-catalog"
        | "update-xmlcatalog"
        | "mkfontdir"
        | "mkfontscale"
        | "update-fonts-dir" => Kind::Cache,
        b if b.starts_with("gdk-pixbuf") || b.starts_with("update-") => Kind::Cache,
        "deb-systemd-helper" | "deb-systemd-invoke" | "systemctl" | "invoke-rc.d"
        | "update-rc.d" | "service" | "start-stop-daemon" | "systemd-tmpfiles" => Kind::Service,
        // Conffile moves and removals: nothing to do on a fresh install.
        "dpkg-maintscript-helper" | "dpkg-divert" if !args.iter().any(|a| a == "--add") => {
            return None;
        }
        "ln" | "mkdir" | "touch" | "rm" | "rmdir" | "mv" | "cp" | "install" | "mknod"
        | "mkfifo" | "dpkg-divert" => Kind::Files,
        b if READ_ONLY.contains(&b) => {
            let edits = b == "sed" && args.iter().any(|a| a.starts_with("-i"));
            if call.writes.is_empty() && !edits {
                return None;
            }
            Kind::Files
        }
        _ if !call.writes.is_empty() => Kind::Files,
        _ => Kind::Command,
    };
    Some(action(kind))
}

/// `--install LINK NAME PATH PRIORITY [--slave LINK NAME PATH]…`, after
/// any of update-alternatives' own options.
fn install(args: &[String]) -> Option<Alternative> {
    let mut i = 0;
    while i < args.len() && args[i] != "--install" {
        match args[i].as_str() {
            "--altdir" | "--admindir" | "--instdir" | "--root" | "--log" => i += 2,
            a if a.starts_with("--") => i += 1,
            _ => return None,
        }
    }
    let [_, link, name, path, priority, rest @ ..] = args.get(i..)? else {
        return None;
    };
    let mut alt = Alternative {
        name: name.clone(),
        link: link.clone(),
        path: path.clone(),
        priority: priority.parse().ok()?,
        slaves: Vec::new(),
    };
    let mut rest = rest;
    while let [flag, link, name, path, more @ ..] = rest
        && flag == "--slave"
    {
        alt.slaves.push(Slave {
            name: name.clone(),
            link: link.clone(),
            path: path.clone(),
        });
        rest = more;
    }
    Some(alt)
}

/// A command line for reading: words with blanks or quotes quoted.
fn shell_words(argv: &[String], writes: &[String]) -> String {
    let quote = |w: &String| {
        if !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c))
        {
            w.clone()
        } else {
            format!("'{}'", w.replace('\'', r"'\''"))
        }
    };
    let mut out: Vec<String> = argv.iter().map(quote).collect();
    out.extend(writes.iter().map(|w| format!("> {}", quote(w))));
    out.join(" ")
}

#[cfg(test)]
mod tests;
