//! Progress bars on stderr when it is a terminal; silence otherwise.
//! Notices (source fallbacks) are printed once per pair of hosts.

use std::sync::Mutex;

use distill_fetch::{Observer, Transfer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Bars {
    multi: MultiProgress,
    quiet: bool,
    /// (host that failed, why), first failure per host.
    fallbacks: Mutex<Vec<(String, String)>>,
}

impl Bars {
    pub fn new(quiet: bool) -> Bars {
        // indicatif draws nothing when stderr is not a terminal.
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            quiet,
            fallbacks: Mutex::new(Vec::new()),
        }
    }

    /// A counting bar (`layers 12/40`) for work that is not a download;
    /// cleared when dropped.
    pub fn steps(&self, len: u64, what: &str) -> Steps {
        let bar = self.multi.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template("{msg:40!} {bar:30} {pos:>5}/{len:5}")
                .expect("static template"),
        );
        bar.set_message(what.to_owned());
        Steps(bar)
    }

    /// A one-line notice on stderr that does not tear the bars.
    pub fn note(&self, line: &str) {
        if self.quiet {
            return;
        }
        self.multi.suspend(|| eprintln!("{line}"));
    }
}

impl Bars {
    /// One line for every suite that came from a live mirror instead of the
    /// requested snapshot, with the reason the snapshot failed.
    pub fn note_mirrors(&self, suites: &[(String, String)], snapshot: &str) {
        if suites.is_empty() {
            return;
        }
        let names: Vec<&str> = suites.iter().map(|(s, _)| s.as_str()).collect();
        let mut mirrors: Vec<String> = suites.iter().map(|(_, m)| host(m)).collect();
        mirrors.dedup();
        // Taken, not read: a second distro's note gives its own reasons
        // (a host already found dead says so), not the first distro's.
        let why = std::mem::take(&mut *self.fallbacks.lock().expect("lock"))
            .iter()
            .map(|(h, cause)| format!("{h}: {cause}"))
            .collect::<Vec<_>>()
            .join("; ");
        let why = if why.is_empty() {
            "not in the cache".to_owned()
        } else {
            why
        };
        self.note(&format!(
            "note: snapshot {snapshot} unavailable ({why}); {} from {} as it is now",
            names.join(", "),
            mirrors.join(", ")
        ));
    }
}

pub struct Steps(ProgressBar);

impl Steps {
    pub fn inc(&self) {
        self.0.inc(1);
    }
}

impl Drop for Steps {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

struct Bar(ProgressBar);

impl Transfer for Bar {
    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

fn short(url: &str) -> String {
    let tail: Vec<&str> = url.rsplit('/').take(3).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("/")
}

fn host(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(url)
        .to_owned()
}

impl Observer for Bars {
    fn start(&self, url: &str, total: Option<u64>) -> Box<dyn Transfer> {
        let bar = self.multi.add(ProgressBar::new(total.unwrap_or(0)));
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:40!} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}",
            )
            .expect("static template"),
        );
        bar.set_message(short(url));
        Box::new(Bar(bar))
    }

    fn fallback(&self, failed: &str, cause: &str, _next: &str) {
        // Summarised by the command once it knows which suites moved.
        let mut seen = self.fallbacks.lock().expect("lock");
        if !seen.iter().any(|(h, _)| *h == host(failed)) {
            seen.push((host(failed), cause.to_owned()));
        }
    }
}
