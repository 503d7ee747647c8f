//! The model package: one versioned file holding every constant the
//! accelerator needs, in the layouts of [`layout`](crate::layout). The
//! firmware loads exactly this file from the card. Format (all
//! little-endian; documented for people in model/PACKAGE.md):
//!
//! ```text
//! header, 64 bytes
//!   0  magic "XLICPKG\0"
//!   8  u32 format version (FORMAT_VERSION)
//!  12  u32 header length (64 + 48 * layers)
//!  16  u64 file length
//!  24  u16 lanes, u16 pof, u16 max_channels, u16 max_kernel,
//!      u32 max_side                                    (hardware limits)
//!  36  4 bytes reserved (0; version 1 held the tile sizes, which shape
//!      nothing in DDR: tiles are run-time registers)
//!  40  u32 layer count (10)
//!  44  u32 pad mode the calibration assumed (0 edge, 1 zero; informative)
//!  48  u32 CRC-32 of the whole header with this field as 0
//!  52  12 bytes reserved (0)
//! layer records, 48 bytes each, in table order
//!   0  u8 layer index, u8 op code, u8 kernel, u8 stride
//!   4  u16 cin, u16 cout, u16 cin padded, u16 cout padded
//!  12  u32 weights offset, u32 weights length (bytes)
//!  20  u32 params offset,  u32 params length (bytes)
//!  28  u32 CRC-32 of the weights, u32 CRC-32 of the params
//!  36  12 bytes reserved (0)
//! sections: each layer's weights (INT16) then params (16-byte records),
//!   each starting on a 64-byte boundary, zero-filled between
//! ```
use crate::crc32::crc32;
use crate::layer::LAYERS;
use crate::layout::{HwLimits, WeightShape};
use crate::quant::{ChannelParams, CHANNEL_PARAMS_BYTES};

pub const MAGIC: [u8; 8] = *b"XLICPKG\0";
pub const FORMAT_VERSION: u32 = 2;
pub const HEADER_BYTES: usize = 64;
pub const RECORD_BYTES: usize = 48;
pub const SECTION_ALIGN: usize = 64;
const CRC_AT: usize = 48;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Weights,
    Params,
}

impl core::fmt::Display for Section {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        f.write_str(match self {
            Section::Weights => "weights",
            Section::Params => "parameters",
        })
    }
}

/// Why a package was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageError {
    TooShort { len: usize },
    BadMagic,
    UnsupportedVersion { found: u32 },
    LengthMismatch { header: u64, actual: usize },
    HeaderCrc,
    LayerTable { layer: usize },
    HardwareMismatch { package: HwLimits, hardware: HwLimits },
    SectionBounds { layer: usize, section: Section },
    /// A section that does not start on a SECTION_ALIGN boundary: the
    /// firmware reads sections in place as INT16 arrays and hands their
    /// addresses to the accelerator's m_axi ports, both of which need it.
    SectionMisaligned { layer: usize, section: Section, offset: usize },
    SectionCrc { layer: usize, section: Section },
    BadParams { layer: usize, channel: usize },
    /// A weight of -32768: outside the format's symmetric -32767..=32767
    /// (quant::WEIGHT_MAX), which every integer engine relies on (two
    /// products of the pair sums fit an i32 only within it).
    BadWeight { layer: usize, index: usize },
}

