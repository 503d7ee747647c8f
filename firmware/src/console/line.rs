//! Line editing on a raw serial byte stream: echo, backspace, Ctrl-C, and
//! terminal escape sequences (arrow keys) swallowed. No allocation: the
//! line lives in a fixed heapless buffer.

/// Longest accepted command line, in bytes.
pub const MAX_LINE: usize = 128;

/// What the console should do after one input byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to show.
    None,
    /// Echo this byte.
    Echo(u8),
    /// Erase the last character on screen.
    Erase,
    /// The line is complete: take it with `LineEditor::take`.
    Submit,
    /// Ctrl-C: the line was discarded.
    Cancel,
    /// The byte could not be used (line full, nothing to erase).
    Bell,
}

/// Why a submitted line cannot be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    TooLong,
}

impl core::fmt::Display for LineError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            LineError::TooLong => write!(f, "line too long: at most {MAX_LINE} characters; nothing was run"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    Esc,
    Csi,
}

#[derive(Debug)]
pub struct LineEditor {
    buf: heapless::Vec<u8, MAX_LINE>,
    overflowed: bool,
    last_was_cr: bool,
    escape: Escape,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    pub const fn new() -> Self {
        LineEditor { buf: heapless::Vec::new(), overflowed: false, last_was_cr: false, escape: Escape::None }
    }

    /// Feed one byte from the terminal.
    pub fn feed(&mut self, b: u8) -> Action {
        let after_cr = core::mem::replace(&mut self.last_was_cr, false);
        match self.escape {
            Escape::Esc => {
                self.escape = if b == b'[' { Escape::Csi } else { Escape::None };
                return Action::None;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.escape = Escape::None;
                }
                return Action::None;
            }
            Escape::None => {}
        }
        match b {
            b'\r' => {
                self.last_was_cr = true;
                Action::Submit
            }
            // A terminal sends CR, a pipe LF, some both: one line either way.
            b'\n' if after_cr => Action::None,
            b'\n' => Action::Submit,
            0x03 => {
                self.clear();
                Action::Cancel
            }
            0x08 | 0x7f => {
                if self.overflowed {
                    Action::Bell
                } else if self.buf.pop().is_some() {
                    Action::Erase
                } else {
                    Action::Bell
                }
            }
            0x1b => {
                self.escape = Escape::Esc;
                Action::None
            }
            0x20..=0x7e => {
                if self.overflowed || self.buf.push(b).is_err() {
                    self.overflowed = true;
                    Action::Bell
                } else {
                    Action::Echo(b)
                }
            }
            _ => Action::None,
        }
    }

    /// The submitted line (trimmed), and a fresh editor for the next one.
    /// Call after `Action::Submit`; the result borrows `out`.
    pub fn take<'a>(&mut self, out: &'a mut heapless::Vec<u8, MAX_LINE>) -> Result<&'a str, LineError> {
        let overflowed = self.overflowed;
        *out = core::mem::take(&mut self.buf);
        self.clear();
        if overflowed {
            return Err(LineError::TooLong);
        }
        // Only printable ASCII is ever stored.
        Ok(core::str::from_utf8(out).unwrap_or("").trim())
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflowed = false;
        self.escape = Escape::None;
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(e: &mut LineEditor, bytes: &[u8]) -> heapless::Vec<Action, 256> {
        bytes.iter().map(|&b| e.feed(b)).collect()
    }

    fn line_of(bytes: &[u8]) -> Result<heapless::String<MAX_LINE>, LineError> {
        let mut e = LineEditor::new();
        let actions = feed_all(&mut e, bytes);
        assert_eq!(actions.last(), Some(&Action::Submit));
        let mut out = heapless::Vec::new();
        e.take(&mut out).map(|s| heapless::String::try_from(s).unwrap())
    }

    #[test_case]
    fn echoes_and_submits_on_cr_or_lf() {
        let mut e = LineEditor::new();
        assert_eq!(e.feed(b'h'), Action::Echo(b'h'));
        assert_eq!(e.feed(b'\r'), Action::Submit);
        assert_eq!(line_of(b"info\n").unwrap(), "info");
        assert_eq!(line_of(b"  info  \r").unwrap(), "info");
    }

    #[test_case]
    fn cr_lf_is_one_line_end() {
        let mut e = LineEditor::new();
        assert_eq!(e.feed(b'\r'), Action::Submit);
        assert_eq!(e.feed(b'\n'), Action::None);
        assert_eq!(e.feed(b'\n'), Action::Submit);
    }

    #[test_case]
    fn backspace_and_delete_erase() {
        assert_eq!(line_of(b"helq\x08p\n").unwrap(), "help");
        assert_eq!(line_of(b"infx\x7fo\n").unwrap(), "info");
        let mut e = LineEditor::new();
        assert_eq!(e.feed(0x08), Action::Bell, "erasing an empty line");
    }

    #[test_case]
    fn ctrl_c_discards_the_line() {
        let mut e = LineEditor::new();
        feed_all(&mut e, b"reboot");
        assert_eq!(e.feed(0x03), Action::Cancel);
        assert!(e.is_empty());
        assert_eq!(line_of(b"reb\x03help\n").unwrap(), "help");
    }

    #[test_case]
    fn arrow_keys_are_ignored() {
        assert_eq!(line_of(b"he\x1b[Alp\x1b[1;5C\n").unwrap(), "help");
    }

    #[test_case]
    fn overlong_line_is_refused_whole() {
        let mut long = [b'a'; MAX_LINE + 10];
        long[MAX_LINE + 9] = b'\n';
        assert_eq!(line_of(&long), Err(LineError::TooLong));
        // The editor is usable again afterwards.
        let mut e = LineEditor::new();
        feed_all(&mut e, &long);
        let mut out = heapless::Vec::new();
        assert!(e.take(&mut out).is_err());
        feed_all(&mut e, b"info\n");
        assert_eq!(e.take(&mut out), Ok("info"));
    }

    #[test_case]
    fn exactly_max_line_is_accepted() {
        let mut e = LineEditor::new();
        for _ in 0..MAX_LINE {
            assert_eq!(e.feed(b'x'), Action::Echo(b'x'));
        }
        assert_eq!(e.feed(b'x'), Action::Bell);
    }
}
