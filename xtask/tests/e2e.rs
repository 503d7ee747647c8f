//! The product end to end under QEMU: the firmware loads the model and an
//! image from a real FAT card, drives the accelerator (the HLS kernel,
//! co-simulated) layer by layer, and writes its results to the card; the
//! results are checked against the host's integer reference (which the
//! C-simulation testbench also matches bit for bit) and the float model.
//! Also the error paths: a hung accelerator, a corrupted output, bad
//! inputs, and the boot script.
use std::path::{Path, PathBuf};
use std::time::Duration;
use xlic_model::{Layer, PadMode};
use xlic_ref::{psnr, Rgb8};
use xtask::cosim::{CosimOptions, Fault};
use xtask::e2e::{self, IMAGE_FILE, MODEL_FILE, RECON_FILE};
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

mod common;
use common::{data, image, int_model, one_at_a_time, HW};

const REPLY: Duration = Duration::from_secs(300);

fn dir(name: &str) -> PathBuf {
    common::scratch("xlic-e2e", name)
}

fn package() -> &'static [u8] {
    common::package(PadMode::Edge)
}

fn boot(card: &Path, cosim: Option<CosimOptions>) -> Session {
    let mut q = Qemu::new(xtask::firmware::elf_for_tests(), BootEl::El3);
    q.card = Some(card.to_path_buf());
    q.cosim = cosim;
    let mut s = Session::start(&q).unwrap();
    s.expect(PROMPT, Duration::from_secs(60)).unwrap();
    s
}

fn ok(s: &mut Session, cmd: &str) -> String {
    let out = s.command(cmd, REPLY).unwrap();
    assert!(!out.contains("error:"), "`{cmd}` failed:\n{out}");
    out
}

fn exit(mut s: Session) {
    s.send(b"exit 0\n").unwrap();
    assert!(s.wait(Duration::from_secs(60)).unwrap().success());
}

