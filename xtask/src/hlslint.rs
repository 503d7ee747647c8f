//! `cargo xtask hls-lint`: a static checker for the HLS kernel. It reads
//! hls/xlic_layer.cpp (with hls/xlic_layer.h and hls/xlic_config.h for
//! macros) as Vivado HLS 2019.2 would compile it for synthesis: the
//! preprocessor with `__SYNTHESIS__` defined, C-simulation-only branches
//! and no-op macros (asserts, counters) dropped. Then it checks what can
//! be seen statically (hls-patterns.md, checklist of section 3):
//!
//! - `int64`: no 64-bit integer (nor floating-point) type in the kernel;
//! - `division`: `/` and `%` only by a constant;
//! - `pragma-placement`: PIPELINE, UNROLL and DEPENDENCE inside the body of
//!   a loop, and a DEPENDENCE naming a variable that loop uses;
//! - `partition-target`: ARRAY_PARTITION / ARRAY_RESHAPE name an array of
//!   the function they sit in, and a dimension it has;
//! - `static-banking`: in an unrolled loop, an access to a partitioned
//!   array whose bank depends on the unrolled variables has no run-time
//!   term in any partitioned subscript (the bank is fixed at compile
//!   time; run-time terms belong in the address). Register arrays (every
//!   dimension partitioned) are exempt: indexing them is a mux;
//! - `axi-settings`: every m_axi port sets its outstanding transactions
//!   and burst lengths in both directions;
//! - `shared-bundle`: calls in one basic block (which the scheduler may
//!   overlap) do not reach the same m_axi bundle.
//!
//! It is a checker for this kernel's dialect of C++, not a C++ front end:
//! statements, blocks, loops and declarations of the usual forms.
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    Int64,
    Division,
    PragmaPlacement,
    PartitionTarget,
    StaticBanking,
    AxiSettings,
    SharedBundle,
    StreamWrites,
    MemoryCore,
    HelperInline,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Int64 => "int64",
            Rule::Division => "division",
            Rule::PragmaPlacement => "pragma-placement",
            Rule::PartitionTarget => "partition-target",
            Rule::StaticBanking => "static-banking",
            Rule::AxiSettings => "axi-settings",
            Rule::SharedBundle => "shared-bundle",
            Rule::StreamWrites => "stream-writes",
            Rule::MemoryCore => "memory-core",
            Rule::HelperInline => "helper-inline",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: Rule,
    pub line: usize,
    pub message: String,
}

// ---------------------------------------------------------------------------
// Preprocessing.

