//! The compressed file on the A53: entropy coding of the latent map the
//! accelerator wrote (ana_2's output, in its DDR layout) into an `.XLC`
//! file, and decoding a file back into that map for the synthesis layers.
//! The format and the coder are xlic-model's (`bitstream`, `entropy`),
//! the same code the host runs, so both write the same bytes.
use crate::arch::aarch64::time::Instant;
use core::time::Duration;
use xlic_model::bitstream::{self, Xlc, XlcError, XlcHeader};
use xlic_model::entropy::{EntropyError, LeBytes, LeBytesMut};
use xlic_model::layout::FmShape;
use xlic_model::Geometry;

/// What coding or decoding did.
#[derive(Clone, Copy, Debug)]
pub struct Coded {
    pub header: XlcHeader,
    pub geometry: Geometry,
    /// Latent values coded.
    pub values: usize,
    /// Time of the entropy coding alone.
    pub elapsed: Duration,
}

impl Coded {
    /// Guest nanoseconds per latent value (under QEMU `-icount shift=0`,
    /// instructions per value).
    pub fn ns_per_value(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.values.max(1) as f64
    }
}

fn latent_shape(g: &Geometry) -> FmShape {
    g.latent_shape(accel_regs::HW_LIMITS.lanes)
}

/// Code the latent map of `g` (`map`: the map's bytes as the accelerator
/// wrote them) into `out`, as the file of model `model_id`.
pub fn encode(model_id: u32, g: &Geometry, map: &[u8], out: &mut [u8]) -> Result<Coded, XlcError> {
    let shape = latent_shape(g);
    let map = map.get(..shape.bytes()).ok_or(XlcError::Payload(EntropyError::Shape))?;
    let t = Instant::now();
    let header = bitstream::write(model_id, g, &shape, &LeBytes(map), out)?;
    let elapsed = t.elapsed();
    Ok(Coded { header, geometry: *g, values: header.values(), elapsed })
}

/// Check `file`: magic, version, length, CRC, model `model_id`, sizes
/// within the accelerator's.
pub fn check(model_id: u32, file: &[u8]) -> Result<Xlc<'_>, XlcError> {
    bitstream::parse(file, model_id, accel_regs::HW_LIMITS.max_side)
}

/// Decode a checked file's latent into `map` (the latent region, DDR
/// layout). On an error `map` may hold part of a latent.
pub fn decode(x: &Xlc, map: &mut [u8]) -> Result<Coded, XlcError> {
    let shape = latent_shape(&x.geometry);
    let map = map.get_mut(..shape.bytes()).ok_or(XlcError::Payload(EntropyError::Shape))?;
    // Padding lanes stay zero, as the accelerator leaves them.
    map.fill(0);
    let t = Instant::now();
    x.decode(&shape, &mut LeBytesMut(map))?;
    let elapsed = t.elapsed();
    Ok(Coded { header: x.header, geometry: x.geometry, values: x.header.values(), elapsed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlic_model::PadMode;

    /// A latent map of `g` with values of every size, as the accelerator
    /// lays it out.
    fn map(g: &Geometry) -> alloc::vec::Vec<u8> {
        let s = latent_shape(g);
        let mut m = alloc::vec![0u8; s.bytes()];
        xlic_model::latent::for_each_in_file_order(&s, |i, f| {
            let v = match f % 11 {
                0 => -(f as i16 % 300),
                1..=6 => 0,
                _ => (f % 5) as i16 - 2,
            };
            m[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        });
        m
    }

    #[test_case]
    fn a_latent_round_trips_through_a_file_on_the_a53() {
        let g = Geometry::new(100, 70, PadMode::Zero, 4096).unwrap();
        let m = map(&g);
        let mut file = alloc::vec![0u8; bitstream::file_bound(&g)];
        let c = encode(0x1234_5678, &g, &m, &mut file).unwrap();
        let file = &file[..c.header.file_len()];
        let mut back = alloc::vec![0xaau8; m.len()];
        let d = decode(&check(0x1234_5678, file).unwrap(), &mut back).unwrap();
        assert!(back == m);
        assert_eq!(d.geometry, g);
        assert!(matches!(check(0x1234_5679, file), Err(XlcError::ModelMismatch { .. })));
    }
}
