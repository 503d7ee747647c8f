//! `cargo xtask hls-report [DIR]`: read what Vivado HLS 2019.2 reported
//! for the kernel (DIR = the solution folder, default
//! hls/xlic_hls/solution1 as hls/script.tcl makes it) and print it beside
//! the model's figures: per module its latency and estimated clock, per
//! loop its trip count, latency and achieved II, and DSP/BRAM/LUT/FF.
//! Fails (exit 1) if a pipelined loop misses the II its pragma asks for or
//! a resource exceeds the budget; without a report and without
//! `vivado_hls` it says so and exits 0 (it is not part of CI).
//!
//! The reports are `syn/report/csynth.xml` (the top) and
//! `syn/report/<module>_csynth.xml` (one per function), in the 2019.2
//! format: `<profile>` with `UserAssignments` (Part, TopModelName,
//! TargetClockPeriod), `PerformanceEstimates` (`SummaryOfTimingAnalysis`,
//! `SummaryOfOverallLatency`, `SummaryOfLoopLatency` with one element per
//! loop label holding `TripCount`, `Latency`, `IterationLatency`,
//! `PipelineII`, `PipelineDepth` and nested loops; numbers or
//! `<range><min/><max/></range>` or `undef`) and `AreaEstimates`
//! (`Resources`: BRAM_18K, DSP48E, FF, LUT, URAM).
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use xlic_model::resources::{self, Device};

/// An XML element: name, text, children (attributes are not needed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }
    pub fn path(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, n| e.child(n))
    }
}

/// Parse a small XML document (what HLS writes: elements, text, empty
/// elements, declarations and comments; attributes skipped).
pub fn parse_xml(s: &str) -> Result<Element> {
    let b = s.as_bytes();
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            let j = s[i..].find('<').map_or(s.len(), |k| i + k);
            let text = s[i..j].trim();
            if !text.is_empty() {
                let top = stack.last_mut().unwrap();
                top.text.push_str(&unescape(text));
            }
            i = j;
            continue;
        }
        let end = s[i..].find('>').map(|k| i + k).context("unterminated tag")?;
        let tag = &s[i + 1..end];
        if tag.starts_with('?') || tag.starts_with('!') {
            // <?xml ...?>, <!-- ... -->
            if tag.starts_with("!--") {
                i = s[i..].find("-->").map(|k| i + k + 3).context("unterminated comment")?;
            } else {
                i = end + 1;
            }
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let e = stack.pop().context("closing tag without an opening one")?;
            if e.name != name.trim() {
                bail!("</{}> closes <{}>", name.trim(), e.name);
            }
            stack.last_mut().context("unbalanced tags")?.children.push(e);
        } else {
            let self_closing = tag.ends_with('/');
            let name = tag.trim_end_matches('/').split_whitespace().next().unwrap_or("").to_string();
            let e = Element { name, ..Default::default() };
            if self_closing {
                stack.last_mut().unwrap().children.push(e);
            } else {
                stack.push(e);
            }
        }
        i = end + 1;
    }
    if stack.len() != 1 {
        bail!("unclosed <{}>", stack.last().unwrap().name);
    }
    stack.pop().unwrap().children.into_iter().next().context("empty document")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// A number as HLS reports it: a value, a range (we keep its maximum) or
