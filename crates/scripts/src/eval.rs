//! Evaluating a parsed script without running anything: the shell's own
//! semantics (variables, expansion and field splitting, `if`, loops,
//! `case`, functions, `test`, arithmetic) are followed exactly; every
//! other command is recorded with its expanded arguments and taken to
//! succeed with no output. The few commands whose answers steer
//! maintainer scripts are answered from what is known: `dpkg
//! --print-architecture`, `dpkg --compare-versions`, `expr`, `basename`,
//! file tests against the package's own files, and `update-alternatives`
//! queries, which on a fresh install know of nothing.

use std::collections::BTreeMap;

use crate::shell::{Cmd, Param, Part, Simple, Word, parse};
use crate::{Call, Facts, FileKind};

/// Bounds on what a script can make the reader do.
const MAX_STEPS: usize = 50_000;
const MAX_LOOP: usize = 1_000;
const MAX_DEPTH: usize = 64;
const MAX_VALUE: usize = 1 << 20;

/// Why evaluation stopped before the end of the script's path.
enum Stop {
    Exit(i32),
    Return(i32),
    Break(usize),
    Continue(usize),
    /// A bound was reached, or the script did something the reader does
    /// not follow; the reason.
    Unknown(String),
}

type Status = Result<i32, Stop>;

/// What a loop does after one round of its body.
enum Round {
    Next,
    Break,
}

pub(crate) struct Eval<'f> {
    facts: &'f Facts<'f>,
    vars: BTreeMap<String, String>,
    args: Vec<String>,
    functions: BTreeMap<String, Cmd>,
    status: i32,
    steps: usize,
    depth: usize,
    /// Output captured by `$(…)`, innermost last.
    captures: Vec<String>,
    pub calls: Vec<Call>,
}

impl<'f> Eval<'f> {
    pub(crate) fn new(facts: &'f Facts<'f>, args: &[&str]) -> Eval<'f> {
        let mut vars = BTreeMap::new();
        vars.insert("IFS".into(), " \t\n".into());
        vars.insert(
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
        vars.insert("DPKG_MAINTSCRIPT_ARCH".into(), facts.arch.into());
        vars.insert("DPKG_MAINTSCRIPT_PACKAGE".into(), facts.package.into());
        vars.insert("DPKG_MAINTSCRIPT_NAME".into(), facts.script.into());
        vars.insert("DPKG_ROOT".into(), String::new());
        Eval {
            facts,
            vars,
            args: args.iter().map(|s| s.to_string()).collect(),
            functions: BTreeMap::new(),
            status: 0,
            steps: 0,
            depth: 0,
            captures: Vec::new(),
            calls: Vec::new(),
        }
    }

    /// Runs `text`; `None` when the whole path was followed, else why not.
    pub(crate) fn run(&mut self, text: &str) -> Option<String> {
        let cmd = match parse(text) {
            Ok(c) => c,
            Err(e) => return Some(format!("cannot parse: {e}")),
        };
        match self.cmd(&cmd) {
            Ok(_) | Err(Stop::Exit(_) | Stop::Return(_)) => None,
            Err(Stop::Break(_) | Stop::Continue(_)) => None,
            Err(Stop::Unknown(why)) => Some(why),
        }
    }

