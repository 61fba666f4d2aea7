//! Progress bars for long runs (`bench`, `stress`): on stderr, only when stderr is a terminal and
//! the output is not JSON, so pipes, CI logs and `--json` consumers never see them.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A bar of `len` steps (rows, targets or seconds) labelled `what`; hidden unless stderr is a TTY
/// and `json` is false. It shows the current item, elapsed time and an ETA.
pub fn bar(len: u64, what: &str, json: bool) -> ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let template = format!("{what} {{bar:30}} {{pos}}/{{len}} {{msg}}  elapsed {{elapsed}}, ETA {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        b.set_style(style);
    }
    b
}
