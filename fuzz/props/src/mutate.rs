//! Deterministic generated inputs: a byte-level mutator of corpus entries and the loop
//! that runs a property on its output for a bounded amount of work ([`Budget`]).
//!
//! The randomness is a [`ChaCha8Rng`] seeded with [`SeedableRng::seed_from_u64`] and
//! one stream per target, so a given (seed, target, budget in iterations) always runs
//! the same inputs on every platform.

use crate::Check;
use rand::rngs::ChaCha8Rng;
use rand::{Rng, RngExt, SeedableRng};
use std::time::{Duration, Instant};

/// Tokens the mutator inserts: separators, numbers and keywords of the formats under test.
#[rustfmt::skip]
const TOKENS: &[&[u8]] = &[
    b"\n", b"\0", b",", b"-", b":", b"\"", b"'", b"(", b")", b"{", b"}", b"0", b"1", b"-1",
    b"nan", b"NaN", b"inf", b"-inf", b"1e308", b"-1e308", b"1e-320", b"18446744073709551615",
    b"4294967296", b"65536", b"gelu", b"tanh", b"relu", b"silu", b"identity", b"y", b"x",
    b"in_gap_1p5_3", b"sample", b"list", b"dims", b"rla", b"laplace", b"--arch", b"--t1",
    b"--atol", b"--seed", b"--samples", b"--help", b"--version", b"--precision", b"hessian",
    b"--integrator", b"--resume", b"'descr'", b"'<f8'", b"'>f4'", b"'fortran_order'", b"True",
    b"False", b"'shape'", b"\x93NUMPY", b"\"dtype\"", b"\"F64\"", b"\"F32\"", b"\"I64\"",
    b"\"shape\"", b"\"data_offsets\"", b"\"__metadata__\"", b"0.weight", b"0.bias", b"2.weight",
    b"2.bias",
];

/// The largest generated input, in bytes.
pub const MAX_LEN: usize = 1 << 14;

/// Writes into `out` a mutation of a random corpus entry (or of nothing): one to four
/// byte flips, overwrites, insertions, deletions, duplications, token insertions,
/// little-endian integer tweaks or splices with another entry.
pub fn mutate<R: Rng + ?Sized>(rng: &mut R, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    if !corpus.is_empty() && rng.random_range(0..16) != 0 {
        out.extend_from_slice(&corpus[rng.random_range(0..corpus.len())]);
    }
    for _ in 0..1 + rng.random_range(0..4) {
        let len = out.len();
        match rng.random_range(0..9) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] ^= 1u8 << rng.random_range(0..8u32);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                out[i] = rng.random::<u8>();
            }
            2 => {
                let i = rng.random_range(0..len + 1);
                out.insert(i, rng.random::<u8>());
            }
            3 if len > 0 => {
                let i = rng.random_range(0..len);
                let k = 1 + rng.random_range(0..(len - i).min(16));
                out.drain(i..i + k);
            }
            4 if len > 0 => {
                let i = rng.random_range(0..len);
                let k = 1 + rng.random_range(0..(len - i).min(64));
                let chunk = out[i..i + k].to_vec();
                let j = rng.random_range(0..len + 1);
                out.splice(j..j, chunk);
            }
            5 | 6 => {
                let tok = TOKENS[rng.random_range(0..TOKENS.len())];
                let i = rng.random_range(0..len + 1);
                out.splice(i..i, tok.iter().copied());
            }
            7 if len >= 8 => {
                // Treat 8 bytes as a little-endian integer and nudge or replace it
                // (safetensors header lengths, offsets, raw f64 bit patterns).
                let i = rng.random_range(0..len - 7);
                let mut w = [0u8; 8];
                w.copy_from_slice(&out[i..i + 8]);
                let v = u64::from_le_bytes(w);
                let v = match rng.random_range(0..4) {
                    0 => v.wrapping_add(rng.random_range(1..=16u64)),
                    1 => v.wrapping_sub(rng.random_range(1..=16u64)),
                    2 => [
                        0,
                        u64::MAX,
                        u32::MAX as u64,
                        1 << 40,
                        f64::NAN.to_bits(),
                        f64::INFINITY.to_bits(),
                        1e300f64.to_bits(),
                    ][rng.random_range(0..7)],
                    _ => rng.random::<u64>(),
                };
                out[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            8 if !corpus.is_empty() => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                let i = rng.random_range(0..len + 1);
                let j = rng.random_range(0..other.len() + 1);
                out.truncate(i);
                out.extend_from_slice(&other[j..]);
            }
            _ => {
                let n = 1 + rng.random_range(0..8);
                out.extend((0..n).map(|_| rng.random::<u8>()));
            }
        }
    }
    out.truncate(MAX_LEN);
}

