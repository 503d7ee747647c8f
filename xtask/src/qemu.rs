//! QEMU's ZCU102 model: one launcher for `cargo xtask run`, the cargo
//! runner of `cargo test`/`cargo run` in firmware/, and the host-side tests.
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use crate::cosim::{Bridge, CosimOptions};

/// The firmware's console prompt (firmware/src/console/mod.rs).
pub const PROMPT: &str = "xlic> ";

/// Exception level QEMU starts the A53s at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BootEl {
    /// As the FSBL hands over on the board (`secure=on,virtualization=on`).
    #[value(name = "3")]
    El3,
    /// `virtualization=on`.
    #[value(name = "2")]
    El2,
    /// Plain `xlnx-zcu102`.
    #[value(name = "1")]
    El1,
}

impl BootEl {
    pub const ALL: [BootEl; 3] = [BootEl::El3, BootEl::El2, BootEl::El1];

    pub fn machine(self) -> &'static str {
        match self {
            BootEl::El3 => "xlnx-zcu102,secure=on,virtualization=on",
            BootEl::El2 => "xlnx-zcu102,virtualization=on",
            BootEl::El1 => "xlnx-zcu102",
        }
    }
    pub fn number(self) -> u8 {
        match self {
            BootEl::El3 => 3,
            BootEl::El2 => 2,
            BootEl::El1 => 1,
        }
    }
    pub fn from_number(n: &str) -> Option<Self> {
        BootEl::ALL.into_iter().find(|e| e.number().to_string() == n.trim())
    }
}

/// How to start QEMU.
#[derive(Clone, Debug)]
pub struct Qemu {
    pub elf: PathBuf,
    pub el: BootEl,
    /// Words the firmware reads with SYS_GET_CMDLINE (e.g. `expect-el=3`).
    pub semihost_arg: Option<String>,
    /// File that receives UART1 (the raw defmt stream).
    pub log_raw: Option<PathBuf>,
    /// `-icount shift=N`: deterministic time, 2^N ns per instruction.
    pub icount_shift: Option<u32>,
    /// Console on a terminal: QEMU owns the tty (mux: Ctrl-A x quits).
    pub interactive: bool,
    /// SD card image in the ZCU102's card slot (SD1).
    pub card: Option<PathBuf>,
    /// SD card image on SD0 (no slot on the board; the firmware's tests
    /// drive it so that SD1 stays as the test expects).
    pub card0: Option<PathBuf>,
    /// Co-simulate the accelerator: DDR becomes a shared file served by
    /// the HLS kernel (see `cosim`).
    pub cosim: Option<CosimOptions>,
    /// The shared DDR file (set by the launcher when it starts the bridge).
    ddr: Option<PathBuf>,
}

impl Qemu {
    pub fn new(elf: impl Into<PathBuf>, el: BootEl) -> Self {
        Qemu { elf: elf.into(), el, semihost_arg: None, log_raw: None, icount_shift: None, interactive: false, card: None, card0: None, cosim: None, ddr: None }
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new("qemu-system-aarch64");
        match &self.ddr {
            Some(ddr) => {
                c.args(["-M", &format!("{},memory-backend=ddr", self.el.machine()), "-m", "4G"]);
                c.arg("-object").arg(format!("memory-backend-file,id=ddr,size=4G,mem-path={},share=on", ddr.display()));
            }
            None => {
                c.args(["-M", self.el.machine(), "-m", "4G"]);
            }
        }
        c.args(["-nodefaults", "-display", "none"]);
        // The DisplayPort audio device would open ALSA otherwise.
        c.args(["-audiodev", "none,id=noaudio"]);
        if self.interactive {
            // Ctrl-C goes to the firmware (it cancels the line), not to QEMU.
            c.args(["-chardev", "stdio,id=con,mux=on,signal=off", "-serial", "chardev:con", "-mon", "chardev=con"]);
        } else {
            c.args(["-serial", "stdio", "-monitor", "none"]);
        }
        match &self.log_raw {
            Some(p) => c.arg("-serial").arg(format!("file:{}", p.display())),
            None => c.args(["-serial", "null"]),
        };
        let mut semi = String::from("enable=on,target=native");
        if let Some(a) = &self.semihost_arg {
            semi.push_str(",arg=");
            semi.push_str(a);
        }
        c.args(["-semihosting-config", &semi]);
        if let Some(card) = &self.card0 {
            // index 0 is SD0 (0xFF16_0000).
            c.arg("-drive").arg(format!("if=sd,index=0,file={},format=raw", card.display()));
        }
        if let Some(card) = &self.card {
            // index 1 is SD1 (0xFF17_0000), the board's card slot.
            c.arg("-drive").arg(format!("if=sd,index=1,file={},format=raw", card.display()));
        }
        if let Some(s) = self.icount_shift {
            c.args(["-icount", &format!("shift={s}")]);
        }
        c.arg("-kernel").arg(&self.elf);
        c
    }
}