#[test]
fn every_image_through_the_whole_path_is_bit_exact_and_as_good_as_float() {
    let _one = one_at_a_time();
    let weights = xlic_ref::FloatWeights::load(&xlic_ref::data::model_dir(&data())).unwrap();
    let paths = xlic_ref::data::list_pngs(&xlic_ref::data::images_dir(&data())).unwrap();
    assert!(paths.len() >= 5, "expected the shared test images, found {paths:?}");
    let mut failures = Vec::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let png = std::fs::read(&path).unwrap();
        let img = Rgb8::load_png(&path).unwrap().0;
        let run = e2e::codec_in_qemu(&xtask::firmware::elf_for_tests(), &dir(&name), package(), &png, PadMode::Edge, false).unwrap();
        let (recon, _) = Rgb8::decode_png(&run.recon_png, Path::new(RECON_FILE)).unwrap();
        let reference = xlic_quant::pipeline::codec(int_model(PadMode::Edge), &img, PadMode::Edge).unwrap();
        let float = xlic_ref::float::codec(&weights, &img, PadMode::Edge, true);
        let (p_fw, p_float) = (psnr(&img, &recon), psnr(&img, &float.recon));
        eprintln!("{name}: {}x{} firmware {p_fw:.3} dB, float {p_float:.3} dB, {:.1} s ({:.1} s in the kernel)", img.width, img.height, run.wall.as_secs_f64(), run.kernel_seconds);
        // Every layer's checksum as the firmware printed it.
        let crcs: Vec<u32> = run.layers.iter().map(|l| l.crc).collect();
        let want: Vec<u32> = reference.outputs.iter().map(|o| xlic_model::crc32::crc32(&bytes(o))).collect();
        if crcs != want {
            failures.push(format!("{name}: layer CRCs {crcs:08x?}, reference {want:08x?}"));
        }
        if recon.data != reference.recon.data || (recon.width, recon.height) != (img.width, img.height) {
            failures.push(format!("{name}: RECON.PNG differs from the integer reference"));
        }
        if run.latent != xtask::codec::int_latent_file(&reference) {
            failures.push(format!("{name}: LATENT.BIN differs from the integer reference"));
        }
        // RECON.XLC, coded on the A53, is the host's file byte for byte,
        // and decodes on the host to the analysis output.
        let host = xtask::xlc::compress(int_model(PadMode::Edge), &img, PadMode::Edge).unwrap();
        if run.recon_xlc != host.file {
            failures.push(format!("{name}: RECON.XLC ({} bytes) differs from the host's .XLC ({} bytes)", run.recon_xlc.len(), host.file.len()));
        }
        match xtask::xlc::decompress(int_model(PadMode::Edge), &run.recon_xlc) {
            Ok(d) if d.latent == reference.outputs[Layer::LATENT.index()] && d.image.data == reference.recon.data => {}
            Ok(_) => failures.push(format!("{name}: RECON.XLC decodes on the host to another latent or image")),
            Err(e) => failures.push(format!("{name}: RECON.XLC does not decode on the host: {e:#}")),
        }
        if (p_fw - p_float).abs() > 0.05 {
            failures.push(format!("{name}: PSNR {p_fw:.3} dB is not within 0.05 dB of the float model's {p_float:.3} dB"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn bytes(v: &[i16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Ten `step`s, each layer's checksum the reference's; one layer answers
/// late (within its limit) and the pipeline neither notices nor minds.
#[test]
fn stepping_matches_the_reference_layer_by_layer() {
    let _one = one_at_a_time();
    let (png, img) = image("chelsea.png");
    let reference = xlic_quant::pipeline::codec(int_model(PadMode::Edge), &img, PadMode::Edge).unwrap();
    let card = dir("step").join("card.img");
    e2e::make_card(&card, &[(MODEL_FILE.into(), package().to_vec()), (IMAGE_FILE.into(), png)]).unwrap();
    let late_ms = 1500.0;
    let mut s = boot(&card, Some(CosimOptions { fault: Some(Fault::Late(late_ms as u32)), fault_at: Some(4), ..Default::default() }));
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    ok(&mut s, &format!("load image {IMAGE_FILE}"));
    for l in Layer::ALL {
        let out = ok(&mut s, "step");
        let lines = e2e::layer_lines(&out);
        assert_eq!(lines.len(), 1, "{out}");
        assert_eq!(lines[0].name, l.name(), "{out}");
        let want = xlic_model::crc32::crc32(&bytes(&reference.outputs[l.index()]));
        assert_eq!(lines[0].crc, want, "{}: CRC differs from the reference\n{out}", l.name());
        assert!(out.contains("tiles ") && out.contains("output min "), "{out}");
        if l == Layer::Gdn1 {
            assert!(lines[0].ms >= late_ms, "gdn_1 finished late on purpose: {out}");
        }
    }
    let again = s.command("step", REPLY).unwrap();
    assert!(again.contains("error: all 10 layers have run; 'reset' starts over at ana_0"), "{again}");
    exit(s);
}

/// The accelerator takes the start and never finishes: the firmware gives
/// up after its modelled limit, says so, is back at its prompt, has
/// written nothing, and `reset` brings the accelerator back.
#[test]
fn a_hung_accelerator_times_out_and_the_card_is_unchanged() {
    let _one = one_at_a_time();
    let (png, _) = image("chelsea.png");
    let card = dir("hang").join("card.img");
    e2e::make_card(&card, &[(MODEL_FILE.into(), package().to_vec()), (IMAGE_FILE.into(), png)]).unwrap();
    let before = std::fs::read(&card).unwrap();
    // The bridge's default time scale: C-simulation runs several hundred
    // times slower than the modelled IP (hls/README.md), and the step
    // after `reset` must finish within its limit on a loaded machine too.
    let cosim = CosimOptions { fault: Some(Fault::Never), fault_at: Some(1), time_scale: Some(1000), ..Default::default() };
    let mut s = boot(&card, Some(cosim));
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    ok(&mut s, &format!("load image {IMAGE_FILE}"));
    let out = s.command("run", REPLY).unwrap();
    assert!(out.contains("error: ana_0: the accelerator did not finish within"), "{out}");
    assert!(out.contains("still busy") && out.contains("nothing was written"), "{out}");
    assert!(!out.contains(RECON_FILE), "{out}");
    let regs = ok(&mut s, "regs");
    assert!(regs.contains("idle 0"), "{regs}");
    let again = s.command("step", REPLY).unwrap();
    assert!(again.contains("error: ana_0: the accelerator is not idle"), "{again}");
    let reset = ok(&mut s, "reset");
    assert!(reset.contains("accelerator idle"), "{reset}");
    let step = ok(&mut s, "step");
    assert_eq!(e2e::layer_lines(&step).len(), 1, "after reset the next start runs: {step}");
    exit(s);
    assert!(std::fs::read(&card).unwrap() == before, "the card changed");
}

/// The IP is the HLS kernel built for another configuration than the
/// firmware (half the pixel lanes): whether it refuses the tile the
/// firmware planned or computes it with other buffers, its output is not
/// what the firmware expects. The IP's status word says so: the firmware reports
/// the mismatch at the first layer at once (no timeout, no silent empty
/// output), writes nothing, and is back at its prompt.
#[test]
fn an_accelerator_of_another_configuration_is_reported_not_trusted() {
    let _one = one_at_a_time();
    let other = xlic_model::HwLimits { pox: HW.pox / 2, ..HW };
    assert!(other.check().is_ok() && other.config_id() != HW.config_id());
    let src = xtask::cosim::sources_for("other-config", &other, &accel_regs::BOARD).unwrap();
    let (png, _) = image("chelsea.png");
    let card = dir("other-config").join("card.img");
    e2e::make_card(&card, &[(MODEL_FILE.into(), package().to_vec()), (IMAGE_FILE.into(), png)]).unwrap();
    let before = std::fs::read(&card).unwrap();
    let cosim = CosimOptions { hls: Some(src), ..Default::default() };
    let mut s = boot(&card, Some(cosim));
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    ok(&mut s, &format!("load image {IMAGE_FILE}"));
    let t = std::time::Instant::now();
    let out = s.command("run", REPLY).unwrap();
    assert!(out.contains("error: ana_0: the accelerator was built for another configuration"), "{out}");
    assert!(out.contains(&format!("pox {}", other.pox)) && out.contains(&format!("pox {}", HW.pox)), "both configurations named: {out}");
    assert!(!out.contains("did not finish") && !out.contains(RECON_FILE), "{out}");
    assert!(t.elapsed() < Duration::from_secs(120), "reported at once, not after a timeout");
    // The bridge ran exactly one start (ana_0): nothing after the
    // mismatch was started.
    let lines = s.bridge().unwrap().lines();
    assert_eq!(lines.iter().filter(|l| l.starts_with("start ")).count(), 1, "{lines:?}");
    let regs = ok(&mut s, "regs");
    assert!(regs.contains("ap_return"), "{regs}");
    exit(s);
    assert!(std::fs::read(&card).unwrap() == before, "the card changed");
}

/// One output value flipped by the accelerator: `run` cannot know, but
/// `verify` against the reference latent on the card finds it.
#[test]
fn verify_finds_a_corrupted_latent() {
    let _one = one_at_a_time();
    let (png, img) = image("chelsea.png");
    let reference = xlic_quant::pipeline::codec(int_model(PadMode::Edge), &img, PadMode::Edge).unwrap();
    let card = dir("corrupt").join("card.img");
    let files = [(MODEL_FILE.into(), package().to_vec()), (IMAGE_FILE.into(), png), ("REF.LAT".to_string(), xtask::codec::int_latent_file(&reference))];
    e2e::make_card(&card, &files).unwrap();
    let ana2_start = Layer::Ana2.index() as u32 + 1;
    let mut s = boot(&card, Some(CosimOptions { fault: Some(Fault::Corrupt), fault_at: Some(ana2_start), ..Default::default() }));
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    ok(&mut s, &format!("load image {IMAGE_FILE}"));
    for _ in 0..=Layer::Ana2.index() {
        ok(&mut s, "step");
    }
    let v = s.command("verify REF.LAT", REPLY).unwrap();
    let d = reference.geometry.latent();
    assert!(v.contains(&format!("error: REF.LAT: ana_2 output differs in 1 of {} values", 128 * d.w * d.h)), "{v}");
    ok(&mut s, "dump ana_2 Y.FM");
    exit(s);
    // The dump is the corrupted map, as the firmware saw it: one value off.
    let dump = xlic_cardimg::read(&card, "Y.FM").unwrap();
    let h = xlic_model::fmfile::FmHeader::parse(&dump).unwrap();
    assert_eq!(h.layer, Layer::Ana2);
    let want = bytes(&reference.outputs[Layer::Ana2.index()]);
    let diff = dump[xlic_model::fmfile::HEADER_BYTES..].chunks(2).zip(want.chunks(2)).filter(|(a, b)| a != b).count();
    assert_eq!(diff, 1);
}

/// Inputs a person gets wrong: each gets its own message, the prompt
/// comes back, and the card is not touched.
#[test]
fn bad_inputs_get_clear_messages_and_nothing_is_written() {
    let _one = one_at_a_time();
    let (png, _) = image("chelsea.png");
    let mut old = package().to_vec();
    old[8] = 9; // format version
    let mut bad_crc = package().to_vec();
    bad_crc[1000] ^= 1; // inside ana_0's weights (they start after the 544-byte header)
    let wide = {
        let mut b = Vec::new();
        let mut e = png::Encoder::new(&mut b, 5000, 16);
        e.set_color(png::ColorType::Rgb);
        let mut w = e.write_header().unwrap();
        w.write_image_data(&vec![0u8; 5000 * 16 * 3]).unwrap();
        w.finish().unwrap();
        b
    };
    // A package for another configuration (the other pof: a package's
    // weights and parameters follow it; the header says which).
    let other_pof = if HW.pof == 8 { 16 } else { 8 };
    let other_hw = xlic_model::HwLimits { pof: other_pof, ..HW };
    let other = xlic_model::package::write(
        &other_hw,
        0,
        &xlic_model::LAYERS
            .iter()
            .map(|l| {
                let ws = xlic_model::layout::WeightShape::of(l, &other_hw);
                let p = if l.op.is_normaliser() { xlic_model::quant::ChannelParams::PAD_NORM } else { xlic_model::quant::ChannelParams::PAD_CONV };
                (vec![0i16; ws.len()], vec![p; ws.cout_padded()])
            })
            .collect::<Vec<_>>(),
    );
    let files = [
        (MODEL_FILE.into(), package().to_vec()),
        ("OTHER.PKG".into(), other),
        ("OLD.PKG".into(), old),
        ("BADCRC.PKG".into(), bad_crc),
        (RECON_FILE.into(), png.clone()),
        ("IMG.PNG".into(), png.clone()),
        ("TRUNC.PNG".into(), png[..png.len() / 2].to_vec()),
        ("WIDE.PNG".into(), wide),
        // Larger than the firmware's 32 MiB image-file buffer.
        ("HUGE.PNG".into(), vec![0u8; 33 << 20]),
    ];
    let card = dir("bad").join("card.img");
    e2e::make_card(&card, &files).unwrap();
    // RECON.PNG read-only: 'run' cannot replace it.
    let mut c = xlic_cardimg::edit::Card::open(&card).unwrap();
    let e = c.find(RECON_FILE).unwrap();
    c.bytes[e.offset + 11] |= 0x01;
    c.save().unwrap();
    let before = std::fs::read(&card).unwrap();
    let mut s = boot(&card, Some(CosimOptions::default()));
    let expect = |s: &mut Session, cmd: &str, want: &str| {
        let out = s.command(cmd, REPLY).unwrap();
        assert!(out.contains(want), "`{cmd}` should say {want:?}:\n{out}");
    };
    expect(&mut s, "run", "error: no model loaded (use 'load model FILE' first)");
    expect(&mut s, "load model OLD.PKG", "format version 9");
    expect(
        &mut s,
        "load model OTHER.PKG",
        &format!("error: load model OTHER.PKG: model package was built for other accelerator limits: pof {other_pof} in the package, {} in the accelerator;", HW.pof),
    );
    expect(&mut s, "load model BADCRC.PKG", "error: load model BADCRC.PKG: model package ana_0 weights are corrupt (CRC mismatch)");
    expect(&mut s, "load model NOPE.PKG", "error: load model NOPE.PKG:");
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    expect(&mut s, "step", "error: no image loaded (use 'load image FILE' first)");
    expect(&mut s, "load image TRUNC.PNG", "error: load image TRUNC.PNG: not a valid PNG");
    expect(&mut s, "load image WIDE.PNG", "image 5000x16 is too large: the accelerator supports sides up to 4096 pixels");
    expect(&mut s, "load image HUGE.PNG", &format!("error: load image HUGE.PNG: file is {} bytes; its buffer holds", 33 << 20));
    ok(&mut s, &format!("load image {RECON_FILE}"));
    expect(&mut s, "run", "error: RECON.PNG is a loaded input");
    // The same file by another path is the same input.
    ok(&mut s, "load image /RECON.PNG");
    expect(&mut s, "run", "error: RECON.PNG is a loaded input (/RECON.PNG)");
    ok(&mut s, "load image //recon.png");
    expect(&mut s, "run", "error: RECON.PNG is a loaded input (//RECON.PNG)");
    // An output that cannot be written is named before any layer runs.
    ok(&mut s, "load image IMG.PNG");
    let out = s.command("run", REPLY).unwrap();
    assert!(out.contains("error: RECON.PNG: the file is read-only on the card; 'run' writes its result there, so nothing was run"), "{out}");
    assert!(!out.contains("running ") && !out.contains("ana_0"), "layers ran before the outputs were checked:\n{out}");
    expect(&mut s, "dump ana_0 X.FM", "error: ana_0's output is not in memory");
    exit(s);
    assert!(std::fs::read(&card).unwrap() == before, "the card changed");
}

/// AUTORUN.TXT runs at boot as if typed, and stops at the first failure.
#[test]
fn autorun_runs_the_card_script_at_boot() {
    let _one = one_at_a_time();
    let card = dir("autorun").join("card.img");
    let script = "# headless run\nlayers\n\nload model NOPE.PKG\nexit 7\n";
    e2e::make_card(&card, &[("AUTORUN.TXT".into(), script.as_bytes().to_vec())]).unwrap();
    let mut q = Qemu::new(xtask::firmware::elf_for_tests(), BootEl::El3);
    q.card = Some(card);
    let mut s = Session::start(&q).unwrap();
    s.expect("autorun: stopped at line 4 of AUTORUN.TXT", Duration::from_secs(60)).unwrap();
    s.expect(PROMPT, Duration::from_secs(10)).unwrap();
    let text = s.transcript();
    assert!(text.contains("autorun: AUTORUN.TXT (5 lines)"), "{text}");
    assert!(text.contains("xlic> layers") && text.contains("syn_2"), "{text}");
    assert!(text.contains("xlic> load model NOPE.PKG") && text.contains("error: load model NOPE.PKG:"), "{text}");
    assert!(!text.contains("xlic> exit 7"), "the script stopped before exit: {text}");
    exit(s);

    let card = dir("autorun-exit").join("card.img");
    e2e::make_card(&card, &[("AUTORUN.TXT".into(), b"info\nexit 7\n".to_vec())]).unwrap();
    let mut q = Qemu::new(xtask::firmware::elf_for_tests(), BootEl::El3);
    q.card = Some(card);
    let s = Session::start(&q).unwrap();
    assert_eq!(s.wait(Duration::from_secs(60)).unwrap().code(), Some(7), "autorun's `exit 7` ends QEMU with 7");
}