/// unknown.
fn number(e: Option<&Element>) -> Option<u64> {
    let e = e?;
    if let Some(max) = e.path(&["range", "max"]) {
        return max.text.trim().parse().ok();
    }
    e.text.trim().parse().ok()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Loop {
    /// Label path (outer/inner).
    pub name: String,
    pub trip_count: Option<u64>,
    pub latency: Option<u64>,
    pub iteration_latency: Option<u64>,
    pub ii: Option<u64>,
    pub depth: Option<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub module: String,
    pub version: String,
    pub part: String,
    pub target_ns: Option<f64>,
    /// The clock uncertainty the target reserves (12.5 % in script.tcl):
    /// the logic must close within target - uncertainty.
    pub uncertainty_ns: Option<f64>,
    pub estimated_ns: Option<f64>,
    pub latency: Option<u64>,
    pub loops: Vec<Loop>,
    /// BRAM_18K, DSP48E, FF, LUT, URAM.
    pub resources: BTreeMap<String, u64>,
    pub available: BTreeMap<String, u64>,
}

fn loops(e: &Element, prefix: &str, out: &mut Vec<Loop>) {
    const FIELDS: [&str; 6] = ["TripCount", "Latency", "IterationLatency", "PipelineII", "PipelineDepth", "unit"];
    for l in e.children.iter().filter(|c| !FIELDS.contains(&c.name.as_str())) {
        let name = if prefix.is_empty() { l.name.clone() } else { format!("{prefix}/{}", l.name) };
        out.push(Loop {
            name: name.clone(),
            trip_count: number(l.child("TripCount")),
            latency: number(l.child("Latency")),
            iteration_latency: number(l.child("IterationLatency")),
            ii: number(l.child("PipelineII")),
            depth: number(l.child("PipelineDepth")),
        });
        loops(l, &name, out);
    }
}

/// Read one csynth.xml.
pub fn parse_report(xml: &str) -> Result<Report> {
    let p = parse_xml(xml)?;
    if p.name != "profile" {
        bail!("not a Vivado HLS synthesis report (root <{}>)", p.name);
    }
    let text = |path: &[&str]| p.path(path).map(|e| e.text.trim().to_string()).unwrap_or_default();
    let float = |path: &[&str]| p.path(path).and_then(|e| e.text.trim().parse::<f64>().ok());
    let mut out = Vec::new();
    if let Some(l) = p.path(&["PerformanceEstimates", "SummaryOfLoopLatency"]) {
        loops(l, "", &mut out);
    }
    let table = |path: &[&str]| -> BTreeMap<String, u64> {
        p.path(path)
            .map(|r| r.children.iter().filter_map(|c| Some((c.name.clone(), c.text.trim().parse().ok()?))).collect())
            .unwrap_or_default()
    };
    Ok(Report {
        module: text(&["UserAssignments", "TopModelName"]),
        version: text(&["ReportVersion", "Version"]),
        part: text(&["UserAssignments", "Part"]),
        target_ns: float(&["UserAssignments", "TargetClockPeriod"]),
        uncertainty_ns: float(&["UserAssignments", "ClockUncertainty"]),
        estimated_ns: float(&["PerformanceEstimates", "SummaryOfTimingAnalysis", "EstimatedClockPeriod"]),
        latency: number(p.path(&["PerformanceEstimates", "SummaryOfOverallLatency", "Worst-caseLatency"])),
        loops: out,
        resources: table(&["AreaEstimates", "Resources"]),
        available: table(&["AreaEstimates", "AvailableResources"]),
    })
}

/// The II each pipelined loop of the kernel asks for, by label (from the
/// source: `label: for (...) { #pragma HLS PIPELINE II=N`).
pub fn pipeline_targets(src: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut label: Option<String> = None;
    let mut in_loop_head = false;
    for line in src.lines() {
        let t = line.trim();
        if let Some(l) = t.strip_suffix(':').filter(|l| l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !l.is_empty()) {
            label = Some(l.to_string());
            in_loop_head = false;
            continue;
        }
        if t.starts_with("for ") || t.starts_with("for(") {
            in_loop_head = label.is_some();
            continue;
        }
        if in_loop_head && t.starts_with("#pragma HLS PIPELINE") {
            let ii = t.split_whitespace().find_map(|w| w.strip_prefix("II=")).and_then(|v| v.parse().ok()).unwrap_or(1);
            m.insert(label.take().unwrap(), ii);
            in_loop_head = false;
        } else if !t.starts_with("#pragma") {
            in_loop_head = false;
            label = None;
        }
    }
    m
}

/// What the report says against the model and the budget: the lines to
/// print and the failures.
pub fn compare(reports: &[Report], targets: &BTreeMap<String, u64>, hw: &xlic_model::HwLimits, device: &Device) -> (Vec<String>, Vec<String>) {
    let (mut lines, mut fails) = (Vec::new(), Vec::new());
    let est = resources::estimate(hw);
    for r in reports {
        lines.push(format!(
            "{} (Vivado HLS {}, {}): clock {} ns estimated for {} ns, worst-case latency {}",
            r.module,
            r.version,
            r.part,
            r.estimated_ns.map_or("?".into(), |v| format!("{v:.3}")),
            r.target_ns.map_or("?".into(), |v| format!("{v:.2}")),
            r.latency.map_or("undef".into(), |v| v.to_string())
        ));
        if let (Some(e), Some(t)) = (r.estimated_ns, r.target_ns) {
            // The estimate must leave the uncertainty for routing.
            let u = r.uncertainty_ns.unwrap_or(0.0);
            if e > t - u {
                fails.push(format!("{}: estimated clock {e:.3} ns misses the {t:.2} ns target less its {u:.2} ns uncertainty ({:.2} ns)", r.module, t - u));
            }
        }
        for l in &r.loops {
            let label = l.name.rsplit('/').next().unwrap_or(&l.name);
            let target = targets.get(label).copied();
            lines.push(format!(
                "  loop {:<28} trips {:>8} latency {:>10} iteration {:>5} II {:>4}{}",
                l.name,
                l.trip_count.map_or("?".into(), |v| v.to_string()),
                l.latency.map_or("?".into(), |v| v.to_string()),
                l.iteration_latency.map_or("-".into(), |v| v.to_string()),
                l.ii.map_or("-".into(), |v| v.to_string()),
                target.map_or(String::new(), |t| format!(" (pragma II={t})"))
            ));
            match (target, l.ii) {
                (Some(t), Some(ii)) if ii > t => fails.push(format!("{}: loop {} achieved II={ii}, its pragma asks for II={t}", r.module, l.name)),
                (Some(t), None) => fails.push(format!("{}: loop {} was not pipelined (its pragma asks for II={t})", r.module, l.name)),
                _ => {}
            }
        }
    }
    // Resources: the top module's report holds the totals.
    if let Some(top) = reports.iter().find(|r| r.module == crate::regmap::TOP).or(reports.first()) {
        let get = |k: &[&str]| k.iter().find_map(|k| top.resources.get(*k).copied());
        let rows = [
            ("DSP48E2", get(&["DSP48E", "DSP"]), est.dsp(), resources::TARGET_DSP.min(device.dsp)),
            ("BRAM18", get(&["BRAM_18K"]), est.bram18(), (resources::TARGET_BRAM_FRACTION * device.bram18 as f64) as usize),
            ("LUT", get(&["LUT"]), est.lut(), (resources::TARGET_LUT_FRACTION * device.lut as f64) as usize),
        ];
        lines.push(format!("{:<10} {:>10} {:>10} {:>10}", "resource", "synthesis", "model", "budget"));
        for (name, syn, model, budget) in rows {
            lines.push(format!("{name:<10} {:>10} {model:>10} {budget:>10}", syn.map_or("?".into(), |v| v.to_string())));
            if let Some(v) = syn {
                if v as usize > budget {
                    fails.push(format!("{name}: synthesis uses {v}, over the budget of {budget}"));
                }
            }
        }
        if let Some(ff) = get(&["FF"]) {
            lines.push(format!("{:<10} {ff:>10}", "FF"));
        }
    }
    (lines, fails)
}

/// The reports of a solution folder: the top's first.
fn read_reports(dir: &Path) -> Result<Vec<Report>> {
    let rep = dir.join("syn").join("report");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&rep) {
        Ok(d) => d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.to_string_lossy().ends_with("csynth.xml")).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let r = parse_report(&text).with_context(|| f.display().to_string())?;
        if f.file_name().is_some_and(|n| n == "csynth.xml") {
            out.insert(0, r);
        } else if !out.iter().any(|x: &Report| x.module == r.module) {
            out.push(r);
        }
    }
    Ok(out)
}

