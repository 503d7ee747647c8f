//! Line editing on a raw serial byte stream: echo, backspace, Ctrl-C, and
//! terminal escape sequences (arrow keys) swallowed. No allocation: the
//! line lives in a fixed heapless buffer.
//!
//! Nothing typed is dropped silently: a byte the console cannot take
//! (not printable ASCII, e.g. UTF-8 `é`, or a control character) is kept,
//! echoed as `?`, and the line is refused with a message when submitted,
//! so `rm GOODé.PNG` can never become `rm GOOD.PNG`. Escape sequences
//! follow ECMA-48: ESC [ (CSI) takes parameter and intermediate bytes up
//! to a final byte, ESC O (SS3) one final byte; any other byte ends the
//! sequence and counts as typed (a lone ESC does not eat the next key,
//! and Enter inside a broken sequence still submits the line).

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
    /// A byte that is not printable ASCII, at a column (from 1).
    NotAscii { byte: u8, column: usize },
}

impl core::fmt::Display for LineError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            LineError::TooLong => write!(f, "line too long: at most {MAX_LINE} characters; nothing was run"),
            LineError::NotAscii { byte, column } if *byte >= 0x80 => write!(
                f,
                "the line holds byte 0x{byte:02x} at column {column}, which is not ASCII (card names are 8.3 ASCII); nothing was run"
            ),
            LineError::NotAscii { byte, column } => {
                write!(f, "the line holds control character 0x{byte:02x} at column {column}; nothing was run")
            }
        }
    }
}

/// The rules a line must meet to be run, typed or read from a script: at
/// most [`MAX_LINE`] bytes, printable ASCII (a tab counts as a space).
pub fn check(line: &[u8]) -> Result<&str, LineError> {
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    if let Some(i) = line.iter().position(|&b| !((0x20..=0x7e).contains(&b) || b == b'\t')) {
        return Err(LineError::NotAscii { byte: line[i], column: i + 1 });
    }
    // Printable ASCII is UTF-8.
    Ok(core::str::from_utf8(line).unwrap_or(""))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    Esc,
    Csi,
    Ss3,
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
                self.escape = match b {
                    b'[' => Escape::Csi,
                    b'O' => Escape::Ss3,
                    _ => Escape::None,
                };
                if self.escape != Escape::None {
                    return Action::None;
                }
                // ESC then a plain key: the key counts.
            }
            // Parameter and intermediate bytes, then a final byte.
            Escape::Csi if (0x20..=0x3f).contains(&b) => return Action::None,
            Escape::Csi | Escape::Ss3 if (0x40..=0x7e).contains(&b) => {
                self.escape = Escape::None;
                return Action::None;
            }
            // Anything else breaks the sequence and counts as typed.
            Escape::Csi | Escape::Ss3 => self.escape = Escape::None,
            Escape::None => {}
        }
        match b {
            b'\r' => {
                self.last_was_cr = true;
                Action::Submit
            }
            // A terminal sends CR, a pipe LF, some both (telnet: CR NUL):
            // one line either way.
            b'\n' | 0 if after_cr => Action::None,
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
            // Tab separates words like a space.
            b'\t' => self.push(b' '),
            _ => self.push(b),
        }
    }

    /// Store a typed byte; one the console cannot take shows as `?` and
    /// refuses the line when it is submitted.
    fn push(&mut self, b: u8) -> Action {
        if self.overflowed || self.buf.push(b).is_err() {
            self.overflowed = true;
            Action::Bell
        } else if (0x20..=0x7e).contains(&b) {
            Action::Echo(b)
        } else {
            Action::Echo(b'?')
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
        check(out)?;
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
        // SS3 arrows (application cursor mode) too.
        assert_eq!(line_of(b"he\x1bOAlp\n").unwrap(), "help");
    }

    #[test_case]
    fn a_lone_escape_does_not_eat_the_next_key() {
        assert_eq!(line_of(b"\x1bhelp\n").unwrap(), "help");
        assert_eq!(line_of(b"he\x1blp\n").unwrap(), "help");
    }

    #[test_case]
    fn enter_inside_a_broken_escape_sequence_still_submits() {
        let mut e = LineEditor::new();
        let actions = feed_all(&mut e, b"info\x1b[\r");
        assert_eq!(actions.last(), Some(&Action::Submit));
        let mut out = heapless::Vec::new();
        assert_eq!(e.take(&mut out), Ok("info"));
        // And the next line is typed from a clean state.
        feed_all(&mut e, b"help\n");
        assert_eq!(e.take(&mut out), Ok("help"));
    }

    #[test_case]
    fn non_ascii_bytes_refuse_the_line_instead_of_vanishing() {
        // "rm GOODé.PNG" in UTF-8 must not become "rm GOOD.PNG".
        let mut e = LineEditor::new();
        let actions = feed_all(&mut e, "rm GOOD\u{e9}.PNG\n".as_bytes());
        assert_eq!(actions[7], Action::Echo(b'?'), "shown, not hidden");
        let mut out = heapless::Vec::new();
        assert_eq!(e.take(&mut out), Err(LineError::NotAscii { byte: 0xc3, column: 8 }));
        assert_eq!(line_of(b"ls\x01\n"), Err(LineError::NotAscii { byte: 0x01, column: 3 }));
        // Erased before Enter: the line is fine.
        assert_eq!(line_of("rm A\u{e9}\x08\x08.PNG\n".as_bytes()).unwrap(), "rm A.PNG");
        // A tab separates words.
        assert_eq!(line_of(b"ls\tIMAGES\n").unwrap(), "ls IMAGES");
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
    fn script_lines_meet_the_same_rules() {
        assert_eq!(check(b"load image\tA.PNG"), Ok("load image\tA.PNG"));
        assert_eq!(check("rm GOOD\u{e9}.PNG".as_bytes()), Err(LineError::NotAscii { byte: 0xc3, column: 8 }));
        assert_eq!(check(b"ls\rrm A.PNG"), Err(LineError::NotAscii { byte: b'\r', column: 3 }));
        assert_eq!(check(&[b'x'; MAX_LINE]).map(str::len), Ok(MAX_LINE));
        assert_eq!(check(&[b'x'; MAX_LINE + 1]), Err(LineError::TooLong));
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
