//! Test support shared by the tests and examples of the geodyn workspace (a
//! dev-dependency only, never published).
//!
//! - [`rng`]: the one seeded random-number helper of the tests (ChaCha8, portable and
//!   stable across platforms and `rand` releases, plus `rand_distr` normals);
//! - [`objectives`], [`embeddings`], [`lagrangians`]: test models with hand-derived
//!   derivatives (no autodiff), so the library is checked against formulas, not itself;
//! - [`closed_form`]: problems whose solutions are known in closed form, and those
//!   solutions;
//! - [`stiff`]: the stiff DiMS problem of the DiMS paper's experiments and the checks of
//!   its Theorem 2 that every structure-preserving integrator is held to;
//! - [`alloc`]: the heap-allocation counter of the allocation tests;
//! - [`numerics`]: small reference routines (dense solve, error norms, quadrature,
//!   fitted orders of convergence).
#![deny(missing_docs)]

pub mod alloc;
pub mod closed_form;
pub mod embeddings;
pub mod lagrangians;
pub mod numerics;
pub mod objectives;
pub mod rng;
pub mod stiff;
