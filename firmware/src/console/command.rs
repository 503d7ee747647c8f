//! Command table and parser. Pure functions over `&str`, so they are unit
//! tested as they are; the table is what `help` prints.
use core::fmt;

/// One console command, as `help` shows it.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub usage: &'static str,
    pub summary: &'static str,
}

/// Every command, in the order `help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec { name: "help", usage: "help [COMMAND]", summary: "list the commands, or show one in detail" },
    CommandSpec { name: "info", usage: "info", summary: "firmware version, exception levels, cores, timer, memory map" },
    CommandSpec { name: "layers", usage: "layers", summary: "the codec's layer table (from the shared model crate)" },
    CommandSpec { name: "card", usage: "card", summary: "identify the SD card and mount its FAT volume" },
    CommandSpec { name: "ls", usage: "ls [DIR]", summary: "list the card's root directory (or DIR)" },
    CommandSpec { name: "head", usage: "head FILE [BYTES]", summary: "hex dump of the first BYTES (default 256) of a file" },
    CommandSpec {
        name: "save",
        usage: "save image FILE [FILTER [LEVEL]]",
        summary: "encode the loaded image as PNG (streamed; filter none|sub|up|avg|paeth|adaptive, level 0-9) and write it (never over a file)",
    },
    CommandSpec { name: "cp", usage: "cp SRC DST", summary: "copy a file on the card (never over an existing file)" },
    CommandSpec { name: "rm", usage: "rm FILE", summary: "delete a file on the card" },
    CommandSpec { name: "load", usage: "load model|image FILE [edge|zero]", summary: "read a model package and check it, or decode a PNG into the accelerator's input map" },
    CommandSpec { name: "run", usage: "run", summary: "run the remaining layers on the accelerator, then write RECON.PNG, RECON.XLC and LATENT.BIN" },
    CommandSpec {
        name: "compress",
        usage: "compress IMAGE.PNG OUT.XLC [edge|zero]",
        summary: "load a PNG, analysis layers on the accelerator, entropy coding on the A53, write the .XLC file",
    },
    CommandSpec {
        name: "decompress",
        usage: "decompress IN.XLC OUT.PNG",
        summary: "check an .XLC file, entropy decoding on the A53, synthesis layers on the accelerator, write the PNG",
    },
    CommandSpec { name: "step", usage: "step", summary: "run the next layer only: dims, tiling, time, output CRC-32, min/max" },
    CommandSpec { name: "reset", usage: "reset", summary: "start over at ana_0 (and free a hung accelerator)" },
    CommandSpec { name: "regs", usage: "regs", summary: "the accelerator's registers, by their generated names" },
    CommandSpec { name: "mem", usage: "mem", summary: "the DDR buffers: model, image, feature maps, latent, output" },
    CommandSpec { name: "dump", usage: "dump LAYER FILE", summary: "write LAYER's output feature map (e.g. ana_2) to FILE" },
    CommandSpec { name: "verify", usage: "verify FILE", summary: "compare a feature map (dump format) or latent file with the buffers" },
    CommandSpec { name: "diag", usage: "diag [force]", summary: "bring-up checks: EL, timer, caches, SMPEN, errata, PL, accelerator, SD host and card (force: probe the PL anyway)" },
    CommandSpec { name: "fault", usage: "fault null|stack|undef", summary: "raise a CPU fault on purpose to see the exception report (halts)" },
    CommandSpec { name: "reboot", usage: "reboot", summary: "restart the system (PS soft reset)" },
    CommandSpec { name: "exit", usage: "exit [CODE]", summary: "leave QEMU with exit status CODE (default 0); halts on the board" },
];