    fn cmd(&mut self, cmd: &Cmd) -> Status {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(Stop::Unknown(format!("more than {MAX_STEPS} steps")));
        }
        let status = match cmd {
            Cmd::Simple(s) => self.simple(s)?,
            Cmd::Pipeline { cmds, negate } => {
                let mut status = 0;
                for c in cmds {
                    status = self.cmd(c)?;
                }
                if *negate {
                    i32::from(status == 0)
                } else {
                    status
                }
            }
            Cmd::And(a, b) => match self.cmd(a)? {
                0 => self.cmd(b)?,
                s => s,
            },
            Cmd::Or(a, b) => match self.cmd(a)? {
                0 => 0,
                _ => self.cmd(b)?,
            },
            Cmd::List(cmds) => {
                let mut status = 0;
                for c in cmds {
                    status = self.cmd(c)?;
                }
                status
            }
            Cmd::If {
                branches,
                otherwise,
            } => {
                let mut ran = None;
                for (cond, body) in branches {
                    if self.cmd(cond)? == 0 {
                        ran = Some(self.cmd(body)?);
                        break;
                    }
                }
                match (ran, otherwise) {
                    (Some(s), _) => s,
                    (None, Some(o)) => self.cmd(o)?,
                    (None, None) => 0,
                }
            }
            Cmd::For { var, items, body } => {
                let items = match items {
                    Some(words) => self.fields(words)?,
                    None => self.args.clone(),
                };
                if items.len() > MAX_LOOP {
                    return Err(Stop::Unknown(format!(
                        "a loop over more than {MAX_LOOP} words"
                    )));
                }
                let mut status = 0;
                for item in items {
                    self.vars.insert(var.clone(), item);
                    match self.round(body, &mut status)? {
                        Round::Next => {}
                        Round::Break => break,
                    }
                }
                status
            }
            Cmd::While { cond, body, until } => {
                let mut status = 0;
                let mut rounds = 0;
                while (self.cmd(cond)? == 0) != *until {
                    rounds += 1;
                    if rounds > MAX_LOOP {
                        return Err(Stop::Unknown(format!(
                            "a loop ran more than {MAX_LOOP} times"
                        )));
                    }
                    match self.round(body, &mut status)? {
                        Round::Next => {}
                        Round::Break => break,
                    }
                }
                status
            }
            Cmd::Case { word, arms } => {
                let subject = self.string(word)?;
                let mut status = 0;
                'arms: for (patterns, body) in arms {
                    for p in patterns {
                        let pattern = self.pattern(p)?;
                        if glob(&pattern, &subject) {
                            status = self.cmd(body)?;
                            break 'arms;
                        }
                    }
                }
                status
            }
            Cmd::Group(body) => self.cmd(body)?,
            Cmd::Subshell(body) => {
                let (vars, args) = (self.vars.clone(), self.args.clone());
                let r = self.cmd(body);
                self.vars = vars;
                self.args = args;
                match r {
                    Ok(s) | Err(Stop::Exit(s)) => s,
                    Err(e) => return Err(e),
                }
            }
            Cmd::Function { name, body } => {
                self.functions.insert(name.clone(), (**body).clone());
                0
            }
        };
        self.status = status;
        Ok(status)
    }

    /// One round of a loop's body: `break`/`continue` of this loop are
    /// handled here, those of an outer loop passed on one level down.
    fn round(&mut self, body: &Cmd, status: &mut i32) -> Result<Round, Stop> {
        match self.cmd(body) {
            Ok(s) => *status = s,
            Err(Stop::Break(n)) if n <= 1 => return Ok(Round::Break),
            Err(Stop::Break(n)) => return Err(Stop::Break(n - 1)),
            Err(Stop::Continue(n)) if n <= 1 => {}
            Err(Stop::Continue(n)) => return Err(Stop::Continue(n - 1)),
            Err(e) => return Err(e),
        }
        Ok(Round::Next)
    }

    fn simple(&mut self, s: &Simple) -> Status {
        let mut argv = Vec::new();
        for w in &s.words {
            argv.extend(self.fields(std::slice::from_ref(w))?);
        }
        let mut assigned = Vec::new();
        for (name, value) in &s.assigns {
            assigned.push((name.clone(), self.string(value)?));
        }
        if argv.is_empty() {
            for (name, value) in assigned {
                self.vars.insert(name, value);
            }
            return Ok(self.status);
        }
        // Assignments before a command are its environment; the few
        // builtins that see them here read them from the variables.
        let saved: Vec<(String, Option<String>)> = assigned
            .iter()
            .map(|(n, _)| (n.clone(), self.vars.get(n).cloned()))
            .collect();
        for (name, value) in assigned {
            self.vars.insert(name, value);
        }
        let mut writes = Vec::new();
        for w in &s.writes {
            writes.push(self.string(w)?);
        }
        let r = self.command(argv, writes);
        for (name, old) in saved {
            match old {
                Some(v) => self.vars.insert(name, v),
                None => self.vars.remove(&name),
            };
        }
        r
    }

    fn out(&mut self, text: &str) {
        if let Some(c) = self.captures.last_mut() {
            c.push_str(text);
        }
    }

    fn command(&mut self, argv: Vec<String>, writes: Vec<String>) -> Status {
        let name = argv[0].as_str();
        let args = &argv[1..];
        if let Some(body) = self.functions.get(name).cloned() {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(Stop::Unknown("functions nest too deeply".into()));
            }
            let saved = std::mem::replace(&mut self.args, args.to_vec());
            let r = self.cmd(&body);
            self.args = saved;
            self.depth -= 1;
            return match r {
                Ok(s) | Err(Stop::Return(s)) => Ok(s),
                Err(e) => Err(e),
            };
        }
        let status = match name {
            ":" | "true" => 0,
            "false" => 1,
            "[" | "test" => {
                let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
                if name == "[" {
                    if a.last() != Some(&"]") {
                        return Err(Stop::Unknown("`[` without `]`".into()));
                    }
                    a.pop();
                }
                i32::from(!self.test(&a))
            }
            "echo" => {
                let (newline, words) = match args.first().map(String::as_str) {
                    Some("-n") => (false, &args[1..]),
                    _ => (true, args),
                };
                let mut text = words.join(" ");
                if newline {
                    text.push('\n');
                }
                self.out(&text);
                0
            }
            "printf" => {
                let text = printf(args);
                self.out(&text);
                0
            }
            "exit" => return Err(Stop::Exit(number(args.first(), self.status))),
            "return" => return Err(Stop::Return(number(args.first(), self.status))),
            "break" => return Err(Stop::Break(number(args.first(), 1).max(1) as usize)),
            "continue" => return Err(Stop::Continue(number(args.first(), 1).max(1) as usize)),
            "shift" => {
                let n = (number(args.first(), 1).max(0) as usize).min(self.args.len());
                self.args.drain(..n);
                0
            }
            "set" => {
                if let Some(pos) = args.iter().position(|a| a == "--") {
                    self.args = args[pos + 1..].to_vec();
                }
                0
            }
            "unset" => {
                for a in args.iter().filter(|a| !a.starts_with('-')) {
                    self.vars.remove(a);
                    self.functions.remove(a);
                }
                0
            }
            "export" | "local" | "readonly" => {
                for a in args {
                    if let Some((n, v)) = a.split_once('=') {
                        self.vars.insert(n.into(), v.into());
                    }
                }
                0
            }
            "eval" => {
                let text = args.join(" ");
                let cmd = parse(&text).map_err(|e| Stop::Unknown(format!("eval: {e}")))?;
                self.cmd(&cmd)?
            }
            "command" if args.first().is_some_and(|a| a == "-v" || a == "-V") => {
                let found = args.get(1).and_then(|c| self.lookup(c));
                if let Some(path) = &found {
                    self.out(&format!("{path}\n"));
                }
                i32::from(found.is_none())
            }
            "command" if !args.is_empty() => return self.command(args.to_vec(), writes),
            "which" | "type" => {
                let found: Vec<String> = args
                    .iter()
                    .filter(|a| !a.starts_with('-'))
                    .filter_map(|c| self.lookup(c))
                    .collect();
                for f in &found {
                    self.out(&format!("{f}\n"));
                }
                i32::from(found.is_empty() || found.len() < args.len())
            }
            "read" => 1,
            "cd" | "umask" | "trap" | "wait" | "hash" | "ulimit" => 0,
            _ => self.external(argv, writes),
        };
        Ok(status)
    }

    /// Where `command -v NAME` finds NAME: shell builtins and functions,
    /// dpkg's own tools (a maintainer script runs under dpkg), and the
    /// package's own executables on PATH.
    fn lookup(&self, name: &str) -> Option<String> {
        const DPKG: &[&str] = &[
            "dpkg",
            "dpkg-query",
            "dpkg-trigger",
            "dpkg-divert",
            "dpkg-statoverride",
            "dpkg-maintscript-helper",
            "update-alternatives",
            "start-stop-daemon",
        ];
        const BUILTINS: &[&str] = &[
            ":", "true", "false", "[", "test", "echo", "printf", "exit", "return", "set", "unset",
            "export", "local", "eval", "command", "read", "cd", "shift",
        ];
        if BUILTINS.contains(&name) || self.functions.contains_key(name) {
            return Some(name.to_owned());
        }
        if name.contains('/') {
            return (self.facts.file)(name).is_some().then(|| name.to_owned());
        }
        if DPKG.contains(&name) {
            return Some(format!("/usr/bin/{name}"));
        }
        ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .map(|d| format!("{d}/{name}"))
            .find(|p| (self.facts.file)(p).is_some())
    }

    /// A command outside the shell: answered when its answer steers the
    /// script, recorded otherwise.
    fn external(&mut self, argv: Vec<String>, writes: Vec<String>) -> i32 {
        let base = argv[0].rsplit('/').next().unwrap_or("").to_owned();
        let a: Vec<&str> = argv[1..].iter().map(String::as_str).collect();
        match (base.as_str(), a.as_slice()) {
            ("dpkg", ["--print-architecture"]) => {
                let arch = self.facts.arch.to_owned();
                self.out(&format!("{arch}\n"));
                return 0;
            }
            ("dpkg", ["--compare-versions", x, op, y]) => {
                return i32::from(!compare_versions(x, op, y));
            }
            ("dpkg-architecture", [q]) if q.starts_with("-q") => {
                let answer = match &q[2..] {
                    "DEB_HOST_ARCH" | "DEB_BUILD_ARCH" => Some(self.facts.arch.to_owned()),
                    "DEB_HOST_MULTIARCH" | "DEB_BUILD_MULTIARCH" => {
                        self.facts.triplet.map(str::to_owned)
                    }
                    _ => None,
                };
                if let Some(v) = answer {
                    self.out(&format!("{v}\n"));
                    return 0;
                }
            }
            ("expr", _) => {
                return match expr(&a) {
                    Some(v) => {
                        self.out(&format!("{v}\n"));
                        i32::from(v == "0" || v.is_empty())
                    }
                    None => 2,
                };
            }
            ("basename", [path, rest @ ..]) => {
                let mut b = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
                if let [suffix] = rest {
                    b = b.strip_suffix(suffix).unwrap_or(b);
                }
                let b = b.to_owned();
                self.out(&format!("{b}\n"));
                return 0;
            }
            ("dirname", [path]) => {
                let d = match path.trim_end_matches('/').rsplit_once('/') {
                    Some(("", _)) => "/".to_owned(),
                    Some((d, _)) => d.to_owned(),
                    None => ".".to_owned(),
                };
                self.out(&format!("{d}\n"));
                return 0;
            }
            // On a fresh install there is nothing to list or query.
            ("update-alternatives", [.., q, _])
                if ["--list", "--query", "--display"].contains(q) =>
            {
                return 2;
            }
            // No override is registered on a fresh install.
            ("dpkg-statoverride", _) if a.contains(&"--list") => return 1,
            // Lookups of accounts that do not exist yet.
            ("getent" | "id", _) => return 2,
            _ => {}
        }
        self.calls.push(Call {
            argv,
            writes,
            script: self.facts.script.to_owned(),
        });
        0
    }

    /// `test`'s expression.
    fn test(&self, a: &[&str]) -> bool {
        if let Some(pos) = a.iter().position(|x| *x == "-o") {
            return self.test(&a[..pos]) || self.test(&a[pos + 1..]);
        }
        if let Some(pos) = a.iter().position(|x| *x == "-a") {
            return self.test(&a[..pos]) && self.test(&a[pos + 1..]);
        }
        match a {
            [] => false,
            ["!", rest @ ..] => !self.test(rest),
            ["(", inner @ .., ")"] => self.test(inner),
            [s] => !s.is_empty(),
            ["-n", s] => !s.is_empty(),
            ["-z", s] => s.is_empty(),
            [op, path] if op.len() == 2 && op.starts_with('-') => {
                let kind = (self.facts.file)(path);
                match &op[1..] {
                    "e" | "r" | "w" | "s" => kind.is_some(),
                    "f" => kind == Some(FileKind::File),
                    "d" => kind == Some(FileKind::Dir),
                    "x" => matches!(kind, Some(FileKind::File | FileKind::Dir)),
                    "L" | "h" => kind == Some(FileKind::Symlink),
                    _ => false,
                }
            }
            [x, "=" | "==", y] => x == y,
            [x, "!=", y] => x != y,
            [x, op, y] => {
                let (Ok(x), Ok(y)) = (x.trim().parse::<i64>(), y.trim().parse::<i64>()) else {
                    return false;
                };
                match *op {
                    "-eq" => x == y,
                    "-ne" => x != y,
                    "-lt" => x < y,
                    "-le" => x <= y,
                    "-gt" => x > y,
                    "-ge" => x >= y,
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// A word's value as one string (assignments, `case` subjects).
    fn string(&mut self, w: &Word) -> Result<String, Stop> {
        let mut out = String::new();
        for (text, _) in self.expand(w)? {
            out.push_str(&text);
        }
        Ok(out)
    }

    /// A `case` pattern: quoted parts match literally.
    fn pattern(&mut self, w: &Word) -> Result<String, Stop> {
        let mut out = String::new();
        for (text, quoted) in self.expand(w)? {
            if quoted {
                for c in text.chars() {
                    if "*?[]\\".contains(c) {
                        out.push('\\');
                    }
                    out.push(c);
                }
            } else {
                out.push_str(&text);
            }
        }
        Ok(out)
    }

    /// Words into fields: unquoted expansions split on IFS, `"$@"` one
    /// field per argument, a word with nothing in it no field.
    fn fields(&mut self, words: &[Word]) -> Result<Vec<String>, Stop> {
        let ifs = self.vars.get("IFS").cloned().unwrap_or_default();
        let mut out = Vec::new();
        for w in words {
            let mut cur: Option<String> = None;
            for part in &w.0 {
                if let Part::Param(Param {
                    name,
                    quoted: true,
                    op: None,
                    length: false,
                }) = part
                    && name == "@"
                {
                    let args = self.args.clone();
                    let n = args.len();
                    for (k, a) in args.into_iter().enumerate() {
                        let mut field = cur.take().unwrap_or_default();
                        field.push_str(&a);
                        if k + 1 < n {
                            out.push(field);
                        } else {
                            cur = Some(field);
                        }
                    }
                    continue;
                }
                let split = match part {
                    Part::Lit { .. } => false,
                    Part::Param(p) => !p.quoted,
                    Part::Sub { quoted, .. } | Part::Arith { quoted, .. } => !quoted,
                };
                let (text, _) = self.expand_part(part)?;
                if !split {
                    cur.get_or_insert_with(String::new).push_str(&text);
                    continue;
                }
                for c in text.chars() {
                    if ifs.contains(c) {
                        out.extend(cur.take());
                    } else {
                        cur.get_or_insert_with(String::new).push(c);
                    }
                }
            }
            if let Some(f) = cur {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// A word's parts expanded: (text, quoted) pieces; at most
    /// [`MAX_VALUE`] bytes (`x=$x$x` in a loop doubles).
    fn expand(&mut self, w: &Word) -> Result<Vec<(String, bool)>, Stop> {
        let mut out = Vec::new();
        for part in &w.0 {
            out.push(self.expand_part(part)?);
        }
        if out.iter().map(|(t, _)| t.len()).sum::<usize>() > MAX_VALUE {
            return Err(too_long());
        }
        Ok(out)
    }

    /// One part expanded: (text, quoted); at most [`MAX_VALUE`] bytes.
    fn expand_part(&mut self, part: &Part) -> Result<(String, bool), Stop> {
        let piece = match part {
            Part::Lit { text, quoted } => (text.clone(), *quoted),
            Part::Param(p) => (self.param(p)?, p.quoted),
            Part::Sub { cmd, quoted } => {
                self.captures.push(String::new());
                let r = self.cmd(cmd);
                let text = self.captures.pop().unwrap_or_default();
                match r {
                    Ok(s) | Err(Stop::Exit(s)) => self.status = s,
                    Err(e) => return Err(e),
                }
                (text.trim_end_matches('\n').to_owned(), *quoted)
            }
            Part::Arith { expr, quoted } => {
                let text = self.string(expr)?;
                let v = arith(&text, &self.vars)
                    .ok_or_else(|| Stop::Unknown(format!("cannot evaluate $(({text}))")))?;
                (v.to_string(), *quoted)
            }
        };
        if piece.0.len() > MAX_VALUE {
            return Err(too_long());
        }
        Ok(piece)
    }

    fn param(&mut self, p: &Param) -> Result<String, Stop> {
        let value: Option<String> = match p.name.as_str() {
            "@" | "*" => Some(self.args.join(" ")),
            "#" => Some(self.args.len().to_string()),
            "?" => Some(self.status.to_string()),
            "$" => Some("1".into()),
            "!" | "-" => Some(String::new()),
            "0" => Some(self.facts.script.to_owned()),
            n if n.chars().all(|c| c.is_ascii_digit()) => {
                let i: usize = n.parse().unwrap_or(0);
                self.args.get(i.wrapping_sub(1)).cloned()
            }
            n => self.vars.get(n).cloned(),
        };
        if p.length {
            return Ok(value.unwrap_or_default().chars().count().to_string());
        }
        let Some((op, word)) = &p.op else {
            return Ok(value.unwrap_or_default());
        };
        let set = value.is_some();
        let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
        Ok(match op.as_str() {
            ":-" if !nonempty => self.string(word)?,
            "-" if !set => self.string(word)?,
            ":=" | "=" if (op == ":=" && !nonempty) || (op == "=" && !set) => {
                let v = self.string(word)?;
                self.vars.insert(p.name.clone(), v.clone());
                v
            }
            ":+" => {
                if nonempty {
                    self.string(word)?
                } else {
                    String::new()
                }
            }
            "+" => {
                if set {
                    self.string(word)?
                } else {
                    String::new()
                }
            }
            ":?" | "?" if (op == ":?" && !nonempty) || (op == "?" && !set) => {
                return Err(Stop::Exit(1));
            }
            "#" | "##" | "%" | "%%" => {
                let v = value.unwrap_or_default();
                let pat = self.pattern(word)?;
                trim(&v, &pat, op)
            }
            _ => value.unwrap_or_default(),
        })
    }
}

fn too_long() -> Stop {
    Stop::Unknown(format!("a value longer than {MAX_VALUE} bytes"))
}

fn number(arg: Option<&String>, default: i32) -> i32 {
    arg.and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// `printf FORMAT ARGS`: `%s`, `%d`, `\n`, `\t`, `%%`; the format reused
/// while arguments remain.
fn printf(args: &[String]) -> String {
    let Some((format, mut rest)) = args.split_first() else {
        return String::new();
    };
    let mut out = String::new();
    loop {
        let mut chars = format.chars().peekable();
        let mut used = false;
        while let Some(c) = chars.next() {
            match (c, chars.peek().copied()) {
                ('\\', Some('n')) => {
                    chars.next();
                    out.push('\n');
                }
                ('\\', Some('t')) => {
                    chars.next();
                    out.push('\t');
                }
                ('%', Some('%')) => {
                    chars.next();
                    out.push('%');
                }
                ('%', Some(_)) => {
                    while chars.peek().is_some_and(|c| !c.is_ascii_alphabetic()) {
                        chars.next();
                    }
                    chars.next();
                    if let Some((a, r)) = rest.split_first() {
                        out.push_str(a);
                        rest = r;
                    }
                    used = true;
                }
                (c, _) => out.push(c),
            }
        }
        if rest.is_empty() || !used {
            return out;
        }
    }
}

/// dpkg's version comparison, including its operators for an empty
/// (not installed) version: `lt`/`le` hold for it, `*-nl` do not.
fn compare_versions(x: &str, op: &str, y: &str) -> bool {
    use std::cmp::Ordering::*;
    let nl = op.ends_with("-nl");
    if x.is_empty() || y.is_empty() {
        let x_first = x.is_empty() != nl;
        return match (op.trim_end_matches("-nl"), x.is_empty() && y.is_empty()) {
            (_, true) => matches!(op, "eq" | "le" | "ge" | "=" | "<=" | ">="),
            ("lt" | "le" | "<<" | "<=", _) => x_first == x.is_empty(),
            ("gt" | "ge" | ">>" | ">=", _) => x_first != x.is_empty(),
            ("ne", _) => true,
            _ => false,
        };
    }
    let ord = distill_debian::compare_versions(x, y);
    match op {
        "lt" | "<<" => ord == Less,
        "le" | "<=" => ord != Greater,
        "eq" | "=" => ord == Equal,
        "ne" => ord != Equal,
        "ge" | ">=" => ord != Less,
        "gt" | ">>" => ord == Greater,
        _ => false,
    }
}

/// `expr` with integer arithmetic and comparisons.
fn expr(a: &[&str]) -> Option<String> {
    match a {
        [x] => Some(x.to_string()),
        [x, op, y] => {
            let (xi, yi) = (x.parse::<i64>(), y.parse::<i64>());
            let v = match (*op, xi, yi) {
                ("+", Ok(x), Ok(y)) => x.checked_add(y)?,
                ("-", Ok(x), Ok(y)) => x.checked_sub(y)?,
                ("*", Ok(x), Ok(y)) => x.checked_mul(y)?,
                ("/", Ok(x), Ok(y)) => x.checked_div(y)?,
                ("%", Ok(x), Ok(y)) => x.checked_rem(y)?,
                ("=", _, _) => i64::from(x == y),
                ("!=", _, _) => i64::from(x != y),
                ("<", Ok(x), Ok(y)) => i64::from(x < y),
                ("<=", Ok(x), Ok(y)) => i64::from(x <= y),
                (">", Ok(x), Ok(y)) => i64::from(x > y),
                (">=", Ok(x), Ok(y)) => i64::from(x >= y),
                _ => return None,
            };
            Some(v.to_string())
        }
        _ => None,
    }
}

/// `$((…))`: integers, variables, `+ - * / %`, comparisons, parentheses.
fn arith(text: &str, vars: &BTreeMap<String, String>) -> Option<i64> {
    let tokens = arith_tokens(text)?;
    // The evaluator recurses per parenthesis: a bound on its depth.
    if tokens.len() > 512 {
        return None;
    }
    let mut pos = 0;
    let v = arith_binary(&tokens, &mut pos, 0, vars)?;
    (pos == tokens.len()).then_some(v)
}

fn arith_tokens(text: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if ["<=", ">=", "==", "!="].contains(&two.as_str()) {
                out.push(two);
                i += 2;
            } else if "+-*/%()<>".contains(c) {
                out.push(c.to_string());
                i += 1;
            } else {
                return None;
            }
        }
    }
    Some(out)
}

fn arith_binary(
    t: &[String],
    pos: &mut usize,
    min: u8,
    vars: &BTreeMap<String, String>,
) -> Option<i64> {
    let prec = |op: &str| match op {
        "==" | "!=" => Some(1),
        "<" | ">" | "<=" | ">=" => Some(2),
        "+" | "-" => Some(3),
        "*" | "/" | "%" => Some(4),
        _ => None,
    };
    let mut left = arith_unary(t, pos, vars)?;
    while let Some(op) = t.get(*pos)
        && let Some(p) = prec(op)
        && p > min
    {
        let op = op.clone();
        *pos += 1;
        let right = arith_binary(t, pos, p, vars)?;
        left = match op.as_str() {
            "+" => left.checked_add(right)?,
            "-" => left.checked_sub(right)?,
            "*" => left.checked_mul(right)?,
            "/" => left.checked_div(right)?,
            "%" => left.checked_rem(right)?,
            "==" => i64::from(left == right),
            "!=" => i64::from(left != right),
            "<" => i64::from(left < right),
            ">" => i64::from(left > right),
            "<=" => i64::from(left <= right),
            _ => i64::from(left >= right),
        };
    }
    Some(left)
}

fn arith_unary(t: &[String], pos: &mut usize, vars: &BTreeMap<String, String>) -> Option<i64> {
    let tok = t.get(*pos)?.clone();
    *pos += 1;
    match tok.as_str() {
        "-" => arith_unary(t, pos, vars)?.checked_neg(),
        "+" => arith_unary(t, pos, vars),
        "(" => {
            let v = arith_binary(t, pos, 0, vars)?;
            (t.get(*pos)? == ")").then(|| *pos += 1)?;
            Some(v)
        }
        s if s.starts_with(|c: char| c.is_ascii_digit()) => s.parse().ok(),
        name => Some(
            vars.get(name)
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
        ),
    }
}

/// `${v#p}` and friends: the shortest (`#`, `%`) or longest (`##`, `%%`)
/// prefix or suffix matching `pattern` removed.
fn trim(v: &str, pattern: &str, op: &str) -> String {
    let cuts: Vec<usize> = v.char_indices().map(|(i, _)| i).chain([v.len()]).collect();
    let found = match op {
        "#" => cuts
            .iter()
            .find(|&&i| glob(pattern, &v[..i]))
            .map(|&i| v[i..].to_owned()),
        "##" => cuts
            .iter()
            .rev()
            .find(|&&i| glob(pattern, &v[..i]))
            .map(|&i| v[i..].to_owned()),
        "%" => cuts
            .iter()
            .rev()
            .find(|&&i| glob(pattern, &v[i..]))
            .map(|&i| v[..i].to_owned()),
        _ => cuts
            .iter()
            .find(|&&i| glob(pattern, &v[i..]))
            .map(|&i| v[..i].to_owned()),
    };
    found.unwrap_or_else(|| v.to_owned())
}

/// sh's pattern matching: `*`, `?`, `[…]` (with `!`), `\` escapes. The
/// greedy two-pointer walk with one backtrack point: linear in the
/// subject for each star, so no pattern makes it exponential.
pub(crate) fn glob(pattern: &str, s: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    // One pattern element at `i` matching `c`: its length, or None.
    let one = |i: usize, c: char| -> Option<(usize, bool)> {
        match p[i] {
            '?' => Some((1, true)),
            '\\' if i + 1 < p.len() => Some((2, p[i + 1] == c)),
            '[' => {
                let end = (i + 2..p.len()).find(|&e| p[e] == ']');
                let Some(end) = end else {
                    return Some((1, c == '['));
                };
                let (negate, set) = match p[i + 1] {
                    '!' | '^' => (true, &p[i + 2..end]),
                    _ => (false, &p[i + 1..end]),
                };
                let mut hit = false;
                let mut k = 0;
                while k < set.len() {
                    if k + 2 < set.len() && set[k + 1] == '-' {
                        hit |= set[k] <= c && c <= set[k + 2];
                        k += 3;
                    } else {
                        hit |= set[k] == c;
                        k += 1;
                    }
                }
                Some((end + 1 - i, hit != negate))
            }
            x => Some((1, x == c)),
        }
    };
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi + 1, si));
            pi += 1;
            continue;
        }
        if pi < p.len()
            && let Some((len, true)) = one(pi, s[si])
        {
            pi += len;
            si += 1;
            continue;
        }
        match star {
            Some((sp, ss)) => {
                pi = sp;
                si = ss + 1;
                star = Some((sp, ss + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}
