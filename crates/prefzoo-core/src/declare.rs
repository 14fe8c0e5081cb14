//! The two macros a loss crate is written with: [`loss_config!`](crate::loss_config) declares
//! the `[loss]` table once — each key's type, default, valid range, trl alias and doc comment,
//! from which the struct, its `Default`, the documented parameter list of `prefzoo algos` and
//! the range checks are all generated — and [`register_loss!`](crate::register_loss) names
//! the loss once and submits it to the registry.
//!
//! ```ignore
//! prefzoo_core::loss_config! {
//!     /// `[loss]` table of `algo = "ipo"`; the table is the loss (it has no state).
//!     pub struct Ipo {
//!         /// β (the paper's τ): the target margin of the averaged log-ratio is 1/(2β).
//!         beta: f64 = 0.1, in POSITIVE;
//!     }
//! }
//! impl PreferenceLoss for Ipo { fn compute(&mut self, x: &LossInputs, _: Phase) -> LossOutput { … } }
//! prefzoo_core::register_loss! {
//!     name: "ipo", summary: "…", paper: "…", reference: "…", config: Ipo,
//! }
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::LossError;
use crate::loss::PreferenceLoss;
use crate::registry::{BuildContext, ParamDoc};

/// A loss's `[loss]` table, as [`loss_config!`](crate::loss_config) generates it.
pub trait LossConfig: Default + Serialize + DeserializeOwned + 'static {
    /// Every key, with its doc comment and trl alias.
    const PARAMS: &'static [ParamDoc];

    /// Checks every key that declared a range (`in RANGE`).
    ///
    /// # Errors
    /// The first key whose value lies outside its range.
    fn check_ranges(&self, algo: &str) -> Result<(), LossError>;
}

/// The defaults of `C` as the table a user would write (`prefzoo algos`).
pub fn defaults_of<C: LossConfig>() -> serde_json::Value {
    serde_json::to_value(C::default()).expect("a loss config serialises to JSON")
}

/// Parses `table` into `C` (unknown keys get the nearest valid one), checks its ranges and
/// builds the loss with `make`.
///
/// # Errors
/// An unknown key, a value of the wrong type or out of range, or whatever `make` rejects.
pub fn build_from<C: LossConfig, L: PreferenceLoss + 'static>(
    algo: &str,
    table: &serde_json::Value,
    ctx: &BuildContext,
    make: impl FnOnce(C, &BuildContext) -> Result<L, LossError>,
) -> Result<Box<dyn PreferenceLoss>, LossError> {
    let cfg: C = crate::config::parse_loss_config(algo, table, C::PARAMS)?;
    cfg.check_ranges(algo)?;
    Ok(Box::new(make(cfg, ctx)?))
}

/// Declares a loss's `[loss]` table: one line per key, `name: type = default` followed by
/// `, in RANGE` (any Rust range over `f64`, or [`POSITIVE`](crate::POSITIVE) /
/// [`open`](crate::open)) and `, alias "trl_name"` where they apply, each under its doc
/// comment. Generates the struct (`Debug, Clone, PartialEq`, serde with unknown keys denied
/// and every key defaulted), `Default`, and [`LossConfig`] (the documented parameters and the
/// range checks). The doc comment is what `prefzoo algos` prints for the key.
#[macro_export]
macro_rules! loss_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[doc = $doc:literal])+
                $field:ident : $ty:ty = $default:expr
                $(, in $range:expr)?
                $(, alias $alias:literal)?
                ;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, $crate::serde::Serialize, $crate::serde::Deserialize)]
        #[serde(crate = "prefzoo_core::serde", deny_unknown_fields, default)]
        pub struct $name {
            $(
                $(#[doc = $doc])+
                pub $field: $ty,
            )*
        }

        impl ::core::default::Default for $name {
            fn default() -> Self {
                Self { $($field: $default,)* }
            }
        }

        impl $crate::LossConfig for $name {
            const PARAMS: &'static [$crate::ParamDoc] = &[
                $(
                    $crate::ParamDoc {
                        name: stringify!($field),
                        doc: concat!($($doc),+),
                        alias: $crate::__alias!($($alias)?),
                    },
                )*
            ];

            #[allow(unused_variables)]
            fn check_ranges(&self, algo: &str) -> ::core::result::Result<(), $crate::LossError> {
                $($(
                    $crate::check_in(algo, stringify!($field), &self.$field, $range)?;
                )?)*
                Ok(())
            }
        }
    };
}

/// `Some(alias)` or `None` (used by [`loss_config!`](crate::loss_config)).
#[doc(hidden)]
#[macro_export]
macro_rules! __alias {
    () => {
        None
    };
    ($alias:literal) => {
        Some($alias)
    };
}

