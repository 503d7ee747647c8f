//! The AXI-Lite register map of the HLS top function, following the rules
//! of Vivado HLS 2019.2: AP_CTRL/GIE/IER/ISR at 0x00..0x0c, then each
//! argument of the `s_axilite` bundle in declaration order from 0x10 (from
//! 0x18 when the function returns a value: its `ap_return`, read-only, takes
//! the first slot at 0x10); an
//! argument of up to 32 bits takes an 8-byte slot (data at +0), a 64-bit
//! one (every m_axi pointer, since ZynqMP addresses are 64-bit) 12 bytes
//! (low word, high word, reserved). `generate` reads the signature and
//! pragmas of hls/xlic_layer.cpp and writes `xxlic_layer_hw.h` as Vivado
//! HLS exports it.
use anyhow::{bail, Context, Result};

pub const TOP: &str = "xlic_layer";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub bits: u32,
    pub offset: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegMap {
    pub top: String,
    pub bundle: String,
    /// The return value's register (`ap_return`), if the function returns
    /// one: its width; it sits at 0x10.
    pub ap_return: Option<u32>,
    pub args: Vec<Arg>,
}

fn bits_of(ty: &str) -> Result<u32> {
    let t = ty.trim();
    if t.contains('*') {
        return Ok(64);
    }
    Ok(match t.trim_start_matches("const ").trim() {
        "uint64_t" | "int64_t" | "long long" | "unsigned long long" => 64,
        "uint32_t" | "int32_t" | "int" | "unsigned" | "unsigned int" | "float" => 32,
        "uint16_t" | "int16_t" | "short" => 16,
        "uint8_t" | "int8_t" | "char" | "bool" => 8,
        other => bail!("register map: no AXI-Lite width known for type '{other}'"),
    })
}

/// Read the top function's signature and its s_axilite pragmas.
pub fn parse_source(src: &str, top: &str) -> Result<RegMap> {
    // The definition: `<type> top(` at the start of a line.
    let sig_start = src
        .match_indices(&format!(" {top}("))
        .map(|(i, _)| src[..i].rfind('\n').map_or(0, |n| n + 1))
        .find(|&line| {
            let ty = &src[line..];
            !ty.starts_with(' ') && !ty.starts_with('/') && !ty.starts_with('#') && !ty.trim_start().starts_with("return")
        })
        .with_context(|| format!("no definition of {top}(...)"))?;
    let ret_ty = src[sig_start..].split(&format!(" {top}(")).next().unwrap_or("").trim();
    let ap_return = if ret_ty == "void" { None } else { Some(bits_of(ret_ty)?) };
    let open = sig_start + src[sig_start..].find('(').unwrap();
    let close = open + src[open..].find(')').context("unterminated signature")?;
    let mut params = Vec::new();
    for p in src[open + 1..close].split(',') {
        let p = p.split_whitespace().collect::<Vec<_>>().join(" ");
        let name_at = p.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map(|i| i + 1).unwrap_or(0);
        let (ty, name) = p.split_at(name_at);
        params.push((name.to_string(), bits_of(ty)?));
    }
    // #pragma HLS INTERFACE s_axilite port=NAME bundle=BUNDLE
    let mut axilite = std::collections::BTreeMap::new();
    for line in src[close..].lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() >= 4 && w[0] == "#pragma" && w[1].eq_ignore_ascii_case("HLS") && w[2].eq_ignore_ascii_case("INTERFACE") && w[3] == "s_axilite" {
            let get = |k: &str| w.iter().find_map(|x| x.strip_prefix(k)).map(str::to_string);
            let port = get("port=").context("s_axilite pragma without port=")?;
            axilite.insert(port, get("bundle=").unwrap_or_else(|| "control".into()));
        }
    }
    let bundle = axilite.get("return").cloned().context("no `#pragma HLS INTERFACE s_axilite port=return`: the IP would have no AP_CTRL")?;
    let mut offset = if ap_return.is_some() { 0x18 } else { 0x10 };
    let mut args = Vec::new();
    for (name, bits) in params {
        match axilite.get(&name) {
            Some(b) if *b == bundle => {}
            Some(b) => bail!("argument {name} is in bundle {b}, not {bundle}"),
            None => bail!("argument {name} has no s_axilite pragma: the firmware could not set it"),
        }
        args.push(Arg { name, bits, offset });
        offset += if bits > 32 { 12 } else { 8 };
    }
    Ok(RegMap { top: top.into(), bundle, ap_return, args })
}

