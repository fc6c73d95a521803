//! A parser for the POSIX sh that maintainer scripts are written in:
//! simple commands with assignments and redirections, pipelines, `&&`,
//! `||`, `!`, lists, `if`, `for`, `while`/`until`, `case`, `{ }`, `( )`,
//! function definitions, here-documents, and words with quoting and
//! `$` expansions (`$x`, `${x…}`, `$(…)`, `` `…` ``, `$((…))`). What it
//! cannot parse is an error; nothing is ever executed.

/// A command of the script.
#[derive(Debug, Clone)]
pub(crate) enum Cmd {
    Simple(Simple),
    Pipeline {
        cmds: Vec<Cmd>,
        negate: bool,
    },
    And(Box<Cmd>, Box<Cmd>),
    Or(Box<Cmd>, Box<Cmd>),
    List(Vec<Cmd>),
    If {
        branches: Vec<(Cmd, Cmd)>,
        otherwise: Option<Box<Cmd>>,
    },
    For {
        var: String,
        items: Option<Vec<Word>>,
        body: Box<Cmd>,
    },
    While {
        cond: Box<Cmd>,
        body: Box<Cmd>,
        until: bool,
    },
    Case {
        word: Word,
        arms: Vec<(Vec<Word>, Cmd)>,
    },
    Group(Box<Cmd>),
    Subshell(Box<Cmd>),
    Function {
        name: String,
        body: Box<Cmd>,
    },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Simple {
    pub assigns: Vec<(String, Word)>,
    pub words: Vec<Word>,
    /// Files written through `>` or `>>` (not `/dev/…`).
    pub writes: Vec<Word>,
}

/// A word: parts concatenated; quoted parts are not split into fields.
#[derive(Debug, Clone, Default)]
pub(crate) struct Word(pub Vec<Part>);

#[derive(Debug, Clone)]
pub(crate) enum Part {
    Lit { text: String, quoted: bool },
    Param(Param),
    Sub { cmd: Box<Cmd>, quoted: bool },
    Arith { expr: Word, quoted: bool },
}

#[derive(Debug, Clone)]
pub(crate) struct Param {
    pub name: String,
    /// `${#x}`.
    pub length: bool,
    /// `:-`, `-`, `:=`, `=`, `:+`, `+`, `:?`, `?`, `#`, `##`, `%`, `%%`.
    pub op: Option<(String, Word)>,
    pub quoted: bool,
}

const RESERVED: &[&str] = &[
    "if", "then", "elif", "else", "fi", "for", "in", "do", "done", "case", "esac", "while",
    "until", "{", "}", "!",
];

pub(crate) fn parse(text: &str) -> Result<Cmd, String> {
    let mut p = Parser {
        s: text.chars().collect(),
        i: 0,
        heredocs: Vec::new(),
        depth: 0,
    };
    let cmd = p.list(&[])?;
    p.skip_space();
    if p.i < p.s.len() {
        return Err(p.error("unexpected text"));
    }
    Ok(cmd)
}

struct Parser {
    s: Vec<char>,
    i: usize,
    /// Here-documents whose bodies start after the current line:
    /// (delimiter, strip leading tabs).
    heredocs: Vec<(String, bool)>,
    depth: usize,
}

impl Parser {
    fn error(&self, what: &str) -> String {
        let line = self.s[..self.i.min(self.s.len())]
            .iter()
            .filter(|&&c| c == '\n')
            .count()
            + 1;
        format!("line {line}: {what}")
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn at(&self, lit: &str) -> bool {
        lit.chars()
            .enumerate()
            .all(|(k, c)| self.s.get(self.i + k) == Some(&c))
    }

    /// Blanks, line continuations and comments (not newlines).
    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => self.i += 1,
                Some('\\') if self.s.get(self.i + 1) == Some(&'\n') => self.i += 2,
                Some('#') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.i += 1;
                    }
                }
                _ => return,
            }
        }
    }

    /// A newline: the bodies of pending here-documents follow it.
    fn newline(&mut self) -> Result<(), String> {
        self.i += 1;
        for (delim, strip) in std::mem::take(&mut self.heredocs) {
            loop {
                if self.i >= self.s.len() {
                    return Err(self.error(&format!("here-document {delim:?} is not closed")));
                }
                let start = self.i;
                while self.peek().is_some_and(|c| c != '\n') {
                    self.i += 1;
                }
                let line: String = self.s[start..self.i].iter().collect();
                self.i = (self.i + 1).min(self.s.len());
                let line = if strip {
                    line.trim_start_matches('\t')
                } else {
                    &line
                };
                if line == delim {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Newlines (and blanks, comments) between commands.
    fn linebreak(&mut self) -> Result<(), String> {
        loop {
            self.skip_space();
            if self.peek() == Some('\n') {
                self.newline()?;
            } else {
                return Ok(());
            }
        }
    }

    /// The reserved word at the cursor, if one is there.
    fn reserved(&mut self) -> Option<&'static str> {
        self.skip_space();
        RESERVED.iter().copied().find(|w| {
            self.at(w)
                && match self.s.get(self.i + w.len()) {
                    None => true,
                    Some(c) => c.is_whitespace() || ";&|()<>".contains(*c),
                }
        })
    }

    fn expect(&mut self, word: &str) -> Result<(), String> {
        if self.reserved() == Some(RESERVED.iter().find(|w| **w == word).unwrap()) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.error(&format!("expected {word:?}")))
        }
    }

    /// Commands until one of `ends` (a reserved word), `)`, `;;` or the
    /// end.
    fn list(&mut self, ends: &[&str]) -> Result<Cmd, String> {
        self.depth += 1;
        if self.depth > 100 {
            return Err(self.error("nested too deeply"));
        }
        let mut cmds = Vec::new();
        loop {
            self.linebreak()?;
            if self.i >= self.s.len() || self.peek() == Some(')') || self.at(";;") {
                break;
            }
            if let Some(w) = self.reserved()
                && ends.contains(&w)
            {
                break;
            }
            cmds.push(self.and_or()?);
            self.skip_space();
            match self.peek() {
                Some(';') if !self.at(";;") => self.i += 1,
                Some('&') if !self.at("&&") => self.i += 1,
                Some('\n') => self.newline()?,
                _ => {}
            }
        }
        self.depth -= 1;
        Ok(Cmd::List(cmds))
    }

    fn and_or(&mut self) -> Result<Cmd, String> {
        let mut left = self.pipeline()?;
        // The chain nests to the left: evaluating it (and dropping it)
        // recurses once per link.
        for _ in 0..1000 {
            self.skip_space();
            if self.at("&&") {
                self.i += 2;
                self.linebreak()?;
                left = Cmd::And(Box::new(left), Box::new(self.pipeline()?));
            } else if self.at("||") {
                self.i += 2;
                self.linebreak()?;
                left = Cmd::Or(Box::new(left), Box::new(self.pipeline()?));
            } else {
                return Ok(left);
            }
        }
        Err(self.error("more than 1000 commands joined by && or ||"))
    }

    fn pipeline(&mut self) -> Result<Cmd, String> {
        let negate = self.reserved() == Some("!");
        if negate {
            self.i += 1;
        }
        let mut cmds = vec![self.command()?];
        loop {
            self.skip_space();
            if self.peek() == Some('|') && !self.at("||") {
                self.i += 1;
                self.linebreak()?;
                cmds.push(self.command()?);
            } else {
                break;
            }
        }
        Ok(if cmds.len() == 1 && !negate {
            cmds.pop().expect("one")
        } else {
            Cmd::Pipeline { cmds, negate }
        })
    }

    fn command(&mut self) -> Result<Cmd, String> {
        let cmd = match self.reserved() {
            Some("if") => self.if_clause()?,
            Some("for") => self.for_clause()?,
            Some(w @ ("while" | "until")) => {
                self.i += w.len();
                let cond = self.list(&["do"])?;
                self.expect("do")?;
                let body = self.list(&["done"])?;
                self.expect("done")?;
                Cmd::While {
                    cond: Box::new(cond),
                    body: Box::new(body),
                    until: w == "until",
                }
            }
            Some("case") => self.case_clause()?,
            Some("{") => {
                self.i += 1;
                let body = self.list(&["}"])?;
                self.expect("}")?;
                Cmd::Group(Box::new(body))
            }
            Some(w) => return Err(self.error(&format!("unexpected {w:?}"))),
            None if self.peek() == Some('(') => {
                self.i += 1;
                let body = self.list(&[])?;
                if self.peek() != Some(')') {
                    return Err(self.error("expected \")\""));
                }
                self.i += 1;
                Cmd::Subshell(Box::new(body))
            }
            None => return self.simple_or_function(),
        };
        // Redirections after a compound command (`done > /dev/null`).
        self.redirections(&mut Simple::default())?;
        Ok(cmd)
    }

    fn if_clause(&mut self) -> Result<Cmd, String> {
        self.expect("if")?;
        let mut branches = Vec::new();
        let mut otherwise = None;
        loop {
            let cond = self.list(&["then"])?;
            self.expect("then")?;
            let body = self.list(&["elif", "else", "fi"])?;
            branches.push((cond, body));
            match self.reserved() {
                Some("elif") => self.i += 4,
                Some("else") => {
                    self.i += 4;
                    otherwise = Some(Box::new(self.list(&["fi"])?));
                    self.expect("fi")?;
                    break;
                }
                _ => {
                    self.expect("fi")?;
                    break;
                }
            }
        }
        Ok(Cmd::If {
            branches,
            otherwise,
        })
    }

    fn for_clause(&mut self) -> Result<Cmd, String> {
        self.expect("for")?;
        self.skip_space();
        let var = self.name();
        if var.is_empty() {
            return Err(self.error("for without a name"));
        }
        self.linebreak()?;
        let items = if self.reserved() == Some("in") {
            self.i += 2;
            let mut items = Vec::new();
            loop {
                self.skip_space();
                match self.peek() {
                    Some(';') => {
                        self.i += 1;
                        break;
                    }
                    Some('\n') => {
                        self.newline()?;
                        break;
                    }
                    None => break,
                    _ => items.push(self.word()?),
                }
            }
            Some(items)
        } else {
            if self.peek() == Some(';') {
                self.i += 1;
            }
            None
        };
        self.linebreak()?;
        self.expect("do")?;
        let body = self.list(&["done"])?;
        self.expect("done")?;
        Ok(Cmd::For {
            var,
            items,
            body: Box::new(body),
        })
    }

    fn case_clause(&mut self) -> Result<Cmd, String> {
        self.expect("case")?;
        self.skip_space();
        let word = self.word()?;
        self.linebreak()?;
        self.expect("in")?;
        let mut arms = Vec::new();
        loop {
            self.linebreak()?;
            if self.reserved() == Some("esac") {
                self.i += 4;
                break;
            }
            if self.i >= self.s.len() {
                return Err(self.error("case without esac"));
            }
            if self.peek() == Some('(') {
                self.i += 1;
            }
            let mut patterns = Vec::new();
            loop {
                self.skip_space();
                patterns.push(self.word()?);
                self.skip_space();
                match self.peek() {
                    Some('|') => self.i += 1,
                    Some(')') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(self.error("expected \")\" after a case pattern")),
                }
            }
            let body = self.list(&["esac"])?;
            arms.push((patterns, body));
            self.skip_space();
            if self.at(";;") {
                self.i += 2;
            }
        }
        Ok(Cmd::Case { word, arms })
    }

    fn name(&mut self) -> String {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.i += 1;
        }
        self.s[start..self.i].iter().collect()
    }

    fn simple_or_function(&mut self) -> Result<Cmd, String> {
        let mut simple = Simple::default();
        loop {
            self.skip_space();
            if self.redirections(&mut simple)? {
                continue;
            }
            match self.peek() {
                None | Some('\n' | ';' | '&' | '|' | ')') => break,
                Some('(') if simple.words.len() == 1 && simple.assigns.is_empty() => {
                    // `name() { …; }`
                    self.i += 1;
                    self.skip_space();
                    if self.peek() != Some(')') {
                        return Err(self.error("expected \")\" in a function definition"));
                    }
                    self.i += 1;
                    self.linebreak()?;
                    let name = literal(&simple.words[0])
                        .ok_or_else(|| self.error("a function name must be a plain word"))?;
                    let body = self.command()?;
                    return Ok(Cmd::Function {
                        name,
                        body: Box::new(body),
                    });
                }
                Some('(') => return Err(self.error("unexpected \"(\"")),
                _ => {}
            }
            let start = self.i;
            let word = self.word()?;
            if simple.words.is_empty()
                && let Some((name, value)) = self.assignment(start, &word)
            {
                simple.assigns.push((name, value));
                continue;
            }
            simple.words.push(word);
        }
        if simple.words.is_empty() && simple.assigns.is_empty() && simple.writes.is_empty() {
            return Err(self.error("expected a command"));
        }
        Ok(Cmd::Simple(simple))
    }

    /// `NAME=value` at `start`: the name and the value's word.
    fn assignment(&self, start: usize, word: &Word) -> Option<(String, Word)> {
        let Some(Part::Lit {
            text,
            quoted: false,
        }) = word.0.first()
        else {
            return None;
        };
        let (name, rest) = text.split_once('=')?;
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || self.s[start] == '\\' {
            return None;
        }
        let mut value = Word::default();
        if !rest.is_empty() {
            value.0.push(Part::Lit {
                text: rest.to_owned(),
                quoted: false,
            });
        }
        value.0.extend(word.0[1..].iter().cloned());
        Some((name.to_owned(), value))
    }

    /// One redirection, if one is at the cursor (`2>&1`, `>/dev/null`,
    /// `>> FILE`, `< FILE`, `<<EOF`); files written are kept.
    fn redirections(&mut self, simple: &mut Simple) -> Result<bool, String> {
        self.skip_space();
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        let op = if self.at("<<-") {
            "<<-"
        } else if self.at("<<") {
            "<<"
        } else if self.at(">>") {
            ">>"
        } else if self.at(">&") {
            ">&"
        } else if self.at("<&") {
            "<&"
        } else if self.at(">|") {
            ">|"
        } else if self.at("<>") {
            "<>"
        } else if self.at(">") {
            ">"
        } else if self.at("<") {
            "<"
        } else {
            self.i = start;
            return Ok(false);
        };
        self.i += op.len();
        self.skip_space();
        let target = self.word()?;
        match op {
            "<<" | "<<-" => {
                let delim: String = target
                    .0
                    .iter()
                    .map(|p| match p {
                        Part::Lit { text, .. } => text.clone(),
                        _ => String::new(),
                    })
                    .collect();
                self.heredocs.push((delim, op == "<<-"));
            }
            ">" | ">>" | ">|" | "<>"
                if !literal(&target).is_some_and(|t| t.starts_with("/dev/")) =>
            {
                simple.writes.push(target);
            }
            _ => {}
        }
        Ok(true)
    }

    /// A word, up to a blank or an operator.
    fn word(&mut self) -> Result<Word, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '<' | '>' | '(' | ')' => break,
                '\\' => {
                    self.i += 1;
                    match self.peek() {
                        Some('\n') => self.i += 1,
                        Some(e) => {
                            flush(&mut lit, &mut parts, false);
                            parts.push(Part::Lit {
                                text: e.to_string(),
                                quoted: true,
                            });
                            self.i += 1;
                        }
                        None => {}
                    }
                }
                '\'' => {
                    flush(&mut lit, &mut parts, false);
                    self.i += 1;
                    let start = self.i;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.i += 1;
                    }
                    if self.peek().is_none() {
                        return Err(self.error("unterminated single quote"));
                    }
                    parts.push(Part::Lit {
                        text: self.s[start..self.i].iter().collect(),
                        quoted: true,
                    });
                    self.i += 1;
                }
                '"' => {
                    flush(&mut lit, &mut parts, false);
                    self.i += 1;
                    self.double_quoted(&mut parts)?;
                }
                '$' | '`' => {
                    if let Some(part) = self.dollar(false)? {
                        flush(&mut lit, &mut parts, false);
                        parts.push(part);
                    } else {
                        lit.push('$');
                        self.i += 1;
                    }
                }
                c => {
                    lit.push(c);
                    self.i += 1;
                }
            }
        }
        flush(&mut lit, &mut parts, false);
        if parts.is_empty() {
            return Err(self.error("expected a word"));
        }
        Ok(Word(parts))
    }

    /// The inside of `"…"` (the opening quote read).
    fn double_quoted(&mut self, parts: &mut Vec<Part>) -> Result<(), String> {
        let mut lit = String::new();
        // An empty "" is still a (quoted, empty) field.
        parts.push(Part::Lit {
            text: String::new(),
            quoted: true,
        });
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated double quote")),
                Some('"') => {
                    self.i += 1;
                    break;
                }
                Some('\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some('\n') => self.i += 1,
                        Some(c @ ('$' | '`' | '"' | '\\')) => {
                            lit.push(c);
                            self.i += 1;
                        }
                        _ => lit.push('\\'),
                    }
                }
                Some('$' | '`') => match self.dollar(true)? {
                    Some(part) => {
                        flush(&mut lit, parts, true);
                        parts.push(part);
                    }
                    None => {
                        lit.push('$');
                        self.i += 1;
                    }
                },
                Some(c) => {
                    lit.push(c);
                    self.i += 1;
                }
            }
        }
        flush(&mut lit, parts, true);
        Ok(())
    }

    /// A `$` or backquote expansion at the cursor; `None` for a lone `$`.
    fn dollar(&mut self, quoted: bool) -> Result<Option<Part>, String> {
        self.depth += 1;
        let r = self.dollar_inner(quoted);
        self.depth -= 1;
        r
    }

    fn dollar_inner(&mut self, quoted: bool) -> Result<Option<Part>, String> {
        if self.depth > 100 {
            return Err(self.error("nested too deeply"));
        }
        if self.peek() == Some('`') {
            self.i += 1;
            let mut inner = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.error("unterminated backquote")),
                    Some('`') => {
                        self.i += 1;
                        break;
                    }
                    Some('\\') if matches!(self.s.get(self.i + 1), Some('`' | '\\' | '$')) => {
                        inner.push(self.s[self.i + 1]);
                        self.i += 2;
                    }
                    Some(c) => {
                        inner.push(c);
                        self.i += 1;
                    }
                }
            }
            let cmd = parse(&inner).map_err(|e| self.error(&format!("in `…`: {e}")))?;
            return Ok(Some(Part::Sub {
                cmd: Box::new(cmd),
                quoted,
            }));
        }
        let next = self.s.get(self.i + 1).copied();
        match next {
            Some('(') if self.s.get(self.i + 2) == Some(&'(') => {
                self.i += 3;
                let start = self.i;
                let mut depth = 0;
                loop {
                    match self.peek() {
                        None => return Err(self.error("unterminated $((")),
                        Some('(') => depth += 1,
                        Some(')') if depth == 0 && self.s.get(self.i + 1) == Some(&')') => break,
                        Some(')') => depth -= 1,
                        _ => {}
                    }
                    self.i += 1;
                }
                let inner: String = self.s[start..self.i].iter().collect();
                self.i += 2;
                let mut sub = Parser {
                    s: inner.chars().collect(),
                    i: 0,
                    heredocs: Vec::new(),
                    depth: self.depth,
                };
                let expr = sub.arith_word()?;
                Ok(Some(Part::Arith { expr, quoted }))
            }
            Some('(') => {
                self.i += 2;
                let cmd = self.list(&[])?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(self.error("expected \")\" closing $("));
                }
                self.i += 1;
                Ok(Some(Part::Sub {
                    cmd: Box::new(cmd),
                    quoted,
                }))
            }
            Some('{') => {
                self.i += 2;
                let length = self.peek() == Some('#') && self.s.get(self.i + 1) != Some(&'}');
                if length {
                    self.i += 1;
                }
                let mut name = self.name();
                if name.is_empty()
                    && let Some(c) = self.peek().filter(|c| "@*#?$!-".contains(*c))
                {
                    name.push(c);
                    self.i += 1;
                }
                if name.is_empty() {
                    return Err(self.error("bad ${} expansion"));
                }
                let op = [
                    "##", "%%", ":-", ":=", ":+", ":?", "-", "=", "+", "?", "#", "%",
                ]
                .into_iter()
                .find(|op| self.at(op));
                let op = match op {
                    Some(op) => {
                        self.i += op.len();
                        Some((op.to_owned(), self.brace_word()?))
                    }
                    None => None,
                };
                if self.peek() != Some('}') {
                    return Err(self.error("expected \"}\""));
                }
                self.i += 1;
                Ok(Some(Part::Param(Param {
                    name,
                    length,
                    op,
                    quoted,
                })))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                self.i += 1;
                let name = self.name();
                Ok(Some(Part::Param(Param {
                    name,
                    length: false,
                    op: None,
                    quoted,
                })))
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                self.i += 2;
                Ok(Some(Part::Param(Param {
                    name: c.to_string(),
                    length: false,
                    op: None,
                    quoted,
                })))
            }
            _ => Ok(None),
        }
    }

    /// The word of `${x:-word}`, up to the closing brace.
    fn brace_word(&mut self) -> Result<Word, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated ${")),
                Some('}') => break,
                Some('\'') => {
                    self.i += 1;
                    let start = self.i;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.i += 1;
                    }
                    lit.extend(&self.s[start..self.i.min(self.s.len())]);
                    self.i += 1;
                }
                Some('"') => {
                    flush(&mut lit, &mut parts, false);
                    self.i += 1;
                    self.double_quoted(&mut parts)?;
                }
                Some('$' | '`') => match self.dollar(false)? {
                    Some(p) => {
                        flush(&mut lit, &mut parts, false);
                        parts.push(p);
                    }
                    None => {
                        lit.push('$');
                        self.i += 1;
                    }
                },
                Some('\\') => {
                    self.i += 1;
                    if let Some(c) = self.peek() {
                        lit.push(c);
                        self.i += 1;
                    }
                }
                Some(c) => {
                    lit.push(c);
                    self.i += 1;
                }
            }
        }
        flush(&mut lit, &mut parts, false);
        Ok(Word(parts))
    }

    /// The inside of `$((…))`: literal text with `$` expansions.
    fn arith_word(&mut self) -> Result<Word, String> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        while let Some(c) = self.peek() {
            if (c == '$' || c == '`')
                && let Some(p) = self.dollar(true)?
            {
                flush(&mut lit, &mut parts, true);
                parts.push(p);
                continue;
            }
            lit.push(c);
            self.i += 1;
        }
        flush(&mut lit, &mut parts, true);
        Ok(Word(parts))
    }
}

/// `lit`, if there is any, as a literal part of `parts`.
fn flush(lit: &mut String, parts: &mut Vec<Part>, quoted: bool) {
    if !lit.is_empty() {
        parts.push(Part::Lit {
            text: std::mem::take(lit),
            quoted,
        });
    }
}

/// The text of a word without expansions.
pub(crate) fn literal(word: &Word) -> Option<String> {
    word.0
        .iter()
        .map(|p| match p {
            Part::Lit { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}