impl core::fmt::Display for PackageError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        use PackageError::*;
        let name = |l: &usize| LAYERS.get(*l).map(|s| s.name).unwrap_or("?");
        match self {
            TooShort { len } => write!(f, "model package is truncated: {len} bytes, not even a header"),
            BadMagic => write!(f, "not a model package (bad magic); make one with `cargo xtask quantize`"),
            UnsupportedVersion { found } => write!(
                f,
                "model package format version {found} is not supported (this build reads version {FORMAT_VERSION}); re-run `cargo xtask quantize`"
            ),
            LengthMismatch { header, actual } => {
                write!(f, "model package is {actual} bytes but its header says {header}: truncated or padded file")
            }
            HeaderCrc => write!(f, "model package header is corrupt (CRC mismatch)"),
            LayerTable { layer } => write!(f, "model package layer {} does not match this firmware's layer table", name(layer)),
            HardwareMismatch { package, hardware } => {
                // Only the limits that differ, package value against accelerator value.
                write!(f, "model package was built for other accelerator limits:")?;
                let fields = [
                    ("lanes", package.lanes, hardware.lanes),
                    ("pof", package.pof, hardware.pof),
                    ("max_channels", package.max_channels, hardware.max_channels),
                    ("max_kernel", package.max_kernel, hardware.max_kernel),
                    ("max_side", package.max_side, hardware.max_side),
                ];
                let mut sep = " ";
                for (name, p, h) in fields.into_iter().filter(|(_, p, h)| p != h) {
                    write!(f, "{sep}{name} {p} in the package, {h} in the accelerator")?;
                    sep = ", ";
                }
                write!(f, "; re-run `cargo xtask quantize`")
            }
            SectionBounds { layer, section } => write!(f, "model package {} {section} lie outside the file", name(layer)),
            SectionMisaligned { layer, section, offset } => write!(
                f,
                "model package {} {section} start at byte {offset}, not on a {SECTION_ALIGN}-byte boundary (the accelerator reads them in place); re-run `cargo xtask quantize`",
                name(layer)
            ),
            SectionCrc { layer, section } => write!(f, "model package {} {section} are corrupt (CRC mismatch)", name(layer)),
            BadParams { layer, channel } => {
                write!(f, "model package {} channel {channel} has parameters outside the INT16 rules", name(layer))
            }
            BadWeight { layer, index } => write!(
                f,
                "model package {} weight {index} is -32768: weights lie in -{max}..={max} (model/PACKAGE.md); re-run `cargo xtask quantize`",
                name(layer),
                max = crate::quant::WEIGHT_MAX
            ),
        }
    }
}

// Little-endian fields of the model's file formats (the latent and
// feature-map files read theirs with these too).
pub(crate) fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
pub(crate) fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
pub(crate) fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5], b[o + 6], b[o + 7]])
}

/// A package that passed every check; sections are borrowed from the file.
#[derive(Clone, Copy, Debug)]
pub struct Package<'a> {
    pub bytes: &'a [u8],
    pub hw: HwLimits,
    pub calibrated_pad: u32,
    sections: [(usize, usize, usize, usize); 10],
}

