//! The firmware's NEON engine end to end under QEMU, with no co-simulation
//! (plain DDR, as on a board without a bitstream): `run --cpu` on a shared
//! image gives every layer's CRC, RECON.PNG and LATENT.BIN exactly as the
//! host's integer reference (which the HLS kernel's C-simulation also
//! matches bit for bit), `step --cpu=N` does layer by layer, and `run`
//! without an accelerator says so and points at `--cpu`.
use std::path::{Path, PathBuf};
use std::time::Duration;
use xlic_model::{Layer, PadMode};
use xlic_ref::Rgb8;
use xtask::e2e::{self, Engine, IMAGE_FILE, MODEL_FILE, RECON_FILE};
use xtask::qemu::{BootEl, Qemu, Session, PROMPT};

mod common;
use common::{data, int_model, one_at_a_time};

const REPLY: Duration = Duration::from_secs(600);

fn package() -> &'static [u8] {
    common::package(PadMode::Edge)
}

fn reference(img: &Rgb8) -> xlic_quant::IntRun {
    xlic_quant::pipeline::codec(int_model(PadMode::Edge), img, PadMode::Edge).unwrap()
}

fn crcs(run: &xlic_quant::IntRun) -> Vec<u32> {
    run.outputs.iter().map(|o| xlic_model::crc32::crc32(&o.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())).collect()
}

fn scratch(name: &str) -> PathBuf {
    common::scratch("xlic-cpu", name)
}

/// Every shared image: the same layer CRCs as the host's integer
/// reference, which the co-simulated accelerator matches on the same images
/// (tests/e2e.rs), so the CPU engine and the accelerator agree on all of
/// them.
#[test]
fn run_cpu_on_every_shared_image_is_bit_exact_with_the_reference_without_cosimulation() {
    let _one = one_at_a_time();
    let paths = xlic_ref::data::list_pngs(&xlic_ref::data::images_dir(&data())).unwrap();
    assert!(paths.len() >= 5, "expected the shared test images, found {paths:?}");
    let mut failures = Vec::new();
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let png = std::fs::read(&path).unwrap();
        let img = Rgb8::load_png(&path).unwrap().0;
        let run = e2e::codec_in_qemu_on(&xtask::firmware::elf_for_tests(), &scratch(&name), package(), &png, PadMode::Edge, false, Engine::Cpu(4)).unwrap();
        eprintln!("{name}: {}x{} in {:.1} s on 4 cores", img.width, img.height, run.wall.as_secs_f64());
        assert!(run.transcript.contains("on 4 A53 cores (NEON integer engine)"), "{}", run.transcript);
        assert_eq!(run.kernel_seconds, 0.0, "no co-simulation ran");
        // Every layer line shows the accelerator's modelled time beside the CPU's.
        assert_eq!(run.transcript.matches("[FPGA model ").count(), 10, "{}", run.transcript);
        let want = reference(&img);
        let got: Vec<u32> = run.layers.iter().map(|l| l.crc).collect();
        if got != crcs(&want) {
            failures.push(format!("{name}: layer CRCs {got:08x?}, reference {:08x?}", crcs(&want)));
        }
        let (recon, _) = Rgb8::decode_png(&run.recon_png, Path::new(RECON_FILE)).unwrap();
        if recon.data != want.recon.data {
            failures.push(format!("{name}: RECON.PNG differs from the integer reference"));
        }
        if run.latent != xtask::codec::int_latent_file(&want) {
            failures.push(format!("{name}: LATENT.BIN differs from the integer reference"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn step_cpu_goes_layer_by_layer_and_run_without_an_accelerator_offers_it() {
    let _one = one_at_a_time();
    // A crop keeps the debug firmware quick; its sides are not multiples
    // of 16 (edge padding extends them).
    let path = xlic_ref::data::images_dir(&data()).join("coffee.png");
    let img = Rgb8::load_png(&path).unwrap().0.crop(100, 70);
    let want = reference(&img);
    let card = scratch("step").join("card.img");
    e2e::make_card(&card, &[(MODEL_FILE.into(), package().to_vec()), (IMAGE_FILE.into(), img.encode_png())]).unwrap();
    let mut q = Qemu::new(xtask::firmware::elf_for_tests(), BootEl::El3);
    q.card = Some(card);
    let mut s = Session::start(&q).unwrap();
    s.expect(PROMPT, Duration::from_secs(60)).unwrap();
    let ok = |s: &mut Session, cmd: &str| {
        let out = s.command(cmd, REPLY).unwrap();
        assert!(!out.contains("error:"), "`{cmd}`:\n{out}");
        out
    };
    ok(&mut s, &format!("load model {MODEL_FILE}"));
    ok(&mut s, &format!("load image {IMAGE_FILE}"));
    let no = s.command("run", REPLY).unwrap();
    assert!(no.contains("error: no accelerator"), "{no}");
    assert!(no.contains("'run --cpu' (or 'step --cpu') computes the same layers, bit for bit, on the 4 A53 cores"), "{no}");
    let crcs = crcs(&want);
    for l in Layer::ALL {
        // 1, 2, 3, 4, 1, 2 ... cores: the rows split differently each time.
        let cores = l.index() % 4 + 1;
        let out = ok(&mut s, &format!("step --cpu={cores}"));
        let lines = e2e::layer_lines(&out);
        assert_eq!(lines.len(), 1, "{out}");
        assert_eq!(lines[0].name, l.name());
        assert_eq!(lines[0].crc, crcs[l.index()], "{}: CRC differs from the reference\n{out}", l.name());
        let plural = if cores == 1 { "" } else { "s" };
        assert!(out.contains(&format!("NEON engine on {cores} core{plural}")), "{out}");
    }
    // The maps are where the accelerator would have put them: dump works.
    ok(&mut s, "dump syn_2 OUT.FM");
    s.send(b"exit\n").unwrap();
    assert!(s.wait(Duration::from_secs(60)).unwrap().success());
}
