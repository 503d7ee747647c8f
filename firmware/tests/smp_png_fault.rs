//! F1: a core lost in the middle of the four-core PNG pipelines must come
//! back to core 0 as an error, not hang it. Under QEMU a fault on a
//! secondary ends the run (semihosting exit); on the board nothing ends it:
//! the core halts and core 0 goes on. This test makes the faults behave as
//! on the board (`expect_secondary_fault`: the report is checked, the core
//! halts, the run goes on) and checks what core 0 does:
//! - encode: core 2 faults (a real data abort, the null guard) reading a row
//!   of its block, while core 0 waits for that block to write it;
//! - decode: core 3 faults converting a chunk while core 0 inflates and
//!   then waits for the converters;
//! each returns `CoreFault` naming the core, the other cores are idle, and
//! the same work on the cores left gives the single-core result.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use xlic_firmware::arch::aarch64::exception::{expect_secondary_fault, faults};
use xlic_firmware::arch::aarch64::{cpu, time};
use xlic_firmware::bsp::zcu102::memory::ArenaRegion;
use xlic_firmware::smp::{self, CoreState, Failure, NUM_CORES};
use xlic_firmware::{png_cores, println, test_support};
use xlic_model::layout::FmShape;
use xlic_model::{Geometry, PadMode};
use xlic_png::{Filter, Options};

const W: u32 = 640;
const H: u32 = 960;
const LANES: usize = 8;

/// A textured RGB image; `faulty` makes that core fault on its first row.
struct Image {
    faulty: Option<usize>,
}

impl xlic_png::Rows for Image {
    fn width(&self) -> u32 {
        W
    }
    fn height(&self) -> u32 {
        H
    }
    fn row(&self, y: u32, out: &mut [u8]) {
        if self.faulty == Some(cpu::core_id()) {
            faults::null_read();
        }
        for (x, px) in out.chunks_exact_mut(3).enumerate() {
            let x = x as u32;
            px.copy_from_slice(&[(x * 7 + y * 13) as u8, ((x ^ y) >> 1) as u8, (x * y >> 5) as u8]);
        }
    }
}

fn report_of(core: usize) -> fn(&str) -> bool {
    match core {
        2 => |r| r.contains("*** CPU EXCEPTION on core 2 at EL1") && r.contains("cause   NULL pointer access"),
        _ => |r| r.contains("*** CPU EXCEPTION on core 3 at EL1") && r.contains("cause   NULL pointer access"),
    }
}

fn encode(src: &Image, cores: usize) -> Result<Vec<u8>, smp::CoreFault> {
    let mut out = Vec::new();
    let r = png_cores::encode(src, Options { filter: Filter::Paeth, level: 1 }, cores, |b: &[u8]| {
        out.extend_from_slice(b);
        Ok::<(), ()>(())
    })?;
    r.unwrap();
    Ok(out)
}

use xlic_firmware::test_support::check;

#[no_mangle]
fn kernel_main() -> ! {
    println!("test smp_png_fault: a fault on a secondary in the PNG pipelines, as on the board");
    check(smp::online() == NUM_CORES, "all cores should be up");
    let want = encode(&Image { faulty: None }, 1).unwrap();

    // Encode: core 2 faults in its block.
    expect_secondary_fault(report_of(2));
    let t = time::Instant::now();
    let r = encode(&Image { faulty: Some(2) }, 4);
    println!("  encode with core 2 faulting: {:?} after {:?}", r.as_ref().map(|v| v.len()), t.elapsed());
    check(matches!(r, Err(smp::CoreFault { core: 2, failure: Failure::Fault })), "encode did not return core 2's fault");
    check(smp::status(2).state == CoreState::Faulted, "core 2 is not marked faulted");
    check((1..NUM_CORES).filter(|&c| c != 2).all(|c| smp::status(c).state == CoreState::Idle), "the other cores are not idle");
    check(smp::online() == NUM_CORES - 1, "core 2 still counted online");
    let again = encode(&Image { faulty: None }, 4).unwrap();
    check(again == want, "encode on the cores left differs from one core");
    println!("  core 0 got the fault back; the three cores left encode the single-core file");

    // Decode: core 3 faults converting a chunk.
    let png = want;
    let header = xlic_png::read_header(&png).unwrap();
    let g = Geometry::new(W as usize, H as usize, PadMode::Edge, 4096).unwrap();
    let bytes = FmShape::new(3, g.coded, LANES).bytes();
    test_support::with_arena(|arena| {
        let mut b = arena.buffers();
        let (scratch, map) = (b.take(ArenaRegion::ImageDecode), b.take(ArenaRegion::FmPong));
        let good = png_cores::decode_to_map(&png, &header, scratch, &mut map[..bytes], &g, LANES, 1).unwrap().unwrap();
        expect_secondary_fault(report_of(3));
        png_cores::inject_convert_fault(3, 0);
        let r = png_cores::decode_to_map(&png, &header, scratch, &mut map[..bytes], &g, LANES, 4);
        println!("  decode with core 3 faulting: {:?}", r.as_ref().map(|d| d.as_ref().map(|d| d.map_crc)));
        check(matches!(r, Err(smp::CoreFault { core: 3, failure: Failure::Fault })), "decode did not return core 3's fault");
        check(smp::status(1).state == CoreState::Idle, "core 1 is not idle");
        check(smp::online() == 2, "cores 2 and 3 still counted online");
        let again = png_cores::decode_to_map(&png, &header, scratch, &mut map[..bytes], &g, LANES, 4).unwrap().unwrap();
        check((again.rgb_crc, again.map_crc) == (good.rgb_crc, good.map_crc), "decode on the cores left differs from one core");
    });
    println!("  core 0 got the fault back; the cores left decode as one core does");
    println!("1 passed, 0 failed");
    test_support::exit_success()
}