impl<'a> Package<'a> {
    /// Check everything (magic, version, length, CRCs, layer table,
    /// hardware limits, section alignment, parameter ranges) and borrow
    /// the sections.
    pub fn parse(bytes: &'a [u8], hardware: &HwLimits) -> Result<Package<'a>, PackageError> {
        if bytes.len() < HEADER_BYTES {
            return Err(PackageError::TooShort { len: bytes.len() });
        }
        if bytes[..8] != MAGIC {
            return Err(PackageError::BadMagic);
        }
        let version = u32_at(bytes, 8);
        if version != FORMAT_VERSION {
            return Err(PackageError::UnsupportedVersion { found: version });
        }
        let total = u64_at(bytes, 16);
        if total != bytes.len() as u64 {
            return Err(PackageError::LengthMismatch { header: total, actual: bytes.len() });
        }
        let header_len = u32_at(bytes, 12) as usize;
        let layers = u32_at(bytes, 40) as usize;
        if layers != LAYERS.len() || header_len != HEADER_BYTES + RECORD_BYTES * layers || header_len > bytes.len() {
            return Err(PackageError::LayerTable { layer: layers.min(LAYERS.len()) });
        }
        let mut crc = crate::crc32::Crc32::default();
        crc.update(&bytes[..CRC_AT]);
        crc.update(&[0; 4]);
        crc.update(&bytes[CRC_AT + 4..header_len]);
        if crc.finish() != u32_at(bytes, CRC_AT) {
            return Err(PackageError::HeaderCrc);
        }
        let hw = HwLimits {
            lanes: u16_at(bytes, 24) as usize,
            pof: u16_at(bytes, 26) as usize,
            max_channels: u16_at(bytes, 28) as usize,
            max_kernel: u16_at(bytes, 30) as usize,
            max_side: u32_at(bytes, 32) as usize,
            // Not recorded: they shape no data in DDR (the tile sizes only
            // size the accelerator's accumulators; tiles are chosen at run
            // time), so a package serves every such configuration.
            ..*hardware
        };
        if hw != *hardware {
            return Err(PackageError::HardwareMismatch { package: hw, hardware: *hardware });
        }
        let mut sections = [(0, 0, 0, 0); 10];
        for (i, spec) in LAYERS.iter().enumerate() {
            let r = HEADER_BYTES + i * RECORD_BYTES;
            let ws = WeightShape::of(spec, &hw);
            let table_ok = bytes[r] as usize == i
                && bytes[r + 1] as u32 == spec.op.code()
                && bytes[r + 2] as usize == spec.op.kernel()
                && bytes[r + 3] as usize == spec.op.stride()
                && u16_at(bytes, r + 4) as usize == spec.cin
                && u16_at(bytes, r + 6) as usize == spec.cout
                && u16_at(bytes, r + 8) as usize == ws.cin_padded()
                && u16_at(bytes, r + 10) as usize == ws.cout_padded()
                && u32_at(bytes, r + 16) as usize == ws.len() * 2
                && u32_at(bytes, r + 24) as usize == ws.cout_padded() * CHANNEL_PARAMS_BYTES;
            if !table_ok {
                return Err(PackageError::LayerTable { layer: i });
            }
            let (wo, wl) = (u32_at(bytes, r + 12) as usize, u32_at(bytes, r + 16) as usize);
            let (po, pl) = (u32_at(bytes, r + 20) as usize, u32_at(bytes, r + 24) as usize);
            for (o, l, section) in [(wo, wl, Section::Weights), (po, pl, Section::Params)] {
                if o < header_len || o.checked_add(l).is_none_or(|e| e > bytes.len()) {
                    return Err(PackageError::SectionBounds { layer: i, section });
                }
                if o % SECTION_ALIGN != 0 {
                    return Err(PackageError::SectionMisaligned { layer: i, section, offset: o });
                }
            }
            if crc32(&bytes[wo..wo + wl]) != u32_at(bytes, r + 28) {
                return Err(PackageError::SectionCrc { layer: i, section: Section::Weights });
            }
            if crc32(&bytes[po..po + pl]) != u32_at(bytes, r + 32) {
                return Err(PackageError::SectionCrc { layer: i, section: Section::Params });
            }
            if let Some(index) = bytes[wo..wo + wl].chunks_exact(2).position(|b| i16::from_le_bytes([b[0], b[1]]) < -crate::quant::WEIGHT_MAX) {
                return Err(PackageError::BadWeight { layer: i, index });
            }
            for (c, rec) in bytes[po..po + pl].chunks_exact(CHANNEL_PARAMS_BYTES).enumerate() {
                if !ChannelParams::from_le_bytes(rec).is_valid_for(spec.op) {
                    return Err(PackageError::BadParams { layer: i, channel: c });
                }
            }
            sections[i] = (wo, wl, po, pl);
        }
        Ok(Package { bytes, hw, calibrated_pad: u32_at(bytes, 44), sections })
    }

    /// The package's identity: its header CRC-32, which covers the
    /// hardware limits, the calibration's padding mode and every
    /// section's CRC. Compressed files name the package they need by it.
    pub fn id(&self) -> u32 {
        u32_at(self.bytes, CRC_AT)
    }

    /// Raw little-endian INT16 weights of layer `i`.
    pub fn weights_bytes(&self, i: usize) -> &'a [u8] {
        let (o, l, _, _) = self.sections[i];
        &self.bytes[o..o + l]
    }
    /// Raw parameter records of layer `i`.
    pub fn params_bytes(&self, i: usize) -> &'a [u8] {
        let (_, _, o, l) = self.sections[i];
        &self.bytes[o..o + l]
    }
    /// Byte offsets of layer `i`'s sections in the file (for DMA from DDR).
    pub fn section_offsets(&self, i: usize) -> (usize, usize) {
        (self.sections[i].0, self.sections[i].2)
    }
    pub fn weight(&self, i: usize, index: usize) -> i16 {
        let b = self.weights_bytes(i);
        i16::from_le_bytes([b[2 * index], b[2 * index + 1]])
    }
    pub fn params(&self, i: usize, channel: usize) -> ChannelParams {
        ChannelParams::from_le_bytes(&self.params_bytes(i)[channel * CHANNEL_PARAMS_BYTES..])
    }
}