/// Lines QEMU prints on stderr for devices the firmware does not use.
const STDERR_NOISE: &[&str] = &[
    "ALSA lib",
    "alsa:",
    "audio:",
    "DPDMA client not attached",
    "eFuse write error",
    "audiodev default parameter is deprecated",
    // -nodefaults leaves the on-chip Ethernet MACs without a network.
    "has no peer",
];

/// Forward QEMU's stderr without the known noise.
fn filter_stderr(child: &mut Child) -> Option<thread::JoinHandle<()>> {
    let err = child.stderr.take()?;
    Some(thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if !STDERR_NOISE.iter().any(|n| line.contains(n)) {
                eprintln!("{line}");
            }
        }
    }))
}

/// Start the co-simulation bridge when `q` asks for one (before QEMU, so
/// the registers are there when the firmware first looks).
fn start_bridge(q: &mut Qemu) -> Result<Option<Bridge>> {
    let Some(opts) = &q.cosim else { return Ok(None) };
    let b = Bridge::start(opts)?;
    q.ddr = Some(b.ddr.clone());
    Ok(Some(b))
}

fn spawn(q: &Qemu, stdin: Stdio, stdout: Stdio) -> Result<Child> {
    q.command()
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-aarch64 (run `cargo xtask setup`)")
}

/// Console output collected from a running QEMU.
#[derive(Default)]
struct Output {
    bytes: Vec<u8>,
    closed: bool,
}

/// A firmware session driven through its console, as a person would type.
pub struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<(Mutex<Output>, Condvar)>,
    cursor: usize,
    stderr: Option<thread::JoinHandle<()>>,
    bridge: Option<Bridge>,
}

impl Session {
    pub fn start(q: &Qemu) -> Result<Session> {
        Self::start_echoing(q, false)
    }

    /// Start, copying console output to our stdout as it arrives when `echo`.
    pub fn start_echoing(q: &Qemu, echo: bool) -> Result<Session> {
        let mut q = q.clone();
        let bridge = start_bridge(&mut q)?;
        let mut child = spawn(&q, Stdio::piped(), Stdio::piped())?;
        let stderr = filter_stderr(&mut child);
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new((Mutex::new(Output::default()), Condvar::new()));
        let sink = out.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                let n = stdout.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*sink;
                let mut o = lock.lock().unwrap();
                if n == 0 {
                    o.closed = true;
                    cv.notify_all();
                    return;
                }
                o.bytes.extend_from_slice(&buf[..n]);
                cv.notify_all();
                if echo {
                    let mut so = std::io::stdout().lock();
                    so.write_all(&buf[..n]).ok();
                    so.flush().ok();
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Session { child, stdin, out, cursor: 0, stderr, bridge })
    }

    /// The co-simulation bridge, when the session has one.
    pub fn bridge(&self) -> Option<&Bridge> {
        self.bridge.as_ref()
    }

    /// QEMU closed its console (it exited).
    pub fn is_closed(&self) -> bool {
        self.out.0.lock().unwrap().closed
    }

    /// The console's last output is its prompt.
    pub fn at_prompt(&self) -> bool {
        self.out.0.lock().unwrap().bytes.ends_with(PROMPT.as_bytes())
    }

