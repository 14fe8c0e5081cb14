//! prefzoo: preference optimisation (DPO, ε-DPO, β-DPO, TR-DPO, IPO, SimPO, …) on Burn.
//!
//! This facade links every loss plugin of the workspace (rustc drops a crate that nothing
//! names, and its `inventory` registration with it) and re-exports the pieces a program that
//! trains from code needs, and the reading of config files and the environment ([`config`]) and
//! device selection ([`device`]) that the CLI and the tests share. The CLI in `main.rs` is a
//! thin layer over it and over prefzoo-study (`prefzoo demo`, `prefzoo eval`).

// One line per loss plugin: a new loss is a new crate plus one line here (and one in the
// root Cargo.toml's [dependencies]).
extern crate prefzoo_loss_aot as _;
extern crate prefzoo_loss_aot_pair as _;
extern crate prefzoo_loss_apo_down as _;
extern crate prefzoo_loss_apo_zero as _;
extern crate prefzoo_loss_bco_pair as _;
extern crate prefzoo_loss_beta_dpo as _;
extern crate prefzoo_loss_cpo as _;
extern crate prefzoo_loss_discopop as _;
extern crate prefzoo_loss_dpo as _;
extern crate prefzoo_loss_edpo as _;
extern crate prefzoo_loss_exo_pair as _;
extern crate prefzoo_loss_hinge as _;
extern crate prefzoo_loss_ipo as _;
extern crate prefzoo_loss_nca_pair as _;
extern crate prefzoo_loss_orpo as _;
extern crate prefzoo_loss_r_dpo as _;
extern crate prefzoo_loss_robust as _;
extern crate prefzoo_loss_rrhf as _;
extern crate prefzoo_loss_simpo as _;
extern crate prefzoo_loss_slic_hf as _;
extern crate prefzoo_loss_sppo_hard as _;
extern crate prefzoo_loss_tr_dpo as _;

pub mod config;
pub mod device;

pub use prefzoo_core as core;
pub use prefzoo_core::registry;

/// Every registered loss name, sorted (the same list `prefzoo algos` prints).
pub fn algo_names() -> Vec<&'static str> {
    registry::names()
}
