//! One module per subcommand; each parses nothing itself beyond its clap `Args`.

pub mod algos;
pub mod data;
pub mod demo;
pub mod eval;
pub mod init_model;
pub mod plan;
pub mod plot;
pub mod score;
pub mod train;