/// The header text, as Vivado HLS 2019.2 writes `x<top>_hw.h`.
pub fn header(map: &RegMap) -> String {
    let mut s = String::new();
    s.push_str("// ==============================================================\n");
    s.push_str("// Vivado(TM) HLS - High-Level Synthesis from C, C++ and SystemC v2019.2 (64-bit)\n");
    s.push_str("// Copyright 1986-2019 Xilinx, Inc. All Rights Reserved.\n");
    s.push_str("// ==============================================================\n");
    s.push_str(&format!("// {}\n", map.bundle));
    s.push_str(
        "// 0x00 : Control signals\n\
         //        bit 0  - ap_start (Read/Write/COH)\n\
         //        bit 1  - ap_done (Read/COR)\n\
         //        bit 2  - ap_idle (Read)\n\
         //        bit 3  - ap_ready (Read)\n\
         //        bit 7  - auto_restart (Read/Write)\n\
         //        others - reserved\n\
         // 0x04 : Global Interrupt Enable Register\n\
         //        bit 0  - Global Interrupt Enable (Read/Write)\n\
         //        others - reserved\n\
         // 0x08 : IP Interrupt Enable Register (Read/Write)\n\
         //        bit 0  - Channel 0 (ap_done)\n\
         //        bit 1  - Channel 1 (ap_ready)\n\
         //        others - reserved\n\
         // 0x0c : IP Interrupt Status Register (Read/TOW)\n\
         //        bit 0  - Channel 0 (ap_done)\n\
         //        bit 1  - Channel 1 (ap_ready)\n\
         //        others - reserved\n",
    );
    if let Some(bits) = map.ap_return {
        s.push_str(&format!("// 0x10 : Data signal of ap_return\n//        bit {}~0 - ap_return[{}:0] (Read)\n", bits - 1, bits - 1));
    }
    for a in &map.args {
        let bit_line = |hi: u32, lo: u32, from: u32| format!("//        bit {hi}~0 - {}[{}:{}] (Read/Write)\n", a.name, from + hi, from + lo);
        s.push_str(&format!("// 0x{:02x} : Data signal of {}\n", a.offset, a.name));
        if a.bits > 32 {
            s.push_str(&bit_line(31, 0, 0));
            s.push_str(&format!("// 0x{:02x} : Data signal of {}\n", a.offset + 4, a.name));
            s.push_str(&bit_line(31, 0, 32));
            s.push_str(&format!("// 0x{:02x} : reserved\n", a.offset + 8));
        } else {
            s.push_str(&bit_line(a.bits - 1, 0, 0));
            if a.bits < 32 {
                s.push_str("//        others   - reserved\n");
            }
            s.push_str(&format!("// 0x{:02x} : reserved\n", a.offset + 4));
        }
    }
    s.push_str("// (SC = Self Clear, COR = Clear on Read, TOW = Toggle on Write, COH = Clear on Handshake)\n\n");
    let prefix = format!("X{}_{}", map.top.to_uppercase(), map.bundle.to_uppercase());
    let mut defs: Vec<(String, String)> = ["AP_CTRL", "GIE", "IER", "ISR"]
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("{prefix}_ADDR_{r}"), format!("0x{:02x}", 4 * i)))
        .collect();
    if let Some(bits) = map.ap_return {
        defs.push((format!("{prefix}_ADDR_AP_RETURN"), "0x10".into()));
        defs.push((format!("{prefix}_BITS_AP_RETURN"), bits.to_string()));
    }
    for a in &map.args {
        let n = a.name.to_uppercase();
        defs.push((format!("{prefix}_ADDR_{n}_DATA"), format!("0x{:02x}", a.offset)));
        defs.push((format!("{prefix}_BITS_{n}_DATA"), a.bits.to_string()));
    }
    let width = defs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in defs {
        s.push_str(&format!("#define {k:<width$} {v}\n"));
    }
    s.push('\n');
    s
}

