//! `diag`: print the bring-up checks (crate::diag) and the last SD
//! initialisation's steps.
use super::{Outcome, State};
use crate::diag::{self, Inputs, Verdict};
use crate::{print, println};

pub fn run(state: &State, force_probe: bool) -> Outcome {
    let inputs = Inputs { card: state.card.as_ref().map(|s| s.card), force_probe };
    println!("bring-up checks (ok; WRONG: what is wrong and what to do; ?: could not be read)");
    let mut wrong = 0;
    diag::run(&inputs, |c| {
        if c.verdict == Verdict::Wrong {
            wrong += 1;
        }
        println!("  {:<5} {:<15} {}", c.verdict.tag(), c.name, c.text);
    });
    println!("last SD initialisation (time since its first step):");
    let mut out = crate::bsp::zcu102::console_uart();
    diag::write_sd_trace(&mut out, "    ");
    match wrong {
        0 => println!("diag: nothing wrong found"),
        n => print!("diag: {n} item{} WRONG\n", if n == 1 { "" } else { "s" }),
    }
    Ok(())
}