/// Write a package (host side).
#[cfg(feature = "std")]
pub fn write(hw: &HwLimits, calibrated_pad: u32, layers: &[(std::vec::Vec<i16>, std::vec::Vec<ChannelParams>)]) -> std::vec::Vec<u8> {
    assert_eq!(layers.len(), LAYERS.len());
    let header_len = HEADER_BYTES + RECORD_BYTES * LAYERS.len();
    let mut out = std::vec![0u8; header_len];
    let align = |v: &mut std::vec::Vec<u8>| v.resize(crate::layout::round_up(v.len(), SECTION_ALIGN), 0);
    let mut records = std::vec::Vec::new();
    for (i, (spec, (w, p))) in LAYERS.iter().zip(layers).enumerate() {
        let ws = WeightShape::of(spec, hw);
        assert_eq!(w.len(), ws.len(), "{} weights", spec.name);
        assert!(w.iter().all(|&v| v >= -crate::quant::WEIGHT_MAX), "{}: a weight of -32768 (the format is -32767..=32767)", spec.name);
        assert_eq!(p.len(), ws.cout_padded(), "{} params", spec.name);
        align(&mut out);
        let wo = out.len();
        w.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        let wl = out.len() - wo;
        align(&mut out);
        let po = out.len();
        p.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        let pl = out.len() - po;
        let mut r = [0u8; RECORD_BYTES];
        r[0] = i as u8;
        r[1] = spec.op.code() as u8;
        r[2] = spec.op.kernel() as u8;
        r[3] = spec.op.stride() as u8;
        r[4..6].copy_from_slice(&(spec.cin as u16).to_le_bytes());
        r[6..8].copy_from_slice(&(spec.cout as u16).to_le_bytes());
        r[8..10].copy_from_slice(&(ws.cin_padded() as u16).to_le_bytes());
        r[10..12].copy_from_slice(&(ws.cout_padded() as u16).to_le_bytes());
        r[12..16].copy_from_slice(&(wo as u32).to_le_bytes());
        r[16..20].copy_from_slice(&(wl as u32).to_le_bytes());
        r[20..24].copy_from_slice(&(po as u32).to_le_bytes());
        r[24..28].copy_from_slice(&(pl as u32).to_le_bytes());
        r[28..32].copy_from_slice(&crc32(&out[wo..wo + wl]).to_le_bytes());
        r[32..36].copy_from_slice(&crc32(&out[po..po + pl]).to_le_bytes());
        records.push(r);
    }
    out[..8].copy_from_slice(&MAGIC);
    out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[12..16].copy_from_slice(&(header_len as u32).to_le_bytes());
    let total = out.len() as u64;
    out[16..24].copy_from_slice(&total.to_le_bytes());
    out[24..26].copy_from_slice(&(hw.lanes as u16).to_le_bytes());
    out[26..28].copy_from_slice(&(hw.pof as u16).to_le_bytes());
    out[28..30].copy_from_slice(&(hw.max_channels as u16).to_le_bytes());
    out[30..32].copy_from_slice(&(hw.max_kernel as u16).to_le_bytes());
    out[32..36].copy_from_slice(&(hw.max_side as u32).to_le_bytes());
    out[40..44].copy_from_slice(&(LAYERS.len() as u32).to_le_bytes());
    out[44..48].copy_from_slice(&calibrated_pad.to_le_bytes());
    for (i, r) in records.iter().enumerate() {
        let o = HEADER_BYTES + i * RECORD_BYTES;
        out[o..o + RECORD_BYTES].copy_from_slice(r);
    }
    let crc = crc32(&out[..header_len]);
    out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
    out
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    fn tiny_package() -> std::vec::Vec<u8> {
        let hw = HwLimits::TEST;
        let layers = LAYERS
            .iter()
            .map(|s| {
                let ws = WeightShape::of(s, &hw);
                let w = (0..ws.len()).map(|i| (i % 200) as i16 - 100).collect();
                let p = (0..ws.cout_padded())
                    .map(|_| if s.op.is_normaliser() { ChannelParams { bias: 3, mult: 1, shift: 10 } } else { ChannelParams { bias: 5, mult: 1000, shift: 20 } })
                    .collect();
                (w, p)
            })
            .collect::<std::vec::Vec<_>>();
        write(&hw, 0, &layers)
    }

    #[test]
    fn round_trip() {
        let bytes = tiny_package();
        let p = Package::parse(&bytes, &HwLimits::TEST).unwrap();
        assert_eq!(p.weight(0, 0), -100);
        assert_eq!(p.params(2, 3), ChannelParams { bias: 5, mult: 1000, shift: 20 });
        for i in 0..10 {
            let (w, q) = p.section_offsets(i);
            assert_eq!(w % SECTION_ALIGN, 0);
            assert_eq!(q % SECTION_ALIGN, 0);
        }
    }

    /// Recompute the header CRC after editing a record.
    fn reseal(b: &mut [u8]) {
        let mut c = crate::crc32::Crc32::default();
        c.update(&b[..CRC_AT]);
        c.update(&[0; 4]);
        c.update(&b[CRC_AT + 4..HEADER_BYTES + RECORD_BYTES * LAYERS.len()]);
        let hcrc = c.finish();
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&hcrc.to_le_bytes());
    }

    #[test]
    fn every_kind_of_damage_is_named() {
        let good = tiny_package();
        let hw = HwLimits::TEST;
        let parse = |b: &[u8]| Package::parse(b, &hw).map(|_| ());
        assert_eq!(parse(&good[..10]), Err(PackageError::TooShort { len: 10 }));
        let mut b = good.clone();
        b[0] = b'Y';
        assert_eq!(parse(&b), Err(PackageError::BadMagic));
        let mut b = good.clone();
        // Version 1 (which recorded the tile sizes) and a future one.
        for found in [1, FORMAT_VERSION + 1] {
            b[8] = found as u8;
            assert_eq!(parse(&b), Err(PackageError::UnsupportedVersion { found }));
        }
        assert_eq!(parse(&good[..good.len() - 1]), Err(PackageError::LengthMismatch { header: good.len() as u64, actual: good.len() - 1 }));
        let mut b = good.clone();
        b[HEADER_BYTES + 5] ^= 1; // a layer record byte
        assert_eq!(parse(&b), Err(PackageError::HeaderCrc));
        let mut b = good.clone();
        let last = b.len() - 1;
        b[last] ^= 0x40; // inside syn_2's params
        assert_eq!(parse(&b), Err(PackageError::SectionCrc { layer: 9, section: Section::Params }));
        // A weight of -32768 (ana_1's first, at its section's offset).
        let mut b = good.clone();
        let r = HEADER_BYTES + 2 * RECORD_BYTES;
        let wo = u32_at(&b, r + 12) as usize;
        b[wo..wo + 2].copy_from_slice(&i16::MIN.to_le_bytes());
        let crc = crc32(&b[wo..wo + u32_at(&b, r + 16) as usize]);
        b[r + 28..r + 32].copy_from_slice(&crc.to_le_bytes());
        reseal(&mut b);
        assert_eq!(parse(&b), Err(PackageError::BadWeight { layer: 2, index: 0 }));
        // A section moved off its 64-byte boundary, everything else
        // (bounds, header CRC, the section's own CRC) consistent: the
        // firmware would read it in place as INT16 and hand its address
        // to the accelerator.
        for (field, section) in [(12, Section::Weights), (20, Section::Params)] {
            let mut b = good.clone();
            let r = HEADER_BYTES + 3 * RECORD_BYTES;
            let (o, l) = (u32_at(&b, r + field) as usize + 2, u32_at(&b, r + field + 4) as usize);
            b[r + field..r + field + 4].copy_from_slice(&(o as u32).to_le_bytes());
            let crc = crc32(&b[o..o + l]);
            let at = if section == Section::Weights { r + 28 } else { r + 32 };
            b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
            reseal(&mut b);
            assert_eq!(parse(&b), Err(PackageError::SectionMisaligned { layer: 3, section, offset: o }));
            assert!(parse(&b).unwrap_err().to_string().contains("re-run `cargo xtask quantize`"));
        }
        let other = HwLimits { pof: 32, ..hw };
        assert!(matches!(Package::parse(&good, &other), Err(PackageError::HardwareMismatch { .. })));
        // The message names the limits that differ and both values, and
        // only those (a max_side difference used to print identical
        // lanes/pof/tiles on both sides).
        let other = HwLimits { max_side: hw.max_side / 2, ..hw };
        let e = Package::parse(&good, &other).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "model package was built for other accelerator limits: max_side {} in the package, {} in the accelerator; re-run `cargo xtask quantize`",
                hw.max_side,
                hw.max_side / 2
            )
        );
        let other = HwLimits { pof: hw.pof * 2, max_kernel: hw.max_kernel + 2, ..hw };
        let e = Package::parse(&good, &other).unwrap_err().to_string();
        assert!(e.contains(&format!("pof {} in the package, {} in the accelerator, max_kernel", hw.pof, hw.pof * 2)) && !e.contains("lanes"), "{e}");
    }

    #[test]
    fn tile_sizes_are_not_part_of_a_package() {
        // They size the accelerator's accumulators only (tiles are run-time
        // registers): one package, same bytes and same identity, serves
        // accelerators built with other tile sizes, as it does other pox.
        let good = tiny_package();
        let hw = HwLimits::TEST;
        let id = Package::parse(&good, &hw).unwrap().id();
        for other in [HwLimits { tile_rows: hw.tile_rows * 2, ..hw }, HwLimits { tile_cols: hw.tile_cols / 2, ..hw }, HwLimits { pox: hw.pox / 2, ..hw }] {
            let p = Package::parse(&good, &other).unwrap();
            assert_eq!((p.id(), p.hw), (id, other));
        }
        let layers: std::vec::Vec<_> = (0..LAYERS.len())
            .map(|i| {
                let p = Package::parse(&good, &hw).unwrap();
                let w = p.weights_bytes(i).chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
                let q = p.params_bytes(i).chunks_exact(CHANNEL_PARAMS_BYTES).map(ChannelParams::from_le_bytes).collect();
                (w, q)
            })
            .collect();
        assert!(write(&HwLimits { tile_rows: 4, tile_cols: 64, ..hw }, 0, &layers) == good, "the tile sizes changed the package's bytes");
    }
}

impl core::error::Error for PackageError {}