/// The `#define` lines of a header, whitespace-normalised: what a stale
/// check compares (so Vivado's own export, with its dated banner and its
/// alignment, compares equal when the map is the same).
pub fn defines(header: &str) -> Vec<String> {
    header.lines().filter(|l| l.trim_start().starts_with("#define")).map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect()
}

pub fn hls_dir() -> std::path::PathBuf {
    crate::repo_root().join("hls")
}

pub fn header_path() -> std::path::PathBuf {
    hls_dir().join(format!("x{TOP}_hw.h"))
}

/// Regenerate the header from the kernel source.
pub fn generate() -> Result<String> {
    let src = std::fs::read_to_string(hls_dir().join(format!("{TOP}.cpp")))?;
    Ok(header(&parse_source(&src, TOP)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_vivado_rules() {
        let src = "void top(const wide_t *a, uint32_t n, int16_t small, uint64_t big, uint32_t m) {\n\
            #pragma HLS INTERFACE s_axilite port=a bundle=ctl\n\
            #pragma HLS INTERFACE s_axilite port=n bundle=ctl\n\
            #pragma HLS INTERFACE s_axilite port=small bundle=ctl\n\
            #pragma HLS INTERFACE s_axilite port=big bundle=ctl\n\
            #pragma HLS INTERFACE s_axilite port=m bundle=ctl\n\
            #pragma HLS INTERFACE s_axilite port=return bundle=ctl\n}";
        let m = parse_source(src, "top").unwrap();
        let got: Vec<(&str, u32, u32)> = m.args.iter().map(|a| (a.name.as_str(), a.bits, a.offset)).collect();
        assert_eq!(got, vec![("a", 64, 0x10), ("n", 32, 0x1c), ("small", 16, 0x24), ("big", 64, 0x2c), ("m", 32, 0x38)]);
        let h = header(&m);
        assert!(h.contains("#define XTOP_CTL_ADDR_BIG_DATA   0x2c\n"), "{h}");
        assert!(h.contains("// 0x24 : Data signal of small\n//        bit 15~0 - small[15:0] (Read/Write)\n//        others   - reserved\n"), "{h}");
        assert_eq!(m.ap_return, None);
        // A return value takes the first slot (0x10, read-only); the
        // arguments follow from 0x18.
        let ret = src.replacen("void top(", "uint32_t top(", 1);
        let m = parse_source(&ret, "top").unwrap();
        assert_eq!(m.ap_return, Some(32));
        assert_eq!(m.args.iter().map(|a| a.offset).collect::<Vec<_>>(), [0x18, 0x24, 0x2c, 0x34, 0x40]);
        let h = header(&m);
        assert!(h.contains("// 0x10 : Data signal of ap_return\n//        bit 31~0 - ap_return[31:0] (Read)\n// 0x18 : Data signal of a\n"), "{h}");
        // The names are padded to the longest, XTOP_CTL_ADDR_SMALL_DATA (24
        // characters): AP_RETURN's (23) takes one space of padding and one
        // of separation, at exactly 0x10.
        assert!(h.contains("\n#define XTOP_CTL_ADDR_AP_RETURN  0x10\n#define XTOP_CTL_BITS_AP_RETURN  32\n"), "{h}");
    }

    #[test]
    fn missing_pragmas_are_errors() {
        let src = "void top(uint32_t n) {\n#pragma HLS INTERFACE s_axilite port=return bundle=control\n}";
        assert!(parse_source(src, "top").unwrap_err().to_string().contains("n has no s_axilite pragma"));
        let src = "void top(uint32_t n) {\n#pragma HLS INTERFACE s_axilite port=n bundle=control\n}";
        assert!(parse_source(src, "top").unwrap_err().to_string().contains("port=return"));
    }

    /// The stale-header check: the header checked in under hls/ must
    /// describe the register map of the kernel source as it is now.
    #[test]
    fn checked_in_header_matches_the_kernel_source() {
        let checked_in = std::fs::read_to_string(header_path()).expect("hls/xxlic_layer_hw.h");
        assert_eq!(
            defines(&checked_in),
            defines(&generate().unwrap()),
            "hls/xxlic_layer_hw.h is stale: run `cargo xtask regs` (or drop in the header Vivado HLS exported)"
        );
    }
}
