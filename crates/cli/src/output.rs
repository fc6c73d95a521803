//! Writing command output to stdout.

use distill_project::{Error, Result};

/// Writes `text` to stdout. A closed pipe (`distill show x | head`) ends
/// the output quietly instead of panicking as `println!` would.
pub(crate) fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Message(format!("cannot write output: {e}")))
        }
        _ => Ok(()),
    }
}

/// One JSON document, pretty or compact, with a trailing newline.
pub(crate) fn emit_json(v: &impl serde::Serialize, pretty: bool) -> Result<()> {
    let text = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .map_err(|e| Error::Message(format!("cannot write JSON: {e}")))?;
    emit(&(text + "\n"))
}