    /// Everything the console printed so far.
    pub fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.out.0.lock().unwrap().bytes).into_owned()
    }

    /// Wait until `pattern` appears after what was already consumed; return
    /// the text up to and including it.
    pub fn expect(&mut self, pattern: &str, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.out;
        let mut o = lock.lock().unwrap();
        loop {
            let hay = &o.bytes[self.cursor..];
            if let Some(pos) = find(hay, pattern.as_bytes()) {
                let end = self.cursor + pos + pattern.len();
                let text = String::from_utf8_lossy(&o.bytes[self.cursor..end]).into_owned();
                self.cursor = end;
                return Ok(text);
            }
            let now = Instant::now();
            if o.closed || now >= deadline {
                let rest = String::from_utf8_lossy(hay).into_owned();
                let why = if o.closed { "QEMU exited" } else { "timed out" };
                bail!("{why} waiting for {pattern:?} on the console; it printed:\n{rest}");
            }
            o = cv.wait_timeout(o, deadline - now).unwrap().0;
        }
    }

    /// Type raw bytes on the console.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let stdin = self.stdin.as_mut().context("console input already closed")?;
        stdin.write_all(bytes)?;
        stdin.flush()?;
        Ok(())
    }

    /// Type one command line and return what it printed before the next prompt
    /// (without the echoed command line).
    pub fn command(&mut self, line: &str, timeout: Duration) -> Result<String> {
        self.send(format!("{line}\n").as_bytes())?;
        let text = self.expect(PROMPT, timeout)?;
        let body = text.strip_suffix(PROMPT).unwrap_or(&text);
        Ok(body.split_once('\n').map(|(_, rest)| rest).unwrap_or("").replace('\r', ""))
    }

    /// Wait for QEMU to exit; returns its status (the semihosting exit code).
    pub fn wait(mut self, timeout: Duration) -> Result<ExitStatus> {
        drop(self.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait()? {
                // Let the reader drain what QEMU printed last.
                let (lock, cv) = &*self.out;
                let o = lock.lock().unwrap();
                let _ = cv.wait_timeout_while(o, Duration::from_secs(2), |o| !o.closed);
                if let Some(h) = self.stderr.take() {
                    let _ = h.join();
                }
                return Ok(st);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("QEMU did not exit within {timeout:?}; console:\n{}", self.transcript());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decode the raw defmt stream to a text log beside it; returns its path.
pub fn decode_log(elf: &Path, raw: &Path) -> Option<PathBuf> {
    let tool = crate::setup::defmt_print()?;
    let log = raw.with_extension("log");
    let input = std::fs::File::open(raw).ok()?;
    let output = std::fs::File::create(&log).ok()?;
    let st = Command::new(tool).arg("-e").arg(elf).stdin(input).stdout(output).stderr(Stdio::null()).status().ok()?;
    st.success().then_some(log)
}

/// Run the firmware with the console on this process's stdio. On a terminal
/// QEMU owns it; otherwise (a pipe or file) input is forwarded once the
/// firmware shows its first prompt, as a person would wait for it, and when
/// input ends and the console is idle at its prompt, QEMU is stopped.
/// Returns the exit code (QEMU's, i.e. the firmware's semihosting code).
pub fn run_console(mut q: Qemu, timeout: Option<Duration>) -> Result<i32> {
    let raw = crate::work_dir().join(format!(
        "{}.defmt",
        q.elf.file_name().and_then(|n| n.to_str()).unwrap_or("firmware")
    ));
    let _ = std::fs::remove_file(&raw);
    q.log_raw = Some(raw.clone());
    let code = if std::io::stdin().is_terminal() && timeout.is_none() {
        q.interactive = true;
        eprintln!("[xtask] QEMU console: type 'help'; 'exit' or Ctrl-A x leaves");
        let _bridge = start_bridge(&mut q)?;
        let mut child = spawn(&q, Stdio::inherit(), Stdio::inherit())?;
        let h = filter_stderr(&mut child);
        let st = child.wait()?;
        if let Some(h) = h {
            let _ = h.join();
        }
        st.code().unwrap_or(1)
    } else {
        run_piped(&q, timeout)?
    };
    if let Some(log) = decode_log(&q.elf, &raw) {
        eprintln!("[xtask] defmt log (UART1): {}", log.display());
    }
    Ok(code)
}

fn run_piped(q: &Qemu, timeout: Option<Duration>) -> Result<i32> {
    let mut s = Session::start_echoing(q, true)?;
    let deadline = timeout.map(|t| Instant::now() + t);
    let left = || deadline.map(|d| d.saturating_duration_since(Instant::now())).unwrap_or(Duration::from_secs(1 << 40));
    // A test binary never prints a prompt: then this waits for QEMU to exit.
    if s.expect(PROMPT, left()).is_ok() {
        // Forward input as it arrives (a pipe may be a person typing into
        // `cat`); keep QEMU's stdin open after our input ends.
        let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(mut qin) = s.stdin.take() {
            let ended = ended.clone();
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut stdin = std::io::stdin().lock();
                while let Ok(n @ 1..) = stdin.read(&mut buf) {
                    if qin.write_all(&buf[..n]).and_then(|_| qin.flush()).is_err() {
                        break;
                    }
                }
                ended.store(true, std::sync::atomic::Ordering::SeqCst);
                // Hold QEMU's stdin open until the process ends.
                loop {
                    thread::park();
                }
            });
        }
        // Run until the firmware leaves (e.g. `exit`), or our input has
        // ended and the console has sat idle at its prompt.
        while !s.is_closed() && !left().is_zero() {
            let idle = s.expect(PROMPT, Duration::from_millis(1500).min(left())).is_err();
            if idle && s.at_prompt() && ended.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!("\n[xtask] input ended and the console is idle at its prompt: stopping QEMU");
                return Ok(0);
            }
        }
    }
    match s.wait(left()) {
        Ok(st) => Ok(st.code().unwrap_or(1)),
        Err(_) => {
            eprintln!("\n[xtask] error: QEMU did not finish within {:?}", timeout.unwrap_or_default());
            Ok(124)
        }
    }
}
