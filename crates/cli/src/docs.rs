//! `distill completions SHELL` and `distill man`: the shell completion
//! scripts and the man page, made from the same clap definitions as the
//! parser, so they cannot drift from it.

use clap::CommandFactory;
use distill_project::{Error, Result};

use crate::output::emit;

/// The completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut crate::Cli::command(), "distill", &mut out);
    emit(&String::from_utf8_lossy(&out))?;
    Ok(0)
}

/// The man page of `distill`, in roff, with a section per command.
pub(crate) fn man() -> Result<u8> {
    let cmd = crate::Cli::command();
    let mut out = Vec::new();
    let fail = |e: std::io::Error| Error::Message(format!("cannot write the man page: {e}"));
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .map_err(fail)?;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("distill-{}", sub.get_name());
        let sub = sub.clone().name(name.clone()).bin_name(name);
        out.extend_from_slice(b"\n");
        clap_mangen::Man::new(sub).render(&mut out).map_err(fail)?;
    }
    emit(&String::from_utf8_lossy(&out))?;
    Ok(0)
}