/// `cargo xtask hls-report [DIR]`.
pub fn run(dir: Option<PathBuf>) -> Result<i32> {
    let hls = crate::repo_root().join("hls");
    let dir = dir.unwrap_or_else(|| hls.join("xlic_hls").join("solution1"));
    let reports = read_reports(&dir)?;
    if reports.is_empty() {
        let has_tool = std::process::Command::new("vivado_hls").arg("-version").output().is_ok_and(|o| o.status.success());
        if has_tool {
            println!("no synthesis report under {}: run `cd hls && vivado_hls -f script.tcl` first", dir.display());
        } else {
            println!(
                "vivado_hls is not installed here, and {} holds no synthesis report: on a machine with Vivado HLS 2019.2 run \
                 `cd hls && vivado_hls -f script.tcl`, then `cargo xtask hls-report hls/xlic_hls/solution1`",
                dir.display()
            );
        }
        return Ok(0);
    }
    let src = std::fs::read_to_string(hls.join("xlic_layer.cpp"))?;
    let (lines, fails) = compare(&reports, &pipeline_targets(&src), &crate::codec::HW, &accel_regs::BOARD.device);
    for l in &lines {
        println!("{l}");
    }
    // The exported register header against the one accel-regs is built from.
    let exported = dir.join("impl/ip/drivers/xlic_layer_v1_0/src/xxlic_layer_hw.h");
    let mut fails = fails;
    if let Ok(text) = std::fs::read_to_string(&exported) {
        let ours = std::fs::read_to_string(crate::regmap::header_path())?;
        if crate::regmap::defines(&text) == crate::regmap::defines(&ours) {
            println!("register map: the exported xxlic_layer_hw.h matches hls/xxlic_layer_hw.h");
        } else {
            fails.push(format!("register map: {} differs from hls/xxlic_layer_hw.h (copy it over and rebuild accel-regs)", exported.display()));
        }
    }
    for f in &fails {
        println!("FAIL: {f}");
    }
    println!("hls-report: {} module report(s), {} failure(s)", reports.len(), fails.len());
    Ok(if fails.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hand-written report in the structure of Vivado HLS 2019.x's
    /// csynth.xml (root `profile`, `ReportVersion`, `UserAssignments`,
    /// `PerformanceEstimates` with per-label loop elements, ranges and
    /// `undef`, `AreaEstimates` with DSP48E): not output of a real run.
    const FIXTURE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<profile>
<ReportVersion>
<Version>2019.2</Version>
</ReportVersion>
<UserAssignments>
<unit>ns</unit>
<ProductFamily>zynquplus</ProductFamily>
<Part>xczu9eg-ffvb1156-2-e</Part>
<TopModelName>mac_call</TopModelName>
<TargetClockPeriod>4.00</TargetClockPeriod>
<ClockUncertainty>0.50</ClockUncertainty>
</UserAssignments>
<PerformanceEstimates>
<PipelineType>none</PipelineType>
<SummaryOfTimingAnalysis>
<unit>ns</unit>
<EstimatedClockPeriod>3.421</EstimatedClockPeriod>
</SummaryOfTimingAnalysis>
<SummaryOfOverallLatency>
<unit>clock cycles</unit>
<Best-caseLatency>2</Best-caseLatency>
<Average-caseLatency>undef</Average-caseLatency>
<Worst-caseLatency>20759</Worst-caseLatency>
<Interval-min>2</Interval-min>
<Interval-max>20759</Interval-max>
</SummaryOfOverallLatency>
<SummaryOfLoopLatency>
<mac>
<TripCount>
<range>
<min>8</min>
<max>20736</max>
</range>
</TripCount>
<Latency>
<range>
<min>31</min>
<max>20759</max>
</range>
</Latency>
<PipelineII>2</PipelineII>
<PipelineDepth>24</PipelineDepth>
</mac>
<outer>
<TripCount>4</TripCount>
<Latency>undef</Latency>
<IterationLatency>12</IterationLatency>
<inner>
<TripCount>3</TripCount>
<Latency>6</Latency>
<PipelineII>1</PipelineII>
<PipelineDepth>2</PipelineDepth>
</inner>
</outer>
</SummaryOfLoopLatency>
</PerformanceEstimates>
<AreaEstimates>
<Resources>
<BRAM_18K>0</BRAM_18K>
<DSP48E>2400</DSP48E>
<FF>91234</FF>
<LUT>61234</LUT>
<URAM>0</URAM>
</Resources>
<AvailableResources>
<BRAM_18K>1824</BRAM_18K>
<DSP48E>2520</DSP48E>
<FF>548160</FF>
<LUT>274080</LUT>
<URAM>0</URAM>
</AvailableResources>
</AreaEstimates>
<!-- InterfaceSummary left out -->
<InterfaceSummary/>
</profile>
"#;

    #[test]
    fn the_report_parser_reads_loops_ranges_and_resources() {
        let r = parse_report(FIXTURE).unwrap();
        assert_eq!((r.module.as_str(), r.version.as_str(), r.part.as_str()), ("mac_call", "2019.2", "xczu9eg-ffvb1156-2-e"));
        assert_eq!((r.target_ns, r.estimated_ns, r.latency), (Some(4.0), Some(3.421), Some(20759)));
        let names: Vec<&str> = r.loops.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["mac", "outer", "outer/inner"]);
        assert_eq!((r.loops[0].trip_count, r.loops[0].ii, r.loops[0].depth), (Some(20736), Some(2), Some(24)));
        assert_eq!((r.loops[1].latency, r.loops[1].iteration_latency, r.loops[1].ii), (None, Some(12), None));
        assert_eq!(r.resources["DSP48E"], 2400);
        assert_eq!(r.available["BRAM_18K"], 1824);
        assert!(parse_report("<profile><a></b></profile>").is_err());
        assert!(parse_report("<Report/>").is_err());
    }

    #[test]
    fn missed_ii_and_budget_fail() {
        let r = parse_report(FIXTURE).unwrap();
        let targets = pipeline_targets("mac:\n    for (int i = 0; i < n; i++) {\n#pragma HLS PIPELINE II=1\n");
        assert_eq!(targets.get("mac"), Some(&1));
        let (lines, fails) = compare(&[r], &targets, &crate::codec::HW, &Device::XCZU9EG);
        assert!(lines.iter().any(|l| l.contains("loop mac") && l.contains("II    2 (pragma II=1)")), "{lines:#?}");
        assert!(fails.iter().any(|f| f.contains("loop mac achieved II=2")), "{fails:?}");
        assert!(fails.iter().any(|f| f.contains("DSP48E2: synthesis uses 2400")), "{fails:?}");
        assert_eq!(fails.len(), 2, "{fails:?}");
        // 3.6 ns meets 4 ns but not 4 ns less the 0.5 ns uncertainty.
        let slow = parse_report(&FIXTURE.replace("<EstimatedClockPeriod>3.421", "<EstimatedClockPeriod>3.600")).unwrap();
        assert_eq!(slow.uncertainty_ns, Some(0.5));
        let (_, fails) = compare(&[slow], &targets, &crate::codec::HW, &Device::XCZU9EG);
        assert!(fails.iter().any(|f| f.contains("3.600 ns misses the 4.00 ns target less its 0.50 ns")), "{fails:?}");
    }

    /// The kernel's pipelined loops are all found, with the II they ask for.
    #[test]
    fn the_kernels_pipeline_targets() {
        let src = std::fs::read_to_string(crate::repo_root().join("hls/xlic_layer.cpp")).unwrap();
        let t = pipeline_targets(&src);
        for l in ["mac", "burst_in", "burst_w", "burst_out", "out_pixels", "zero_cols"] {
            assert_eq!(t.get(l), Some(&1), "{l}: {t:?}");
        }
    }
}