/// Comments removed (strings kept), line breaks preserved.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                if b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' || b[i] == b'\'' {
            let q = b[i];
            out.push(b[i] as char);
            i += 1;
            while i < b.len() && b[i] != q {
                if b[i] == b'\\' {
                    out.push(b[i] as char);
                    i += 1;
                }
                if i < b.len() {
                    out.push(b[i] as char);
                }
                i += 1;
            }
            if i < b.len() {
                out.push(q as char);
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Macros: object-like with their text, and function-like that expand to
/// nothing under synthesis (dropped with their arguments).
#[derive(Default, Clone)]
pub struct Macros {
    pub values: HashMap<String, String>,
    pub noop_calls: BTreeSet<String>,
}

impl Macros {
    /// The integer value of a constant expression of literals and macros.
    pub fn eval(&self, expr: &str) -> Option<i64> {
        let toks = tokenize(expr, 1);
        let mut p = ExprParser { t: &toks, i: 0, m: self, depth: 0 };
        let v = p.expr()?;
        (p.i == toks.len()).then_some(v)
    }
}

struct ExprParser<'a> {
    t: &'a [Tok],
    i: usize,
    m: &'a Macros,
    depth: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&str> {
        self.t.get(self.i).map(|t| t.text.as_str())
    }
    fn expr(&mut self) -> Option<i64> {
        self.binary(0)
    }
    fn binary(&mut self, level: usize) -> Option<i64> {
        const LEVELS: [&[&str]; 4] = [&["<<", ">>"], &["+", "-"], &["*", "/", "%"], &[]];
        if level == 3 {
            return self.unary();
        }
        let mut v = self.binary(level + 1)?;
        while let Some(op) = self.peek().filter(|o| LEVELS[level].contains(o)).map(str::to_string) {
            self.i += 1;
            let r = self.binary(level + 1)?;
            v = match op.as_str() {
                "<<" => v.checked_shl(r as u32)?,
                ">>" => v >> r,
                "+" => v + r,
                "-" => v - r,
                "*" => v * r,
                "/" => v.checked_div(r)?,
                _ => v.checked_rem(r)?,
            };
        }
        Some(v)
    }
    fn unary(&mut self) -> Option<i64> {
        let t = self.t.get(self.i)?.clone();
        self.i += 1;
        match t.text.as_str() {
            "-" => Some(-self.unary()?),
            "(" => {
                let v = self.expr()?;
                (self.peek() == Some(")")).then(|| self.i += 1)?;
                Some(v)
            }
            s if t.kind == Kind::Number => parse_int(s),
            s if t.kind == Kind::Ident => {
                self.depth += 1;
                let text = self.m.values.get(s)?.clone();
                if self.depth > 16 {
                    return None;
                }
                let v = self.m.eval(&text);
                self.depth -= 1;
                v
            }
            _ => None,
        }
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let s = s.trim_end_matches(['u', 'U', 'l', 'L']);
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => i64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Evaluate a `#if` condition: `defined(X)`, `!`, `&&`, `||`, and numbers.
fn eval_condition(cond: &str, defined: &dyn Fn(&str) -> bool) -> bool {
    let toks = tokenize(cond, 1);
    fn or(t: &[Tok], i: &mut usize, d: &dyn Fn(&str) -> bool) -> bool {
        let mut v = and(t, i, d);
        while t.get(*i).is_some_and(|x| x.text == "||") {
            *i += 1;
            v |= and(t, i, d);
        }
        v
    }
    fn and(t: &[Tok], i: &mut usize, d: &dyn Fn(&str) -> bool) -> bool {
        let mut v = not(t, i, d);
        while t.get(*i).is_some_and(|x| x.text == "&&") {
            *i += 1;
            v &= not(t, i, d);
        }
        v
    }
    fn not(t: &[Tok], i: &mut usize, d: &dyn Fn(&str) -> bool) -> bool {
        match t.get(*i).map(|x| x.text.as_str()) {
            Some("!") => {
                *i += 1;
                !not(t, i, d)
            }
            Some("(") => {
                *i += 1;
                let v = or(t, i, d);
                *i += 1;
                v
            }
            Some("defined") => {
                *i += 1;
                let paren = t.get(*i).is_some_and(|x| x.text == "(");
                if paren {
                    *i += 1;
                }
                let name = t.get(*i).map(|x| x.text.clone()).unwrap_or_default();
                *i += 1;
                if paren {
                    *i += 1;
                }
                d(&name)
            }
            Some(s) => {
                *i += 1;
                // A number, or a macro's value (an unknown name is 0, as
                // the C preprocessor has it).
                match parse_int(s) {
                    Some(v) => v != 0,
                    None => d(&format!("={s}")),
                }
            }
            None => true,
        }
    }
    let mut i = 0;
    or(&toks, &mut i, defined)
}

/// Run the preprocessor over `src` as synthesis sees it: returns the text
/// of the active lines (inactive ones blank, so line numbers hold) and
/// adds the macros it defines to `macros`.
pub fn preprocess(src: &str, macros: &mut Macros) -> String {
    let src = strip_comments(src);
    let mut out = String::with_capacity(src.len());
    // (this branch active, some branch taken, parent active)
    let mut stack: Vec<(bool, bool, bool)> = Vec::new();
    let active = |s: &Vec<(bool, bool, bool)>| s.last().is_none_or(|t| t.0);
    let mut lines = src.lines().peekable();
    while let Some(line) = lines.next() {
        // Line continuations join (keep the count of lines).
        let mut line = line.to_string();
        let mut extra = 0;
        while line.ends_with('\\') {
            line.pop();
            if let Some(next) = lines.next() {
                line.push(' ');
                line.push_str(next);
                extra += 1;
            }
        }
        let t = line.trim_start();
        if let Some(d) = t.strip_prefix('#') {
            let d = d.trim_start();
            let (word, rest) = d.split_once(char::is_whitespace).unwrap_or((d, ""));
            let rest = rest.trim();
            let on = active(&stack);
            // `=NAME` asks for NAME's value as a condition (eval_condition).
            let defined = |n: &str| match n.strip_prefix('=') {
                Some(name) => macros.values.get(name).is_some_and(|v| v.trim() != "0" && !v.trim().is_empty()),
                None => n == "__SYNTHESIS__" || macros.values.contains_key(n) || macros.noop_calls.contains(n),
            };
            match word {
                "if" | "ifdef" | "ifndef" => {
                    let v = match word {
                        "ifdef" => defined(rest),
                        "ifndef" => !defined(rest),
                        _ => eval_condition(rest, &defined),
                    };
                    stack.push((on && v, v, on));
                }
                "elif" => {
                    if let Some(top) = stack.last_mut() {
                        let v = !top.1 && eval_condition(rest, &defined);
                        top.0 = top.2 && v;
                        top.1 |= v;
                    }
                }
                "else" => {
                    if let Some(top) = stack.last_mut() {
                        top.0 = top.2 && !top.1;
                        top.1 = true;
                    }
                }
                "endif" => {
                    stack.pop();
                }
                "define" if on => {
                    let (name, body) = rest.split_once(|c: char| c.is_whitespace()).unwrap_or((rest, ""));
                    if let Some((fname, _)) = name.split_once('(') {
                        let b = body.trim();
                        if b.is_empty() || b == "((void)0)" || b == "(void)0" {
                            macros.noop_calls.insert(fname.to_string());
                        }
                    } else {
                        macros.values.insert(name.to_string(), body.trim().to_string());
                    }
                }
                "pragma" if on => out.push_str(&line),
                _ => {}
            }
        } else if active(&stack) {
            out.push_str(&line);
        }
        out.push('\n');
        for _ in 0..extra {
            out.push('\n');
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Tokens.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    Number,
    Punct,
    Str,
    Pragma,
}

#[derive(Clone, Debug)]
struct Tok {
    kind: Kind,
    text: String,
    line: usize,
}

fn tokenize(src: &str, first_line: usize) -> Vec<Tok> {
    const OPS: [&str; 24] = [
        "<<=", ">>=", "::", "->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=", "*=", "/=", "%=", "&=", "|=",
        "^=", "...", "##",
    ];
    let mut v = Vec::new();
    let mut line = first_line;
    for l in src.lines() {
        let t = l.trim_start();
        if t.starts_with("#pragma") {
            v.push(Tok { kind: Kind::Pragma, text: t.to_string(), line });
            line += 1;
            continue;
        }
        let b = l.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let c = b[i] as char;
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_alphabetic() || c == '_' {
                let s = i;
                while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                v.push(Tok { kind: Kind::Ident, text: l[s..i].to_string(), line });
            } else if c.is_ascii_digit() {
                let s = i;
                while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'.') {
                    i += 1;
                }
                v.push(Tok { kind: Kind::Number, text: l[s..i].to_string(), line });
            } else if c == '"' || c == '\'' {
                let s = i;
                i += 1;
                while i < b.len() && b[i] as char != c {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                v.push(Tok { kind: Kind::Str, text: l[s..i].to_string(), line });
            } else {
                let op = OPS.iter().find(|o| l[i..].starts_with(*o));
                let n = op.map_or(1, |o| o.len());
                v.push(Tok { kind: Kind::Punct, text: l[i..i + n].to_string(), line });
                i += n;
            }
        }
        line += 1;
    }
    v
}

/// Drop the calls of macros that expand to nothing (and their arguments).
fn drop_noop_calls(t: Vec<Tok>, m: &Macros) -> Vec<Tok> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i].kind == Kind::Ident && m.noop_calls.contains(&t[i].text) && t.get(i + 1).is_some_and(|x| x.text == "(") {
            let close = matching(&t, i + 1);
            i = close + 1;
            continue;
        }
        out.push(t[i].clone());
        i += 1;
    }
    out
}

/// Index of the bracket closing the one at `open`.
fn matching(t: &[Tok], open: usize) -> usize {
    let (o, c) = match t[open].text.as_str() {
        "(" => ("(", ")"),
        "[" => ("[", "]"),
        _ => ("{", "}"),
    };
    let mut depth = 0;
    for (j, tok) in t.iter().enumerate().skip(open) {
        if tok.kind != Kind::Punct {
            continue;
        }
        if tok.text == o {
            depth += 1;
        } else if tok.text == c {
            depth -= 1;
            if depth == 0 {
                return j;
            }
        }
    }
    t.len() - 1
}

/// Split `t` at top-level commas.
fn split_commas(t: &[Tok]) -> Vec<&[Tok]> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (j, tok) in t.iter().enumerate() {
        match tok.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "<" if tok.kind == Kind::Punct => depth += 1,
            ">" if tok.kind == Kind::Punct && depth > 0 => depth -= 1,
            "," if depth == 0 => {
                parts.push(&t[start..j]);
                start = j + 1;
            }
            _ => {}
        }
    }
    if start < t.len() {
        parts.push(&t[start..]);
    }
    parts
}

// ---------------------------------------------------------------------------
// Structure: functions, their parameters, arrays, loops, blocks.

const KEYWORDS: [&str; 14] =
    ["if", "for", "while", "switch", "return", "sizeof", "else", "do", "case", "static", "const", "template", "typedef", "struct"];

#[derive(Clone, Debug, Default)]
struct Array {
    rank: usize,
    /// Per dimension: partitioned (cyclic/block/complete) or reshaped.
    partitioned: Vec<bool>,
    reshaped: Vec<bool>,
}

impl Array {
    fn registers(&self) -> bool {
        self.rank > 0 && self.partitioned.iter().all(|&p| p)
    }
    fn any_partitioned(&self) -> bool {
        self.partitioned.iter().any(|&p| p)
    }
}