/// How much generated work [`run_generated`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// Exactly this many generated inputs (fewer only when one panics): the same inputs
    /// on every run and machine. The corpus test uses this.
    Iterations(usize),
    /// As many generated inputs as fit in this wall-clock time (at least one): a smoke
    /// run whose inputs depend on the machine's speed. `cargo xtask fuzz --fallback`
    /// uses this.
    Time(Duration),
}

/// The outcome of [`run_generated`].
#[derive(Debug, Clone, Default)]
pub struct GeneratedRun {
    /// Inputs executed.
    pub executions: usize,
    /// The slowest single execution.
    pub slowest: Duration,
    /// A panicking input and its panic message, if one was found (the run stops at the
    /// first).
    pub crash: Option<(Vec<u8>, String)>,
}

/// The random generator of target number `stream` under `seed`: ChaCha8 seeded by
/// `seed`, on its own stream, so the targets' inputs are independent.
pub fn generator(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// Runs `check` on [`mutate`]d entries of `corpus`, drawn from `rng`, until `budget` is
/// spent or an input panics. Panics are caught (the panic hook still prints the message)
/// and returned with the input.
pub fn run_generated<R: Rng + ?Sized>(check: Check, corpus: &[Vec<u8>], rng: &mut R, budget: Budget) -> GeneratedRun {
    let mut input = Vec::new();
    let mut run = GeneratedRun::default();
    let start = Instant::now();
    loop {
        let more = match budget {
            Budget::Iterations(n) => run.executions < n,
            Budget::Time(t) => run.executions == 0 || start.elapsed() < t,
        };
        if !more {
            break;
        }
        mutate(rng, corpus, &mut input);
        let t = Instant::now();
        let res = std::panic::catch_unwind(|| check(&input));
        run.slowest = run.slowest.max(t.elapsed());
        run.executions += 1;
        if let Err(p) = res {
            run.crash = Some((input, panic_message(p.as_ref())));
            break;
        }
    }
    run
}

/// The text of a caught panic's payload (`"non-string panic"` for other payloads).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &[u8]) {}

    fn short_only(data: &[u8]) {
        assert!(data.len() < 3, "long input");
    }

    #[test]
    fn an_iteration_budget_runs_exactly_that_many_inputs() {
        let run = run_generated(never, &[b"abc".to_vec()], &mut generator(1, 0), Budget::Iterations(37));
        assert_eq!(run.executions, 37);
        assert!(run.crash.is_none());
    }

    #[test]
    fn a_panicking_input_is_returned_and_stops_the_run() {
        let run = run_generated(short_only, &[b"ab".to_vec()], &mut generator(1, 0), Budget::Iterations(10_000));
        let (input, msg) = run.crash.expect("some mutation is long");
        assert!(input.len() >= 3);
        assert_eq!(msg, "long input");
        assert!(run.executions < 10_000);
    }

    #[test]
    fn mutations_stay_within_max_len() {
        let mut rng = generator(7, 3);
        let corpus = vec![vec![0u8; MAX_LEN]];
        let mut out = Vec::new();
        for _ in 0..200 {
            mutate(&mut rng, &corpus, &mut out);
            assert!(out.len() <= MAX_LEN);
        }
    }
}
