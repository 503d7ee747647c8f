//! 8.3 short names as a directory entry stores them, and the checksum that
//! ties long-name entries to their short entry (Microsoft FAT32 File
//! System Specification 1.03, "fatgen103", sections 6 and 7).
use core::fmt;

/// An 8.3 name in its on-disk form: 8 bytes of base name and 3 of
/// extension, upper case, padded with spaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortName(pub [u8; 11]);

/// Why a typed name is not a valid 8.3 name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    /// More than 8 characters before the dot, or more than 3 after it.
    TooLong,
    /// A character FAT does not allow in short names (or not ASCII).
    BadChar(u8),
    /// `.` or `..`, which name directories themselves.
    Dots,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "the name is empty"),
            NameError::TooLong => write!(f, "names are 8.3: at most 8 characters, a dot, at most 3 characters"),
            NameError::BadChar(c) if c.is_ascii_graphic() => write!(f, "'{}' is not allowed in 8.3 names", *c as char),
            NameError::BadChar(c) => write!(f, "byte 0x{c:02x} is not allowed in 8.3 names"),
            NameError::Dots => write!(f, "'.' and '..' name directories themselves"),
        }
    }
}

/// Characters fatgen103 section 6.1 allows in short names besides letters
/// and digits (lower-case letters are stored in upper case).
const SPECIAL: &[u8] = b"$%'-_@~`!(){}^#&";

fn allowed(c: u8) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || SPECIAL.contains(&c)
}

impl ShortName {
    /// The 8.3 name of `s` (case-insensitive: stored in upper case).
    pub fn parse(s: &str) -> Result<ShortName, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s == "." || s == ".." {
            return Err(NameError::Dots);
        }
        let (base, ext) = match s.rfind('.') {
            Some(i) => (&s[..i], &s[i + 1..]),
            None => (s, ""),
        };
        if base.is_empty() {
            return Err(NameError::Empty);
        }
        if base.len() > 8 || ext.len() > 3 {
            return Err(NameError::TooLong);
        }
        let mut n = [b' '; 11];
        for (i, c) in base.bytes().enumerate() {
            n[i] = c.to_ascii_uppercase();
        }
        for (i, c) in ext.bytes().enumerate() {
            n[8 + i] = c.to_ascii_uppercase();
        }
        if let Some(c) = base.bytes().chain(ext.bytes()).map(|c| c.to_ascii_uppercase()).find(|&c| !allowed(c)) {
            return Err(NameError::BadChar(c));
        }
        Ok(ShortName(n))
    }

    /// Base name without padding.
    pub fn base(&self) -> &[u8] {
        trim(&self.0[..8])
    }

    /// Extension without padding.
    pub fn ext(&self) -> &[u8] {
        trim(&self.0[8..])
    }

    /// The checksum a long-name entry stores for this short name
    /// (fatgen103 section 7, "ChkSum").
    pub fn lfn_checksum(&self) -> u8 {
        self.0.iter().fold(0u8, |sum, &c| (sum >> 1 | sum << 7).wrapping_add(c))
    }

    /// `BASE.EXT` as text (non-ASCII bytes of names written elsewhere show as `?`).
    pub fn write_to(&self, f: &mut impl fmt::Write) -> fmt::Result {
        for &c in self.base() {
            f.write_char(printable(c))?;
        }
        if !self.ext().is_empty() {
            f.write_char('.')?;
            for &c in self.ext() {
                f.write_char(printable(c))?;
            }
        }
        Ok(())
    }
}

fn printable(c: u8) -> char {
    if c.is_ascii_graphic() {
        c as char
    } else {
        '?'
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let end = s.iter().rposition(|&c| c != b' ').map_or(0, |i| i + 1);
    &s[..end]
}

impl fmt::Display for ShortName {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        // Pad like a `str` would (`{:<12}` in listings).
        let mut buf = [0u8; 12];
        let mut n = 0;
        for &c in self.base().iter().chain(if self.ext().is_empty() { &[][..] } else { b"." }).chain(self.ext()) {
            buf[n] = printable(c) as u8;
            n += 1;
        }
        f.pad(core::str::from_utf8(&buf[..n]).unwrap_or("?"))
    }
}

impl fmt::Debug for ShortName {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_names() {
        assert_eq!(&ShortName::parse("model.pkg").unwrap().0, b"MODEL   PKG");
        assert_eq!(&ShortName::parse("README").unwrap().0, b"README     ");
        assert_eq!(&ShortName::parse("~XLICTMP.TMP").unwrap().0, b"~XLICTMPTMP");
        assert_eq!(ShortName::parse("a.b.c"), Err(NameError::BadChar(b'.')));
        assert_eq!(ShortName::parse("ninechars.png"), Err(NameError::TooLong));
        assert_eq!(ShortName::parse("a+b.png"), Err(NameError::BadChar(b'+')));
        assert_eq!(ShortName::parse("a b.png"), Err(NameError::BadChar(b' ')));
        assert_eq!(ShortName::parse(".png"), Err(NameError::Empty));
        assert_eq!(ShortName::parse(".."), Err(NameError::Dots));
        assert_eq!(ShortName::parse("GOOD\u{e9}.PNG"), Err(NameError::BadChar(0xc3)));
        assert_eq!(format!("{:<12}|", ShortName::parse("a.txt").unwrap()), "A.TXT       |");
        assert_eq!(format!("{}", ShortName::parse("noext").unwrap()), "NOEXT");
    }

    #[test]
    fn lfn_checksum_matches_the_specification() {
        // fatgen103's ChkSum over "HELLOW~1TXT", computed by hand with the
        // rotate-right-and-add of section 7.
        let mut sum: u8 = 0;
        for &c in b"HELLOW~1TXT" {
            sum = (if sum & 1 != 0 { 0x80u8 } else { 0 }).wrapping_add(sum >> 1).wrapping_add(c);
        }
        assert_eq!(ShortName(*b"HELLOW~1TXT").lfn_checksum(), sum);
    }
}
