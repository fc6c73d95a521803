//! Progress bars and notes on stderr when it is a terminal (indicatif
//! draws nothing otherwise); nothing at all with `--quiet`.

use distill_store::{Observer, Transfer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub(crate) struct Bars {
    multi: MultiProgress,
    quiet: bool,
}

impl Bars {
    pub(crate) fn new(quiet: bool) -> Bars {
        let target = if quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
            quiet,
        }
    }

    fn bar(&self, total: u64, template: &str, message: String) -> Box<dyn Transfer> {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(ProgressStyle::with_template(template).expect("static template"));
        bar.set_message(message);
        Box::new(Bar(bar))
    }
}

/// A bar, cleared when its work is done (dropped).
struct Bar(ProgressBar);

impl Transfer for Bar {
    fn advance(&self, amount: u64) {
        self.0.inc(amount);
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// The last three segments of a URL: enough to tell downloads apart.
fn short(url: &str) -> String {
    let tail: Vec<&str> = url.rsplit('/').take(3).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("/")
}

impl Observer for Bars {
    fn start(&self, url: &str, total: Option<u64>) -> Box<dyn Transfer> {
        self.bar(
            total.unwrap_or(0),
            "{msg:40!} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12}",
            short(url),
        )
    }

    fn steps(&self, total: u64, what: &str) -> Box<dyn Transfer> {
        self.bar(
            total,
            "{msg:40!} {bar:30} {pos:>5}/{len:5}",
            what.to_owned(),
        )
    }

    /// A line that does not tear the bars.
    fn note(&self, line: &str) {
        if !self.quiet {
            self.multi.suspend(|| eprintln!("{line}"));
        }
    }
}