/// Registers a loss under `name` (the value of `algo`). `config` is its
/// [`loss_config!`](crate::loss_config) table; `build` (optional) turns the checked table
/// into the loss — `|cfg, ctx| Ok(MyLoss::new(cfg))` — and without it the table is the loss
/// (stateless losses implement [`PreferenceLoss`](crate::PreferenceLoss) on it directly).
/// `reference` names the implementation the loss is pinned to. `reports` (optional, default
/// [`Reports::NONE`](crate::registry::Reports::NONE)) declares what its runs report beyond
/// every loss's metrics: a moving β, pair classes, the loss it refines.
///
/// A binary must still name the crate (`extern crate prefzoo_loss_x as _;`) or rustc drops it
/// with its registration; the registry snapshot test catches that.
#[macro_export]
macro_rules! register_loss {
    (
        name: $name:literal,
        summary: $summary:literal,
        paper: $paper:literal,
        reference: $reference:literal,
        config: $cfg:ty
        $(, build: $build:expr)?
        $(, reports: $reports:expr)?
        $(,)?
    ) => {
        $crate::inventory::submit! {
            $crate::LossPlugin {
                name: $name,
                summary: $summary,
                paper: $paper,
                reference: $reference,
                params: <$cfg as $crate::LossConfig>::PARAMS,
                defaults: $crate::declare::defaults_of::<$cfg>,
                build: |table, ctx| {
                    $crate::declare::build_from::<$cfg, _>(
                        $name,
                        table,
                        ctx,
                        $crate::__build_fn!($cfg $(, $build)?),
                    )
                },
                reports: $crate::__reports!($($reports)?),
            }
        }
    };
}

/// The `build` of [`register_loss!`](crate::register_loss), or "the table is the loss".
#[doc(hidden)]
#[macro_export]
macro_rules! __build_fn {
    ($cfg:ty) => {
        |cfg: $cfg, _: &$crate::BuildContext| -> ::core::result::Result<$cfg, $crate::LossError> {
            Ok(cfg)
        }
    };
    ($cfg:ty, $build:expr) => {
        $build
    };
}

/// The `reports` of [`register_loss!`](crate::register_loss), or nothing beyond the common
/// metrics.
#[doc(hidden)]
#[macro_export]
macro_rules! __reports {
    () => {
        $crate::registry::Reports::NONE
    };
    ($reports:expr) => {
        $reports
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{LossInputs, LossOutput, Phase};
    use crate::{POSITIVE, open_closed};

    crate::loss_config! {
        /// A table with every kind of key.
        pub struct Sample {
            /// β, the
            /// scale.
            beta: f64 = 0.1, in POSITIVE;
            /// α in (0, 1].
            alpha: f64 = 1.0, in open_closed(0.0, 1.0), alias "mixup_alpha";
            /// γ, unset by default.
            gamma: Option<f64> = None, in 0.0..;
            /// τ ≥ 1 steps.
            tau: u64 = 4, in 1.0..;
            /// No range.
            name: String = "x".to_owned();
        }
    }

    impl PreferenceLoss for Sample {
        fn compute(&mut self, _: &LossInputs, _: Phase) -> LossOutput {
            unreachable!("only built here")
        }
    }

    #[test]
    fn one_declaration_gives_docs_defaults_and_ranges() {
        let names: Vec<&str> = Sample::PARAMS.iter().map(|p| p.name).collect();
        assert_eq!(names, ["beta", "alpha", "gamma", "tau", "name"]);
        assert_eq!(Sample::PARAMS[0].text(), "β, the scale.");
        assert_eq!(Sample::PARAMS[1].alias, Some("mixup_alpha"));
        assert_eq!(Sample::PARAMS[0].alias, None);
        let d = Sample::default();
        assert_eq!((d.beta, d.alpha, d.gamma, d.tau), (0.1, 1.0, None, 4));
        assert!(d.check_ranges("s").is_ok());
        let bad = |s: Sample| s.check_ranges("s").unwrap_err().to_string();
        let e = bad(Sample {
            alpha: 0.0,
            ..d.clone()
        });
        assert!(e.contains("`alpha` = 0 is outside (0, 1]"), "{e}");
        let e = bad(Sample {
            gamma: Some(-1.0),
            ..d.clone()
        });
        assert!(e.contains("`gamma` = -1 is outside [0, ∞)"), "{e}");
        let e = bad(Sample {
            tau: 0,
            ..d.clone()
        });
        assert!(e.contains("`tau` = 0"), "{e}");
        assert_eq!(defaults_of::<Sample>()["name"], "x");
    }

    #[test]
    fn build_from_parses_aliases_and_rejects_what_is_wrong() {
        let ctx = BuildContext::default();
        let ok = serde_json::json!({"mixup_alpha": 0.5, "tau": 2});
        let keep = |s: Sample, _: &BuildContext| -> Result<Sample, LossError> {
            assert_eq!((s.alpha, s.tau), (0.5, 2));
            Ok(s)
        };
        assert!(build_from::<Sample, _>("s", &ok, &ctx, keep).is_ok());
        let make = |s: Sample, _: &BuildContext| -> Result<Sample, LossError> { Ok(s) };
        let e = build_from::<Sample, _>("s", &serde_json::json!({"bta": 1.0}), &ctx, make)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown key `bta`, did you mean `beta`?"), "{e}");
        let e = build_from::<Sample, _>("s", &serde_json::json!({"beta": 0.0}), &ctx, make)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("`beta` = 0 is outside (0, ∞)"), "{e}");
        let refuse = |_: Sample, _: &BuildContext| -> Result<Sample, LossError> {
            Err(LossError::BadValue {
                algo: "s".to_owned(),
                reason: "refused".to_owned(),
            })
        };
        let e = build_from::<Sample, _>("s", &serde_json::Value::Null, &ctx, refuse)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("refused"), "{e}");
    }
}
