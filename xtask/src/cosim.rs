//! The co-simulation bridge (hls/cosim/xlic_cosim.cpp): the HLS kernel
//! compiled for the host, serving the accelerator's registers inside
//! QEMU's shared-memory DDR. The launcher creates the DDR file, starts the
//! bridge before QEMU, and stops both and removes the file afterwards.
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;

/// Size of QEMU's DDR (`-m 4G`: 2 GiB low + 2 GiB high on the ZCU102).
pub const DDR_BYTES: u64 = 4 << 30;

/// A fault the bridge injects, for tests of the firmware's error paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Take the start and never finish.
    Never,
    /// Finish this many milliseconds late.
    Late(u32),
    /// Flip one output value.
    Corrupt,
}

impl Fault {
    fn arg(&self) -> String {
        match self {
            Fault::Never => "never".into(),
            Fault::Late(ms) => format!("late:{ms}"),
            Fault::Corrupt => "corrupt".into(),
        }
    }
}

/// How to run the bridge.
#[derive(Clone, Debug, Default)]
pub struct CosimOptions {
    /// Inject this fault...
    pub fault: Option<Fault>,
    /// ...at this start only (1-based; None: every start).
    pub fault_at: Option<u32>,
    /// How many times slower than the modelled IP the firmware lets the
    /// C-simulation be (the bridge's default: 1000).
    pub time_scale: Option<u32>,
    /// Print the bridge's per-layer lines on stderr as they come.
    pub echo: bool,
    /// Build the bridge from this copy of hls/ (`sources_for`: the kernel
    /// built for another configuration than the firmware's) instead of
    /// hls/ itself.
    pub hls: Option<PathBuf>,
}

/// A copy of hls/'s kernel and bridge sources with xlic_config.h written
/// for `hw` and `board` (as `dse --write` writes it), under the work
/// directory's `cosim-NAME/`: the IP of another configuration.
pub fn sources_for(name: &str, hw: &xlic_model::HwLimits, board: &xlic_model::device::Board) -> Result<PathBuf> {
    let hls = crate::repo_root().join("hls");
    let src = crate::work_dir().join(format!("cosim-{name}"));
    std::fs::create_dir_all(src.join("cosim"))?;
    for f in ["xlic_layer.cpp", "xlic_layer.h", "xxlic_layer_hw.h", "cosim/xlic_cosim.cpp", "cosim/xlic_cosim.h"] {
        std::fs::copy(hls.join(f), src.join(f)).with_context(|| format!("cannot copy {f}"))?;
    }
    let text = std::fs::read_to_string(hls.join("xlic_config.h"))?;
    let new = crate::dse::config_header(&text, hw, board, board.clock_hz)?;
    if std::fs::read_to_string(src.join("xlic_config.h")).ok().as_deref() != Some(new.as_str()) {
        std::fs::write(src.join("xlic_config.h"), new)?;
    }
    Ok(src)
}

/// Compile the bridge with the kernel (g++ -O3, the same flags as the
/// testbench); rebuilt only when a source is newer than the binary.
pub fn build() -> Result<PathBuf> {
    build_from(&crate::repo_root().join("hls"), &crate::work_dir().join("cosim"))
}

/// The bridge from the sources in `hls` (hls/ or a `sources_for` copy),
/// built into `dir`.
pub fn build_from(hls: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let exe = dir.join("xlic_cosim");
    let sources = [
        hls.join("cosim/xlic_cosim.cpp"),
        hls.join("cosim/xlic_cosim.h"),
        hls.join("xlic_layer.cpp"),
        hls.join("xlic_layer.h"),
        hls.join("xlic_config.h"),
        hls.join("xxlic_layer_hw.h"),
    ];
    let mtime = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let Some(built) = mtime(&exe) {
        if sources.iter().all(|s| mtime(s).is_some_and(|t| t <= built)) {
            return Ok(exe);
        }
    }
    let tmp = dir.join("xlic_cosim.tmp");
    let st = crate::csim::gxx()?
        .args(["-pthread", "-o"])
        .arg(&tmp)
        .arg(&sources[0])
        .arg(&sources[2])
        .status()
        .context("cannot run g++ (run `cargo xtask setup`)")?;
    if !st.success() {
        bail!("the co-simulation bridge does not compile");
    }
    std::fs::rename(&tmp, &exe)?;
    Ok(exe)
}

/// A running bridge and its DDR file; both go away on drop.
pub struct Bridge {
    child: Child,
    /// The shared DDR file QEMU must map.
    pub ddr: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Bridge {
    /// Create a fresh DDR file, start the bridge on it and wait until it
    /// has published its registers.
    pub fn start(opts: &CosimOptions) -> Result<Bridge> {
        let exe = match &opts.hls {
            Some(src) => build_from(src, &src.join("build"))?,
            None => build()?,
        };
        static SERIAL: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ddr = PathBuf::from(format!("/dev/shm/xlic-ddr-{}-{n}", std::process::id()));
        // Sparse: tmpfs only spends memory on the pages QEMU touches.
        let f = std::fs::File::create(&ddr).with_context(|| format!("cannot create {}", ddr.display()))?;
        f.set_len(DDR_BYTES)?;
        drop(f);
        let mut cmd = Command::new(exe);
        cmd.arg(&ddr);
        if let Some(fault) = &opts.fault {
            cmd.args(["--fault", &fault.arg()]);
        }
        if let Some(t) = opts.time_scale {
            cmd.args(["--time-scale", &t.to_string()]);
        }
        if let Some(at) = opts.fault_at {
            cmd.args(["--fault-at", &at.to_string()]);
        }
        let mut child = match cmd.stdout(Stdio::piped()).stdin(Stdio::null()).spawn() {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&ddr);
                return Err(e).context("cannot start the co-simulation bridge");
            }
        };
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first)?;
        let mut bridge = Bridge { child, ddr, lines: Arc::new(Mutex::new(Vec::new())) };
        if first.trim() != "ready" {
            bridge.stop();
            bail!("the co-simulation bridge did not come up (it said {first:?})");
        }
        let lines = bridge.lines.clone();
        let echo = opts.echo;
        thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[cosim] {line}");
                }
                lines.lock().unwrap().push(line);
            }
        });
        Ok(bridge)
    }

    /// The lines the bridge has printed (one per layer run, faults, resets).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Stop the bridge (it prints its totals) and remove the DDR file.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM: the bridge finishes its line and exits.
            let _ = Command::new("kill").arg(self.child.id().to_string()).status();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                thread::sleep(std::time::Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.ddr);
    }

    /// Seconds the kernel computed, from the bridge's per-layer lines.
    pub fn compute_seconds(&self) -> f64 {
        self.lines().iter().filter_map(|l| l.rsplit_once(": ")?.1.split(" s").next()?.parse::<f64>().ok()).sum()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop();
    }
}
