//! What the QEMU test files share: the data folder, the default model
//! package, images, scratch folders and the one-session-at-a-time lock.
//! Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use xlic_model::PadMode;
use xlic_quant::IntModel;
use xlic_ref::Rgb8;

pub const HW: xlic_model::HwLimits = accel_regs::HW_LIMITS;

/// QEMU (four guest cores are four host threads) and the co-simulation
/// bridge each keep a host core busy: one session at a time within a test
/// file, so that guest timing (the timeouts under test) is not skewed by
/// another session. Test files run one after another.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shared data folder (`XLIC_DATA` or `../shared/data`).
pub fn data() -> PathBuf {
    xlic_ref::data::default_dir()
}

/// The package the demo uses for `pad`: calibrated on every shared image.
pub fn package(pad: PadMode) -> &'static [u8] {
    static EDGE: OnceLock<Vec<u8>> = OnceLock::new();
    static ZERO: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if pad == PadMode::Edge { &EDGE } else { &ZERO };
    cell.get_or_init(|| xtask::pkgcache::default_package(&data(), pad).unwrap())
}

/// The integer model of `package(pad)`, as the accelerator's limits see it.
pub fn int_model(pad: PadMode) -> &'static IntModel {
    static EDGE: OnceLock<IntModel> = OnceLock::new();
    static ZERO: OnceLock<IntModel> = OnceLock::new();
    let cell = if pad == PadMode::Edge { &EDGE } else { &ZERO };
    cell.get_or_init(|| IntModel::from_package(package(pad), &HW).unwrap())
}

/// A shared image: its PNG bytes and its pixels.
pub fn image(name: &str) -> (Vec<u8>, Rgb8) {
    let p = xlic_ref::data::images_dir(&data()).join(name);
    (std::fs::read(&p).unwrap(), Rgb8::load_png(&p).unwrap().0)
}

/// A folder `name` under this test process's scratch folder
/// (`$TMPDIR/<prefix>-<pid>`): folders of test processes that have ended
/// are swept when the next one starts, so runs do not fill /tmp.
pub fn scratch(prefix: &'static str, name: &str) -> PathBuf {
    static ROOT: OnceLock<(&'static str, PathBuf)> = OnceLock::new();
    let (p, root) = ROOT.get_or_init(|| (prefix, xlic_cardimg::scratch_dir(prefix)));
    assert_eq!(*p, prefix, "one scratch prefix per test file");
    let d = root.join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}