pub fn spec(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// A deliberate CPU fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Load from the unmapped null guard page.
    Null,
    /// Unbounded recursion into the main stack's guard page.
    Stack,
    /// An undefined instruction.
    Undef,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    Help(Option<&'a str>),
    Info,
    Layers,
    Card,
    Ls(Option<&'a str>),
    Head { file: &'a str, bytes: usize },
    LoadModel(&'a str),
    Copy { from: &'a str, to: &'a str },
    Remove(&'a str),
    SaveImage { file: &'a str, options: xlic_png::Options },
    LoadImage { file: &'a str, pad: xlic_model::PadMode },
    Run,
    Compress { image: &'a str, out: &'a str, pad: xlic_model::PadMode },
    Decompress { file: &'a str, out: &'a str },
    Step,
    Reset,
    Regs,
    Mem,
    Dump { layer: xlic_model::Layer, file: &'a str },
    Verify(&'a str),
    /// Bring-up checks; `force` probes the PL window even if its checks fail.
    Diag { force: bool },
    Fault(FaultKind),
    Reboot,
    Exit(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError<'a> {
    Unknown(&'a str),
    MissingArgument { command: &'static CommandSpec },
    BadArgument { command: &'static CommandSpec, arg: &'a str },
    TooManyArguments { command: &'static CommandSpec },
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ParseError::Unknown(name) => write!(f, "unknown command '{name}'; type 'help' for the list"),
            ParseError::MissingArgument { command } => {
                write!(f, "'{}' needs an argument; usage: {}", command.name, command.usage)
            }
            ParseError::BadArgument { command, arg } => {
                write!(f, "'{}': cannot use '{arg}'; usage: {}", command.name, command.usage)
            }
            ParseError::TooManyArguments { command } => {
                write!(f, "'{}': too many arguments; usage: {}", command.name, command.usage)
            }
        }
    }
}

/// The optional padding mode after a command's two arguments (default
/// edge), and nothing after it.
fn third_pad<'a>(line: &'a str, command: &'static CommandSpec) -> Result<xlic_model::PadMode, ParseError<'a>> {
    let mut rest = line.split_ascii_whitespace().skip(3);
    let pad = match rest.next() {
        None => xlic_model::PadMode::Edge,
        Some(p) => xlic_model::PadMode::from_name(p).ok_or(ParseError::BadArgument { command, arg: p })?,
    };
    if rest.next().is_some() {
        return Err(ParseError::TooManyArguments { command });
    }
    Ok(pad)
}

/// Parse one trimmed, non-empty command line.
pub fn parse(line: &str) -> Result<Command<'_>, ParseError<'_>> {
    let mut words = line.split_ascii_whitespace();
    let name = words.next().unwrap_or("");
    let command = spec(name).ok_or(ParseError::Unknown(name))?;
    let arg = words.next();
    let arg2 = words.next();
    let too_many = words.next().is_some();
    // Commands with two arguments are matched here; everything else takes
    // at most one.
    match (name, arg, arg2) {
        ("head", Some(file), Some(n)) if !too_many => {
            return n.parse().ok().filter(|&b| b > 0 && b <= 4096).map(|bytes| Command::Head { file, bytes }).ok_or(ParseError::BadArgument { command, arg: n });
        }
        ("load", Some("model"), Some(file)) if !too_many => return Ok(Command::LoadModel(file)),
        ("cp", Some(from), Some(to)) if !too_many => return Ok(Command::Copy { from, to }),
        ("cp", _, None) => return Err(ParseError::MissingArgument { command }),
        ("save", Some("image"), Some(file)) => {
            let mut rest = line.split_ascii_whitespace().skip(3);
            let mut options = crate::image::DEFAULT_ENCODE;
            if let Some(f) = rest.next() {
                options.filter = xlic_png::Filter::from_name(f).ok_or(ParseError::BadArgument { command, arg: f })?;
            }
            if let Some(l) = rest.next() {
                options.level = l.parse().ok().filter(|&l: &u8| l <= 9).ok_or(ParseError::BadArgument { command, arg: l })?;
            }
            if rest.next().is_some() {
                return Err(ParseError::TooManyArguments { command });
            }
            return Ok(Command::SaveImage { file, options });
        }
        ("save", Some("image") | None, None) => return Err(ParseError::MissingArgument { command }),
        ("save", Some(other), _) if other != "image" => return Err(ParseError::BadArgument { command, arg: other }),
        ("load", Some("image"), Some(file)) => return Ok(Command::LoadImage { file, pad: third_pad(line, command)? }),
        ("load", Some("model" | "image"), None) => return Err(ParseError::MissingArgument { command }),
        ("load", Some(other), _) if other != "model" => return Err(ParseError::BadArgument { command, arg: other }),
        ("load", None, _) => return Err(ParseError::MissingArgument { command }),
        ("dump", Some(layer), Some(file)) if !too_many => {
            let layer = xlic_model::Layer::from_name(layer).ok_or(ParseError::BadArgument { command, arg: layer })?;
            return Ok(Command::Dump { layer, file });
        }
        ("dump", _, None) => return Err(ParseError::MissingArgument { command }),
        ("compress", Some(image), Some(out)) => return Ok(Command::Compress { image, out, pad: third_pad(line, command)? }),
        ("decompress", Some(file), Some(out)) if !too_many => return Ok(Command::Decompress { file, out }),
        ("compress" | "decompress", _, None) => return Err(ParseError::MissingArgument { command }),
        _ => {}
    }
    if arg2.is_some() {
        return Err(ParseError::TooManyArguments { command });
    }
    let no_arg = |c: Command<'static>| match arg {
        None => Ok(c),
        Some(_) => Err(ParseError::TooManyArguments { command }),
    };
    match name {
        "help" => match arg {
            Some(a) if spec(a).is_none() => Err(ParseError::BadArgument { command, arg: a }),
            _ => Ok(Command::Help(arg)),
        },
        "info" => no_arg(Command::Info),
        "layers" => no_arg(Command::Layers),
        "card" => no_arg(Command::Card),
        "rm" => arg.map(Command::Remove).ok_or(ParseError::MissingArgument { command }),
        "ls" => Ok(Command::Ls(arg)),
        "head" => match arg {
            None => Err(ParseError::MissingArgument { command }),
            Some(file) => Ok(Command::Head { file, bytes: 256 }),
        },
        "reboot" => no_arg(Command::Reboot),
        "run" => no_arg(Command::Run),
        "step" => no_arg(Command::Step),
        "reset" => no_arg(Command::Reset),
        "regs" => no_arg(Command::Regs),
        "mem" => no_arg(Command::Mem),
        "verify" => arg.map(Command::Verify).ok_or(ParseError::MissingArgument { command }),
        "diag" => match arg {
            None => Ok(Command::Diag { force: false }),
            Some("force") => Ok(Command::Diag { force: true }),
            Some(a) => Err(ParseError::BadArgument { command, arg: a }),
        },
        "fault" => match arg {
            None => Err(ParseError::MissingArgument { command }),
            Some("null") => Ok(Command::Fault(FaultKind::Null)),
            Some("stack") => Ok(Command::Fault(FaultKind::Stack)),
            Some("undef") => Ok(Command::Fault(FaultKind::Undef)),
            Some(a) => Err(ParseError::BadArgument { command, arg: a }),
        },
        "exit" => match arg {
            None => Ok(Command::Exit(0)),
            Some(a) => a.parse().map(Command::Exit).map_err(|_| ParseError::BadArgument { command, arg: a }),
        },
        _ => Err(ParseError::Unknown(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn message(e: ParseError) -> heapless::String<160> {
        let mut s = heapless::String::new();
        write!(s, "{e}").unwrap();
        s
    }

    #[test_case]
    fn parses_every_command() {
        assert_eq!(parse("help"), Ok(Command::Help(None)));
        assert_eq!(parse("help info"), Ok(Command::Help(Some("info"))));
        assert_eq!(parse("info"), Ok(Command::Info));
        assert_eq!(parse("layers"), Ok(Command::Layers));
        assert_eq!(parse("ls"), Ok(Command::Ls(None)));
        assert_eq!(parse("ls IMAGES"), Ok(Command::Ls(Some("IMAGES"))));
        assert_eq!(parse("head A.BIN"), Ok(Command::Head { file: "A.BIN", bytes: 256 }));
        assert_eq!(parse("head A.BIN 16"), Ok(Command::Head { file: "A.BIN", bytes: 16 }));
        assert_eq!(parse("load model MODEL.PKG"), Ok(Command::LoadModel("MODEL.PKG")));
        assert_eq!(parse("cp A.BIN B.BIN"), Ok(Command::Copy { from: "A.BIN", to: "B.BIN" }));
        assert_eq!(parse("rm B.BIN"), Ok(Command::Remove("B.BIN")));
        assert_eq!(parse("save image OUT.PNG"), Ok(Command::SaveImage { file: "OUT.PNG", options: crate::image::DEFAULT_ENCODE }));
        assert_eq!(
            parse("save image OUT.PNG sub 9"),
            Ok(Command::SaveImage { file: "OUT.PNG", options: xlic_png::Options { filter: xlic_png::Filter::Sub, level: 9 } })
        );
        assert!(matches!(parse("save image OUT.PNG paeth 10"), Err(ParseError::BadArgument { arg: "10", .. })));
        assert!(matches!(parse("save image OUT.PNG fancy"), Err(ParseError::BadArgument { arg: "fancy", .. })));
        assert!(matches!(parse("save image OUT.PNG up 1 2"), Err(ParseError::TooManyArguments { .. })));
        assert!(matches!(parse("save model X"), Err(ParseError::BadArgument { .. })));
        assert!(matches!(parse("cp A.BIN"), Err(ParseError::MissingArgument { .. })));
        assert_eq!(parse("reboot"), Ok(Command::Reboot));
        assert_eq!(parse("fault null"), Ok(Command::Fault(FaultKind::Null)));
        assert_eq!(parse("fault   stack"), Ok(Command::Fault(FaultKind::Stack)));
        assert_eq!(parse("fault undef"), Ok(Command::Fault(FaultKind::Undef)));
        assert_eq!(parse("exit"), Ok(Command::Exit(0)));
        assert_eq!(parse("exit 42"), Ok(Command::Exit(42)));
        assert_eq!(parse("exit 255"), Ok(Command::Exit(255)));
        // Exit statuses are 8 bits: 256 would leave as 0.
        assert!(matches!(parse("exit 256"), Err(ParseError::BadArgument { arg: "256", .. })));
        assert_eq!(parse("run"), Ok(Command::Run));
        assert_eq!(parse("step"), Ok(Command::Step));
        assert_eq!(parse("reset"), Ok(Command::Reset));
        assert_eq!(parse("regs"), Ok(Command::Regs));
        assert_eq!(parse("mem"), Ok(Command::Mem));
        assert_eq!(parse("dump ana_2 Y.FM"), Ok(Command::Dump { layer: xlic_model::Layer::Ana2, file: "Y.FM" }));
        assert_eq!(parse("verify REF.LAT"), Ok(Command::Verify("REF.LAT")));
        assert_eq!(parse("diag"), Ok(Command::Diag { force: false }));
        assert_eq!(parse("diag force"), Ok(Command::Diag { force: true }));
        assert!(matches!(parse("diag now"), Err(ParseError::BadArgument { arg: "now", .. })));
        assert!(matches!(parse("dump ana_9 Y.FM"), Err(ParseError::BadArgument { arg: "ana_9", .. })));
        assert!(matches!(parse("dump ana_2"), Err(ParseError::MissingArgument { .. })));
        assert!(matches!(parse("run now"), Err(ParseError::TooManyArguments { .. })));
        assert_eq!(parse("compress A.PNG A.XLC"), Ok(Command::Compress { image: "A.PNG", out: "A.XLC", pad: xlic_model::PadMode::Edge }));
        assert_eq!(parse("compress A.PNG A.XLC zero"), Ok(Command::Compress { image: "A.PNG", out: "A.XLC", pad: xlic_model::PadMode::Zero }));
        assert!(matches!(parse("compress A.PNG A.XLC tiled"), Err(ParseError::BadArgument { arg: "tiled", .. })));
        assert!(matches!(parse("compress A.PNG"), Err(ParseError::MissingArgument { .. })));
        assert!(matches!(parse("compress A.PNG A.XLC zero x"), Err(ParseError::TooManyArguments { .. })));
        assert_eq!(parse("decompress A.XLC R.PNG"), Ok(Command::Decompress { file: "A.XLC", out: "R.PNG" }));
        assert!(matches!(parse("decompress A.XLC"), Err(ParseError::MissingArgument { .. })));
        assert!(matches!(parse("decompress A.XLC R.PNG x"), Err(ParseError::TooManyArguments { .. })));
    }

    #[test_case]
    fn every_table_entry_parses() {
        for c in COMMANDS {
            let r = parse(c.name);
            assert!(
                r.is_ok() || matches!(r, Err(ParseError::MissingArgument { .. })),
                "table entry '{}' is not handled by the parser",
                c.name
            );
        }
    }

    #[test_case]
    fn errors_say_what_to_do() {
        assert_eq!(message(parse("frob").unwrap_err()), "unknown command 'frob'; type 'help' for the list");
        assert_eq!(message(parse("fault").unwrap_err()), "'fault' needs an argument; usage: fault null|stack|undef");
        assert_eq!(message(parse("fault disk").unwrap_err()), "'fault': cannot use 'disk'; usage: fault null|stack|undef");
        assert_eq!(message(parse("info now").unwrap_err()), "'info': too many arguments; usage: info");
        assert_eq!(message(parse("exit -1").unwrap_err()), "'exit': cannot use '-1'; usage: exit [CODE]");
        assert_eq!(message(parse("help frob").unwrap_err()), "'help': cannot use 'frob'; usage: help [COMMAND]");
        assert!(matches!(parse("exit 1 2"), Err(ParseError::TooManyArguments { .. })));
        assert_eq!(message(parse("load").unwrap_err()), "'load' needs an argument; usage: load model|image FILE [edge|zero]");
        assert_eq!(message(parse("load image").unwrap_err()), "'load' needs an argument; usage: load model|image FILE [edge|zero]");
        assert_eq!(message(parse("load weights X").unwrap_err()), "'load': cannot use 'weights'; usage: load model|image FILE [edge|zero]");
        assert_eq!(message(parse("load image A.PNG tiled").unwrap_err()), "'load': cannot use 'tiled'; usage: load model|image FILE [edge|zero]");
        assert_eq!(parse("load image A.PNG zero"), Ok(Command::LoadImage { file: "A.PNG", pad: xlic_model::PadMode::Zero }));
        assert_eq!(parse("load image A.PNG"), Ok(Command::LoadImage { file: "A.PNG", pad: xlic_model::PadMode::Edge }));
        assert_eq!(message(parse("head X 0").unwrap_err()), "'head': cannot use '0'; usage: head FILE [BYTES]");
        assert!(matches!(parse("load model A B"), Err(ParseError::TooManyArguments { .. })));
    }

    #[test_case]
    fn commands_are_case_sensitive() {
        assert_eq!(parse("HELP"), Err(ParseError::Unknown("HELP")));
    }
}