#[derive(Debug)]
struct Function {
    name: String,
    params: Vec<(String, usize, bool)>, // name, array rank, pointer
    body: (usize, usize),               // token range of the body, braces included
}

fn functions(t: &[Tok]) -> Vec<Function> {
    let mut v = Vec::new();
    let mut i = 0;
    let mut depth = 0;
    while i < t.len() {
        let tok = &t[i];
        match tok.text.as_str() {
            "{" if tok.kind == Kind::Punct => depth += 1,
            "}" if tok.kind == Kind::Punct => depth -= 1,
            "(" if depth == 0 && i > 0 && t[i - 1].kind == Kind::Ident && !KEYWORDS.contains(&t[i - 1].text.as_str()) => {
                let close = matching(t, i);
                let mut j = close + 1;
                while t.get(j).is_some_and(|x| x.text == "const") {
                    j += 1;
                }
                if t.get(j).is_some_and(|x| x.text == "{") {
                    let end = matching(t, j);
                    let params = split_commas(&t[i + 1..close])
                        .into_iter()
                        .filter_map(|p| {
                            // The name is the last identifier before the dimensions.
                            let cut = p.iter().position(|x| x.text == "[").unwrap_or(p.len());
                            let name_at = p[..cut].iter().rposition(|x| x.kind == Kind::Ident)?;
                            let rank = p[cut..].iter().filter(|x| x.text == "[").count();
                            let ptr = p[..name_at].iter().any(|x| x.text == "*");
                            Some((p[name_at].text.clone(), rank, ptr))
                        })
                        .collect();
                    v.push(Function { name: t[i - 1].text.clone(), params, body: (j, end) });
                    i = end + 1;
                    continue;
                }
                i = close;
            }
            _ => {}
        }
        i += 1;
    }
    v
}

/// The words of a pragma line after `#pragma HLS`, and its key=value
/// options (keys lower-case).
fn pragma_parts(text: &str) -> (String, BTreeMap<String, String>, Vec<String>) {
    let words: Vec<&str> = text.split_whitespace().collect();
    let kind = words.get(2).map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    let mut opts = BTreeMap::new();
    let mut flags = Vec::new();
    for w in words.iter().skip(3) {
        match w.split_once('=') {
            Some((k, v)) => {
                opts.insert(k.to_ascii_lowercase(), v.to_string());
            }
            None => flags.push(w.to_ascii_lowercase()),
        }
    }
    (kind, opts, flags)
}

// ---------------------------------------------------------------------------
// The checks.

/// What an expression's value depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Deps {
    unrolled: bool,
    runtime: bool,
}

impl Deps {
    fn or(self, o: Deps) -> Deps {
        Deps { unrolled: self.unrolled || o.unrolled, runtime: self.runtime || o.runtime }
    }
}

