//! One module per subcommand; each parses nothing itself beyond its clap `Args`.

pub mod algos;
pub mod data;
pub mod demo;
pub mod devices;
pub mod eval;
pub mod init_model;
pub mod plan;
pub mod plot;
pub mod score;
pub mod train;

/// The device a command runs on (`device` key or `--device`), announced on stderr when it is a
/// GPU backend's: which adapter a run uses is the first thing to check on a machine with several.
pub fn open_device(name: &str) -> anyhow::Result<burn::prelude::Device> {
    let selected = prefzoo::device::open(name)?;
    if !selected.is_cpu() {
        eprintln!("device: {} = {}", selected.name, selected.description);
    }
    Ok(selected.device)
}