struct Scope {
    kind: ScopeKind,
    end: usize,
    /// Loop variable, and whether the loop is unrolled / pipelined.
    var: Option<String>,
    unrolled: bool,
    pipelined: bool,
    /// Calls made directly in this block, with their lines.
    calls: Vec<(String, Vec<String>, usize)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeKind {
    Block,
    Loop,
}

/// Lint one kernel: `src` is the .cpp, `headers` the headers it includes
/// (their macros and declarations count; findings are reported only in
/// `src`).
pub fn lint(src: &str, headers: &[&str]) -> Vec<Finding> {
    let mut macros = Macros::default();
    for h in headers {
        let _ = preprocess(h, &mut macros);
    }
    let text = preprocess(src, &mut macros);
    let toks = drop_noop_calls(tokenize(&text, 1), &macros);
    let mut findings = Vec::new();
    let mut find = |rule: Rule, line: usize, message: String| findings.push(Finding { rule, line, message });

    // int64: 64-bit integer and floating-point types.
    for (i, t) in toks.iter().enumerate() {
        let two = |a: &str, b: &str| t.text == a && toks.get(i + 1).is_some_and(|n| n.text == b);
        if t.kind == Kind::Ident
            && (matches!(t.text.as_str(), "int64_t" | "uint64_t" | "double" | "float" | "size_t" | "intmax_t") || two("long", "long") || two("long", "int"))
        {
            find(Rule::Int64, t.line, format!("`{}`: 64-bit or floating-point type in the kernel (size every value from the format)", t.text));
        }
    }

    // division: / and % by a non-constant.
    for (i, t) in toks.iter().enumerate() {
        if t.kind != Kind::Punct || !matches!(t.text.as_str(), "/" | "%" | "/=" | "%=") {
            continue;
        }
        let rhs_end = match toks.get(i + 1).map(|x| x.text.as_str()) {
            Some("(") => matching(&toks, i + 1) + 1,
            Some(_) => i + 2,
            None => i + 1,
        };
        let rhs: String = toks[i + 1..rhs_end.min(toks.len())].iter().map(|x| x.text.as_str()).collect::<Vec<_>>().join(" ");
        if macros.eval(&rhs).is_none() {
            find(Rule::Division, t.line, format!("`{} {rhs}`: division by a run-time value builds a divider; divide by a constant, shift or count", t.text));
        }
    }

    let funcs = functions(&toks);
    let fnames: BTreeSet<&str> = funcs.iter().map(|f| f.name.as_str()).collect();

    // axi-settings and the top function's ports.
    let mut port_bundle: HashMap<String, String> = HashMap::new();
    for t in toks.iter().filter(|t| t.kind == Kind::Pragma) {
        let (kind, opts, flags) = pragma_parts(&t.text);
        if kind == "INTERFACE" && flags.iter().any(|f| f == "m_axi") {
            let port = opts.get("port").cloned().unwrap_or_default();
            for k in ["num_read_outstanding", "num_write_outstanding", "max_read_burst_length", "max_write_burst_length"] {
                if !opts.contains_key(k) {
                    find(Rule::AxiSettings, t.line, format!("m_axi port {port} does not set {k} (the default FIFOs cost BRAM the budget leaves out)"));
                }
            }
            port_bundle.insert(port.clone(), opts.get("bundle").cloned().unwrap_or(port));
        }
    }

    // Per function: arrays, partitions, loops, accesses, calls.
    // Arrays: file-scope ones (visible everywhere), then each function's
    // parameters and locals; partition pragmas apply to the array they
    // name in their function, or to the file-scope one.
    let mut globals: HashMap<String, Array> = HashMap::new();
    {
        let mut i = 0;
        let mut f = funcs.iter().peekable();
        while i < toks.len() {
            if let Some(g) = f.peek() {
                if i >= g.body.0 {
                    i = g.body.1 + 1;
                    f.next();
                    continue;
                }
            }
            if let Some((names, end)) = declaration(&toks, i, toks.len()) {
                for (n, rank, _) in names {
                    if rank > 0 {
                        globals.insert(n, Array { rank, partitioned: vec![false; rank], reshaped: vec![false; rank] });
                    }
                }
                i = end + 1;
            } else {
                i += 1;
            }
        }
    }
    let mut arrays_of: HashMap<String, HashMap<String, Array>> = HashMap::new();
    for f in &funcs {
        let mut arrays: HashMap<String, Array> = HashMap::new();
        for (name, rank, _) in &f.params {
            if *rank > 0 {
                arrays.insert(name.clone(), Array { rank: *rank, partitioned: vec![false; *rank], reshaped: vec![false; *rank] });
            }
        }
        let (b0, b1) = f.body;
        // Declarations of arrays.
        let mut i = b0 + 1;
        while i < b1 {
            if let Some((names, end)) = declaration(&toks, i, b1) {
                for (n, rank, _) in names {
                    if rank > 0 {
                        arrays.insert(n, Array { rank, partitioned: vec![false; rank], reshaped: vec![false; rank] });
                    }
                }
                i = end + 1;
            } else {
                i += 1;
            }
        }
        // Partition pragmas.
        for t in toks[b0..b1].iter().filter(|t| t.kind == Kind::Pragma) {
            let (kind, opts, flags) = pragma_parts(&t.text);
            if kind != "ARRAY_PARTITION" && kind != "ARRAY_RESHAPE" {
                continue;
            }
            let var = opts.get("variable").cloned().unwrap_or_default();
            let dim = opts.get("dim").and_then(|d| macros.eval(d)).unwrap_or(1) as usize;
            let a = match arrays.get_mut(&var) {
                Some(a) => a,
                None => match globals.get_mut(&var) {
                    Some(a) => a,
                    None => {
                        find(Rule::PartitionTarget, t.line, format!("{kind} of `{var}`, which is no array of {}", f.name));
                        continue;
                    }
                },
            };
            if dim > a.rank {
                find(Rule::PartitionTarget, t.line, format!("{kind} of `{var}` dim={dim}, but it has {} dimensions", a.rank));
                continue;
            }
            let complete = flags.iter().any(|x| x == "complete") || opts.get("type").is_some_and(|x| x == "complete");
            let dims: Vec<usize> = if dim == 0 { (0..a.rank).collect() } else { vec![dim - 1] };
            for d in dims {
                if kind == "ARRAY_RESHAPE" && complete {
                    a.reshaped[d] = true;
                } else {
                    a.partitioned[d] = true;
                }
            }
        }
        arrays_of.insert(f.name.clone(), arrays);
    }
    for arrays in arrays_of.values_mut() {
        for (n, a) in &globals {
            arrays.entry(n.clone()).or_insert_with(|| a.clone());
        }
    }
    // Every call of a kernel function: caller, callee, argument tokens.
    let mut sites: Vec<(&Function, &Function, Vec<&[Tok]>)> = Vec::new();
    for f in &funcs {
        for i in f.body.0..f.body.1 {
            if toks[i].kind != Kind::Ident {
                continue;
            }
            let (Some(callee), Some(open)) = (funcs.iter().find(|g| g.name == toks[i].text), call_open(&toks, i)) else { continue };
            sites.push((f, callee, split_commas(&toks[open + 1..matching(&toks, open)])));
        }
    }
    // Partitioning follows arrays into the functions they are passed to.
    for _ in 0..8 {
        let mut changed = false;
        for (f, callee, args) in &sites {
            for (k, arg) in args.iter().enumerate() {
                // `name` or a slice `name[i]...`: the dimensions left.
                let Some((pname, _, _)) = callee.params.get(k) else { continue };
                let Some(a) = arg.first().filter(|a| a.kind == Kind::Ident) else { continue };
                let mut n = 0;
                let mut j = 1;
                while arg.get(j).is_some_and(|x| x.text == "[") {
                    j = matching(arg, j) + 1;
                    n += 1;
                }
                if j != arg.len() {
                    continue;
                }
                let Some(mut src_arr) = arrays_of[&f.name].get(&a.text).cloned() else { continue };
                if n > 0 {
                    if n >= src_arr.rank {
                        continue;
                    }
                    src_arr = Array { rank: src_arr.rank - n, partitioned: src_arr.partitioned[n..].to_vec(), reshaped: src_arr.reshaped[n..].to_vec() };
                }
                let dst = arrays_of.get_mut(&callee.name).unwrap().get_mut(pname);
                if let Some(d) = dst {
                    if d.rank == src_arr.rank && (d.partitioned != src_arr.partitioned || d.reshaped != src_arr.reshaped) {
                        let (p, r) = (
                            d.partitioned.iter().zip(&src_arr.partitioned).map(|(x, y)| *x || *y).collect(),
                            d.reshaped.iter().zip(&src_arr.reshaped).map(|(x, y)| *x || *y).collect(),
                        );
                        if p != d.partitioned || r != d.reshaped {
                            d.partitioned = p;
                            d.reshaped = r;
                            changed = true;
                        }
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }

    // Bundles each function reaches: its pointer parameters bound to the
    // top's m_axi ports, through the calls.
    let mut reach: HashMap<String, HashMap<String, BTreeSet<String>>> = HashMap::new(); // function -> param -> bundles
    for f in &funcs {
        let mut m = HashMap::new();
        for (p, _, ptr) in &f.params {
            if let (true, Some(b)) = (*ptr, port_bundle.get(p)) {
                m.insert(p.clone(), BTreeSet::from([b.clone()]));
            }
        }
        reach.insert(f.name.clone(), m);
    }
    for _ in 0..8 {
        let mut changed = false;
        for (f, callee, args) in &sites {
            for (k, arg) in args.iter().enumerate() {
                let (Some((pname, _, true)), [a]) = (callee.params.get(k), arg) else { continue };
                let Some(bs) = reach[&f.name].get(&a.text).cloned() else { continue };
                let e = reach.get_mut(&callee.name).unwrap().entry(pname.clone()).or_default();
                let before = e.len();
                e.extend(bs);
                changed |= e.len() != before;
            }
        }
        if !changed {
            break;
        }
    }
    // Which bundles a call uses: those of the pointer arguments it passes
    // that its callee reaches.
    let call_bundles = |caller: &str, callee: &str, args: &[String]| -> BTreeSet<String> {
        let mut s = BTreeSet::new();
        if let Some(g) = funcs.iter().find(|g| g.name == callee) {
            for (k, a) in args.iter().enumerate() {
                if let (Some((pname, _, true)), Some(bs)) = (g.params.get(k), reach[caller].get(a)) {
                    if reach[callee].contains_key(pname) {
                        s.extend(bs.iter().cloned());
                    }
                }
            }
        }
        s
    };

    // memory-core: every static array (a memory of the design) names the
    // RESOURCE core the resource model counts it in (block RAM port mode,
    // LUTRAM, UltraRAM); left to the tool, a bank may become true dual-port
    // (twice the RAMB18 of simple dual-port) or a block RAM the model
    // counts as LUTRAM.
    let cores: BTreeSet<String> = toks
        .iter()
        .filter(|t| t.kind == Kind::Pragma)
        .map(|t| pragma_parts(&t.text))
        .filter(|(k, _, _)| k == "RESOURCE")
        .filter_map(|(_, o, _)| o.get("variable").cloned())
        .collect();
    for f in &funcs {
        let (b0, b1) = f.body;
        let mut k = b0;
        while k < b1 {
            if toks[k].text == "static" {
                let end = (k..b1).find(|&j| toks[j].text == ";").unwrap_or(b1);
                for j in k..end {
                    if toks[j].kind == Kind::Ident && toks.get(j + 1).is_some_and(|x| x.text == "[") && !cores.contains(&toks[j].text) {
                        find(Rule::MemoryCore, toks[j].line, format!("static array `{}` has no RESOURCE pragma naming its memory core", toks[j].text));
                    }
                }
                k = end;
            }
            k += 1;
        }
    }

    for f in &funcs {
        let arrays = &arrays_of[&f.name];
        let (b0, b1) = f.body;
        let mut scopes: Vec<Scope> = vec![Scope { kind: ScopeKind::Block, end: b1, var: None, unrolled: false, pipelined: false, calls: Vec::new() }];
        let mut locals: HashMap<String, Deps> = HashMap::new();
        for (p, _, _) in &f.params {
            locals.insert(p.clone(), Deps { unrolled: false, runtime: true });
        }
        let mut i = b0 + 1;
        while i < b1 {
            // Close finished scopes, checking their blocks' calls.
            while scopes.len() > 1 && i > scopes.last().unwrap().end {
                let s = scopes.pop().unwrap();
                shared_bundles(&f.name, &s.calls, &call_bundles, &mut find);
            }
            let t = &toks[i];
            match (t.kind, t.text.as_str()) {
                (Kind::Pragma, _) => {
                    let (kind, opts, _) = pragma_parts(&t.text);
                    if matches!(kind.as_str(), "PIPELINE" | "UNROLL" | "DEPENDENCE") {
                        let top = scopes.last().unwrap();
                        if top.kind != ScopeKind::Loop {
                            find(Rule::PragmaPlacement, t.line, format!("{kind} outside a loop body (in {}): it applies to no loop", f.name));
                        } else if kind == "DEPENDENCE" {
                            let var = opts.get("variable").cloned().unwrap_or_default();
                            if !toks[i..top.end].iter().any(|x| x.kind == Kind::Ident && x.text == var) {
                                find(Rule::PragmaPlacement, t.line, format!("DEPENDENCE on `{var}`, which the loop it sits in does not use"));
                            }
                        }
                        if kind == "PIPELINE" && top.kind == ScopeKind::Loop {
                            // stream-writes: one write site per stream per
                            // iteration, or the FIFO writes serialise (II=2).
                            let end = top.end;
                            let mut sites: BTreeMap<&str, usize> = BTreeMap::new();
                            for j in i..end.saturating_sub(3) {
                                if toks[j].kind == Kind::Ident && toks[j + 1].text == "." && toks[j + 2].text == "write" && toks[j + 3].text == "(" {
                                    *sites.entry(toks[j].text.as_str()).or_default() += 1;
                                }
                            }
                            for (name, n) in sites.into_iter().filter(|e| e.1 > 1) {
                                find(Rule::StreamWrites, t.line, format!("stream `{name}` has {n} write sites in one iteration of this pipelined loop: mux the data into one write"));
                            }
                            scopes.last_mut().unwrap().pipelined = true;
                        }
                        if kind == "UNROLL" {
                            scopes.last_mut().unwrap().unrolled = true;
                            if let Some(v) = scopes.last().unwrap().var.clone() {
                                locals.insert(v, Deps { unrolled: true, runtime: false });
                            }
                        }
                    }
                    i += 1;
                    continue;
                }
                (Kind::Ident, "for") | (Kind::Ident, "while") => {
                    let open = i + 1;
                    let close = matching(&toks, open);
                    // for (int v = ...; ...; ...)
                    let var = (t.text == "for")
                        .then(|| {
                            let head = &toks[open + 1..close];
                            let eq = head.iter().position(|x| x.text == "=")?;
                            (eq >= 1 && head[eq - 1].kind == Kind::Ident).then(|| head[eq - 1].text.clone())
                        })
                        .flatten();
                    if let Some(v) = &var {
                        locals.insert(v.clone(), Deps { unrolled: false, runtime: true });
                    }
                    let body = close + 1;
                    let end = if toks.get(body).is_some_and(|x| x.text == "{") {
                        matching(&toks, body)
                    } else {
                        (body..b1).find(|&j| toks[j].text == ";").unwrap_or(b1)
                    };
                    scopes.push(Scope { kind: ScopeKind::Loop, end, var, unrolled: false, pipelined: false, calls: Vec::new() });
                    i = if toks.get(body).is_some_and(|x| x.text == "{") { body + 1 } else { body };
                    continue;
                }
                (Kind::Punct, "{") => {
                    let end = matching(&toks, i);
                    scopes.push(Scope { kind: ScopeKind::Block, end, var: None, unrolled: false, pipelined: false, calls: Vec::new() });
                    i += 1;
                    continue;
                }
                // A label: `name:` (not `::`).
                (Kind::Ident, _) if toks.get(i + 1).is_some_and(|x| x.text == ":") && !KEYWORDS.contains(&t.text.as_str()) => {
                    i += 2;
                    continue;
                }
                (Kind::Ident, "if") | (Kind::Ident, "else") => {
                    // The condition, then the body: a block of its own, with
                    // or without braces (calls in two branches never overlap).
                    let mut body = i + 1;
                    if t.text == "if" {
                        let close = matching(&toks, i + 1);
                        check_accesses(&toks[i + 1..=close], arrays, &locals, &scopes, &macros, &mut find);
                        body = close + 1;
                    }
                    let next = toks.get(body).map(|x| x.text.as_str());
                    if next != Some("{") && next != Some("if") {
                        let end = (body..b1).find(|&j| toks[j].text == ";").unwrap_or(b1);
                        // `if (c) call(..);` without an else is the classic
                        // conditional call meant to overlap its neighbours:
                        // it stays in their block for the bundle check.
                        let has_else = toks.get(end + 1).is_some_and(|x| x.text == "else");
                        if t.text == "else" || has_else {
                            scopes.push(Scope { kind: ScopeKind::Block, end, var: None, unrolled: false, pipelined: false, calls: Vec::new() });
                        }
                    }
                    i = body;
                    continue;
                }
                _ => {}
            }
            // A statement up to `;` or a block start.
            let end = (i..b1).find(|&j| (toks[j].text == ";" || toks[j].text == "{" || toks[j].text == "}") && toks[j].kind == Kind::Punct).unwrap_or(b1);
            let stmt = &toks[i..end];
            if let Some((names, _)) = declaration(&toks, i, b1) {
                for (n, rank, init) in names {
                    if rank == 0 {
                        let deps = init.map_or(Deps { unrolled: false, runtime: true }, |(a, b)| deps_of(&toks[a..b], &locals, &macros));
                        // A const local is its initializer; any other may
                        // change at run time: its initializer's deps and
                        // run time, and later assignments add theirs.
                        let is_const = stmt.iter().take_while(|x| x.text != n).any(|x| x.text == "const");
                        locals.insert(n, if is_const { deps } else { deps.or(Deps { unrolled: false, runtime: true }) });
                    }
                }
            }
            // `v = e`, `v op= e`: a local takes on e's deps too.
            if stmt.len() > 2 && stmt[0].kind == Kind::Ident && locals.contains_key(&stmt[0].text) && stmt[1].kind == Kind::Punct {
                let op = stmt[1].text.as_str();
                if op == "=" || (op.len() >= 2 && op.ends_with('=') && !matches!(op, "==" | "<=" | ">=" | "!=")) {
                    let d = deps_of(&stmt[2..], &locals, &macros);
                    let e = locals.get_mut(&stmt[0].text).unwrap();
                    *e = e.or(d);
                }
            }
            check_accesses(stmt, arrays, &locals, &scopes, &macros, &mut find);
            // helper-inline: a kernel function called in a pipelined loop
            // must say whether it is inlined (INLINE), or the loop calls a
            // sub-module each iteration.
            if scopes.iter().any(|s| s.pipelined) {
                for j in 0..stmt.len() {
                    if stmt[j].kind == Kind::Ident && fnames.contains(stmt[j].text.as_str()) && call_open(stmt, j).is_some() {
                        if let Some(g) = funcs.iter().find(|g| g.name == stmt[j].text) {
                            let inline = toks[g.body.0..g.body.1].iter().any(|x| x.kind == Kind::Pragma && pragma_parts(&x.text).0 == "INLINE");
                            if !inline {
                                find(Rule::HelperInline, stmt[j].line, format!("`{}` is called in a pipelined loop without an INLINE pragma", g.name));
                            }
                        }
                    }
                }
            }
            // Calls of kernel functions made by this statement.
            for j in 0..stmt.len() {
                if stmt[j].kind == Kind::Ident && fnames.contains(stmt[j].text.as_str()) {
                    if let Some(open) = call_open(stmt, j) {
                        let args: Vec<String> = split_commas(&stmt[open + 1..matching(stmt, open)])
                            .iter()
                            .map(|a| if a.len() == 1 { a[0].text.clone() } else { String::new() })
                            .collect();
                        scopes.last_mut().unwrap().calls.push((stmt[j].text.clone(), args, stmt[j].line));
                    }
                }
            }
            i = end + if end < b1 && toks[end].text == ";" { 1 } else { 0 };
            if end < b1 && toks[end].text == "}" {
                i = end + 1;
            }
        }
        while let Some(s) = scopes.pop() {
            shared_bundles(&f.name, &s.calls, &call_bundles, &mut find);
        }
    }
    findings.sort_by_key(|f| (f.line, f.rule));
    findings.dedup();
    findings
}

/// Index of the `(` of a call at `i` (skipping template arguments).
fn call_open(t: &[Tok], i: usize) -> Option<usize> {
    let mut j = i + 1;
    if t.get(j).is_some_and(|x| x.text == "<") {
        let mut depth = 0;
        while j < t.len() {
            match t[j].text.as_str() {
                "<" => depth += 1,
                ">" => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
            j += 1;
        }
        j += 1;
    }
    t.get(j).is_some_and(|x| x.text == "(").then_some(j)
}

/// A declaration at `i`: `[static] [const] TYPE[<...>] name[dims] [= init], ...;`.
/// Returns the names with their array ranks and initializer ranges, and
/// the index of the `;`.
#[allow(clippy::type_complexity)]
fn declaration(t: &[Tok], i: usize, limit: usize) -> Option<(Vec<(String, usize, Option<(usize, usize)>)>, usize)> {
    let mut j = i;
    while t.get(j).is_some_and(|x| x.text == "static" || x.text == "const") {
        j += 1;
    }
    let ty = t.get(j)?;
    if ty.kind != Kind::Ident || KEYWORDS.contains(&ty.text.as_str()) || matches!(ty.text.as_str(), "return" | "break" | "continue" | "goto") {
        return None;
    }
    j += 1;
    if t.get(j).is_some_and(|x| x.text == "<") {
        let mut depth = 0;
        while j < limit {
            match t[j].text.as_str() {
                "<" => depth += 1,
                ">" => depth -= 1,
                ">>" => depth -= 2,
                _ => {}
            }
            j += 1;
            if depth <= 0 {
                break;
            }
        }
    }
    while t.get(j).is_some_and(|x| x.text == "&" || x.text == "*") {
        j += 1;
    }
    let first = t.get(j)?;
    if first.kind != Kind::Ident || !t.get(j + 1).is_some_and(|x| matches!(x.text.as_str(), "[" | "=" | ";" | ",")) {
        return None;
    }
    let end = (j..limit).find(|&k| t[k].text == ";")?;
    let mut names = Vec::new();
    for part in split_commas(&t[j..end]) {
        let start = part.as_ptr() as usize;
        let base = t.as_ptr() as usize;
        let off = (start - base) / std::mem::size_of::<Tok>();
        let mut k = 0;
        while part.get(k).is_some_and(|x| x.text == "*" || x.text == "&") {
            k += 1;
        }
        let name = part.get(k)?.text.clone();
        let rank = part.iter().skip(k + 1).take_while(|x| x.text != "=").filter(|x| x.text == "[").count();
        let init = part.iter().position(|x| x.text == "=").map(|e| (off + e + 1, off + part.len()));
        names.push((name, rank, init));
    }
    Some((names, end))
}

/// What the identifiers of `e` depend on.
fn deps_of(e: &[Tok], locals: &HashMap<String, Deps>, m: &Macros) -> Deps {
    let mut d = Deps::default();
    for (k, t) in e.iter().enumerate() {
        if t.kind != Kind::Ident {
            continue;
        }
        // Member names after `.` or `->` belong to their object.
        if k > 0 && (e[k - 1].text == "." || e[k - 1].text == "->") {
            continue;
        }
        if m.values.contains_key(&t.text) || matches!(t.text.as_str(), "true" | "false" | "int" | "unsigned" | "bool") {
            continue;
        }
        // Casts to ap types: ap_int<..>(x) and the like.
        if t.text.starts_with("ap_") || t.text.ends_with("_t") && e.get(k + 1).is_some_and(|x| x.text == "(" || x.text == "<") {
            continue;
        }
        d = d.or(locals.get(&t.text).copied().unwrap_or(Deps { unrolled: false, runtime: true }));
    }
    d
}

/// static-banking on the array accesses of `stmt`.
fn check_accesses(
    stmt: &[Tok],
    arrays: &HashMap<String, Array>,
    locals: &HashMap<String, Deps>,
    scopes: &[Scope],
    m: &Macros,
    find: &mut dyn FnMut(Rule, usize, String),
) {
    if !scopes.iter().any(|s| s.unrolled) {
        return;
    }
    for j in 0..stmt.len() {
        let t = &stmt[j];
        if t.kind != Kind::Ident || !stmt.get(j + 1).is_some_and(|x| x.text == "[") || (j > 0 && (stmt[j - 1].text == "." || stmt[j - 1].text == "->")) {
            continue;
        }
        let Some(a) = arrays.get(&t.text) else { continue };
        if !a.any_partitioned() || a.registers() {
            continue;
        }
        // Subscripts.
        let mut subs = Vec::new();
        let mut k = j + 1;
        while stmt.get(k).is_some_and(|x| x.text == "[") {
            let close = matching(stmt, k);
            subs.push(&stmt[k + 1..close]);
            k = close + 1;
        }
        let deps: Vec<Deps> = subs.iter().map(|s| deps_of(s, locals, m)).collect();
        let banked: Vec<(usize, Deps)> = deps.iter().enumerate().filter(|(d, _)| a.partitioned.get(*d) == Some(&true)).map(|(d, x)| (d, *x)).collect();
        if banked.iter().any(|(_, x)| x.unrolled) {
            for (d, x) in &banked {
                if x.runtime {
                    let text: Vec<&str> = subs[*d].iter().map(|x| x.text.as_str()).collect();
                    find(
                        Rule::StaticBanking,
                        t.line,
                        format!(
                            "`{}`: partitioned dimension {} indexed by `{}`, a run-time value, while its unrolled copies access different banks: the bank must be fixed at compile time",
                            t.text,
                            d + 1,
                            text.join(" ")
                        ),
                    );
                }
            }
        }
    }
}

/// shared-bundle on the calls made directly in one block.
fn shared_bundles(
    caller: &str,
    calls: &[(String, Vec<String>, usize)],
    call_bundles: &dyn Fn(&str, &str, &[String]) -> BTreeSet<String>,
    find: &mut dyn FnMut(Rule, usize, String),
) {
    let mut seen: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (callee, args, line) in calls {
        for b in call_bundles(caller, callee, args) {
            if let Some((other, _)) = seen.get(&b) {
                find(
                    Rule::SharedBundle,
                    *line,
                    format!("{callee} and {other} are called in one block (the scheduler may overlap them) and both use m_axi bundle {b}"),
                );
            } else {
                seen.insert(b, (callee.clone(), *line));
            }
        }
    }
}

/// `cargo xtask hls-lint`: lint hls/xlic_layer.cpp; exit 1 on findings.
pub fn run() -> Result<i32> {
    let hls = crate::repo_root().join("hls");
    let read = |n: &str| std::fs::read_to_string(hls.join(n)).with_context(|| format!("cannot read hls/{n}"));
    let (src, header, config) = (read("xlic_layer.cpp")?, read("xlic_layer.h")?, read("xlic_config.h")?);
    let findings = lint(&src, &[&config, &header]);
    for f in &findings {
        println!("hls/xlic_layer.cpp:{}: [{}] {}", f.line, f.rule.name(), f.message);
    }
    println!("hls-lint: {} finding(s) in hls/xlic_layer.cpp", findings.len());
    Ok(if findings.is_empty() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "#define XLIC_LANES 8\n#define XLIC_POX 16\n#define XLIC_DEPTH (XLIC_POX * 4)\n";

    fn rules(src: &str) -> Vec<Rule> {
        lint(src, &[CONFIG]).into_iter().map(|f| f.rule).collect()
    }

    /// The kernel itself passes every rule.
    #[test]
    fn the_kernel_passes() {
        let hls = crate::repo_root().join("hls");
        let read = |n: &str| std::fs::read_to_string(hls.join(n)).unwrap();
        let findings = lint(&read("xlic_layer.cpp"), &[&read("xlic_config.h"), &read("xlic_layer.h")]);
        assert!(findings.is_empty(), "{findings:#?}");
    }

    /// `#if NAME` takes the macro's value: a configuration's UltraRAM
    /// switch picks its pragmas.
    #[test]
    fn conditions_read_macro_values() {
        let src = "#define USE_A 0\nvoid f(int *p) {\n static int a[64];\n#if USE_A\n#pragma HLS RESOURCE variable=a core=RAM_S2P_URAM\n#endif\n p[0] = a[1];\n}";
        assert_eq!(rules(src), [Rule::MemoryCore]);
        assert_eq!(rules(&src.replace("USE_A 0", "USE_A 1")), []);
    }

    #[test]
    fn sixty_four_bit_types_are_caught() {
        assert_eq!(rules("void f(int *p) { int64_t a = 0; long long b = 1; p[0] = a + b; }"), [Rule::Int64, Rule::Int64]);
        // C-simulation-only code is not synthesized.
        assert_eq!(rules("void f() {\n#ifndef __SYNTHESIS__\n int64_t a = 0;\n#endif\n}"), []);
        assert_eq!(rules("#define CHECK(c) ((void)0)\nvoid f(int x) { CHECK((long long)x < 5); }"), []);
    }

    #[test]
    fn run_time_division_is_caught() {
        assert_eq!(rules("int f(int a, int b) { return a / b; }"), [Rule::Division]);
        assert_eq!(rules("int f(int a, int b) { return a % (b + 1); }"), [Rule::Division]);
        assert_eq!(rules("int f(int a) { return a / XLIC_LANES + a % (XLIC_DEPTH - 1) + a / 4; }"), []);
    }

    #[test]
    fn pragmas_outside_their_loop_are_caught() {
        let src = "void f(int *a, int n) {\n#pragma HLS PIPELINE II=1\n for (int i = 0; i < n; i++) {\n a[i] = i;\n }\n}";
        assert_eq!(rules(src), [Rule::PragmaPlacement]);
        let src = "void f(int a[64], int b[64]) {\nl: for (int i = 1; i < 64; i++) {\n#pragma HLS PIPELINE II=1\n#pragma HLS DEPENDENCE variable=b inter false\n a[i] = a[i - 1] + 1;\n }\n}";
        assert_eq!(rules(src), [Rule::PragmaPlacement]);
        let src = "void f(int a[64]) {\nl: for (int i = 1; i < 64; i++) {\n#pragma HLS PIPELINE II=1\n#pragma HLS DEPENDENCE variable=a inter RAW distance=1 true\n a[i] = a[i - 1] + 1;\n }\n}";
        assert_eq!(rules(src), []);
    }

    #[test]
    fn partitions_of_unknown_arrays_or_dimensions_are_caught() {
        let src = "void f() {\n int buf[4][8];\n#pragma HLS ARRAY_PARTITION variable=buff complete dim=1\n#pragma HLS ARRAY_PARTITION variable=buf complete dim=3\n#pragma HLS ARRAY_PARTITION variable=buf cyclic factor=2 dim=2\n buf[0][0] = 1;\n}";
        assert_eq!(rules(src), [Rule::PartitionTarget, Rule::PartitionTarget]);
    }

    /// A run-time offset on the banked dimension of an unrolled access:
    /// the kernel's old `ibuf[..][b + u + t.ex]`.
    #[test]
    fn run_time_banks_in_unrolled_accesses_are_caught() {
        let bad = "int f(int off) {\n int buf[XLIC_DEPTH][XLIC_POX];\n#pragma HLS ARRAY_PARTITION variable=buf complete dim=2\n int s = 0;\nrows: for (int i = 0; i < XLIC_DEPTH; i++) {\n#pragma HLS PIPELINE II=1\n  for (int u = 0; u < XLIC_POX; u++) {\n#pragma HLS UNROLL\n   s += buf[i][(u + off) & 15];\n  }\n }\n return s;\n}";
        assert_eq!(rules(bad), [Rule::StaticBanking]);
        // The fix: the bank is the unrolled variable, the offset goes into
        // the address inside the bank, a register array rotates.
        let good = "int f(int off) {\n int buf[XLIC_DEPTH][XLIC_POX];\n#pragma HLS ARRAY_PARTITION variable=buf complete dim=2\n int s = 0;\nrows: for (int i = 0; i < XLIC_DEPTH; i++) {\n#pragma HLS PIPELINE II=1\n  int raw[XLIC_POX];\n#pragma HLS ARRAY_PARTITION variable=raw complete dim=0\n  for (int k = 0; k < XLIC_POX; k++) {\n#pragma HLS UNROLL\n   raw[k] = buf[(i + off) & 63][k];\n  }\n  for (int u = 0; u < XLIC_POX; u++) {\n#pragma HLS UNROLL\n   const int k = (u + off) & 15;\n   s += raw[k];\n  }\n }\n return s;\n}";
        assert_eq!(rules(good), []);
        // Partitioning follows the array into a function it is passed to.
        let passed = "static int g(int b[XLIC_DEPTH][XLIC_POX], int off) {\n int s = 0;\n for (int u = 0; u < XLIC_POX; u++) {\n#pragma HLS UNROLL\n  s += b[0][u + off];\n }\n return s;\n}\nint f(int off) {\n int buf[XLIC_DEPTH][XLIC_POX];\n#pragma HLS ARRAY_PARTITION variable=buf cyclic factor=4 dim=2\n return g(buf, off);\n}";
        assert_eq!(rules(passed), [Rule::StaticBanking]);
    }

    /// review11 #13: a non-const local carries what it was computed from.
    #[test]
    fn non_const_locals_carry_their_dependencies() {
        let bad = "int f(int wi) {\n int buf[XLIC_DEPTH][XLIC_POX];\n#pragma HLS ARRAY_PARTITION variable=buf complete dim=2\n int s = 0;\n for (int co = 0; co < XLIC_POX; co++) {\n#pragma HLS UNROLL\n  int cc = (co + wi) & 15;\n  s += buf[wi][cc];\n }\n return s;\n}";
        assert_eq!(rules(bad), [Rule::StaticBanking]);
        // ... and what it is assigned later.
        let later = "int f(int wi) {\n int buf[XLIC_DEPTH][XLIC_POX];\n#pragma HLS ARRAY_PARTITION variable=buf complete dim=2\n int s = 0;\n for (int co = 0; co < XLIC_POX; co++) {\n#pragma HLS UNROLL\n  int cc = co;\n  cc += wi;\n  s += buf[wi][cc & 15];\n }\n return s;\n}";
        assert_eq!(rules(later), [Rule::StaticBanking]);
    }

    #[test]
    fn two_write_sites_of_one_stream_are_caught() {
        let bad = "void f(hls::stream<int> &s0, hls::stream<int> &s1, int n) {\n for (int i = 0; i < n; i++) {\n#pragma HLS PIPELINE II=1\n  if (i & 1) s1.write(i);\n  else s0.write(i);\n  if (n > 3) s0.write(i + 1);\n }\n}";
        assert_eq!(rules(bad), [Rule::StreamWrites]);
        let good = "void f(hls::stream<int> &s0, hls::stream<int> &s1, int n) {\n for (int i = 0; i < n; i++) {\n#pragma HLS PIPELINE II=1\n  const int a = (i & 1) ? i + 1 : i;\n  s0.write(a);\n  s1.write(i);\n }\n}";
        assert_eq!(rules(good), []);
    }

    #[test]
    fn memories_without_a_core_are_caught() {
        let bad = "void f(int *p) {\n static int a[512][4];\n#pragma HLS ARRAY_PARTITION variable=a complete dim=2\n static int b[512];\n#pragma HLS RESOURCE variable=b core=RAM_S2P_BRAM\n p[0] = a[1][0] + b[2];\n}";
        assert_eq!(rules(bad), [Rule::MemoryCore]);
    }

    #[test]
    fn helpers_in_pipelined_loops_without_inline_are_caught() {
        let src = "static int g(int x) { return x + 1; }\nstatic int h(int x) {\n#pragma HLS INLINE\n return x + 2;\n}\nvoid f(int *p, int n) {\n for (int i = 0; i < n; i++) {\n#pragma HLS PIPELINE II=1\n  p[i] = g(i) + h(i);\n }\n}";
        assert_eq!(rules(src), [Rule::HelperInline]);
    }

    #[test]
    fn m_axi_ports_without_burst_settings_are_caught() {
        let src = "void top(int *a) {\n#pragma HLS INTERFACE m_axi port=a offset=slave bundle=gm max_read_burst_length=64\n a[0] = 1;\n}";
        let r = rules(src);
        assert_eq!(r.len(), 3, "{r:?}");
        assert!(r.iter().all(|&x| x == Rule::AxiSettings));
    }

    /// Two calls the scheduler may overlap, on one bundle: the kernel's old
    /// `compute_step` and `load_step` on `gmem_w`.
    #[test]
    fn two_concurrent_users_of_one_bundle_are_caught() {
        let head = "static void rd(const int *p, int b[64]) {\n for (int i = 0; i < 64; i++) {\n#pragma HLS PIPELINE II=1\n b[i] = p[i];\n }\n}\n";
        let axi = "#pragma HLS INTERFACE m_axi port=w offset=slave bundle=gm_w num_read_outstanding=4 max_read_burst_length=64 num_write_outstanding=1 max_write_burst_length=2\n#pragma HLS INTERFACE m_axi port=v offset=slave bundle=gm_v num_read_outstanding=4 max_read_burst_length=64 num_write_outstanding=1 max_write_burst_length=2\n";
        let bad = format!("{head}void top(const int *w, const int *v) {{\n{axi} int a[64], b[64];\n rd(w, a);\n rd(w, b);\n}}");
        assert_eq!(rules(&bad), [Rule::SharedBundle]);
        let good = format!("{head}void top(const int *w, const int *v) {{\n{axi} int a[64], b[64];\n rd(w, a);\n rd(v, b);\n}}");
        assert_eq!(rules(&good), []);
        // A conditional call beside another is still meant to overlap it
        // (the kernel's old `if (more) load_step(..)`).
        let cond = format!("{head}void top(const int *w, const int *v, int s) {{\n{axi} int a[64], b[64];\n rd(w, a);\n if (s) rd(w, b);\n}}");
        assert_eq!(rules(&cond), [Rule::SharedBundle]);
        // Calls in different blocks (branches) never overlap.
        let branches = format!("{head}void top(const int *w, const int *v, int s) {{\n{axi} int a[64];\n if (s) {{\n rd(w, a);\n }} else {{\n rd(w, a);\n }}\n}}");
        assert_eq!(rules(&branches), []);
    }
}
